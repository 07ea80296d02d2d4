"""The one interface every generator backend implements.

Stages only ever see this: latent size, resolution, seeded latent and class sampling, and
`G(z, classes)` returning images in [-1, 1]. For class-conditional models the class is drawn once
per sample and kept fixed while z is shifted, as in the paper.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Generator(nn.Module):
    """A frozen image generator. Subclasses set `latent_dim`, `resolution` and implement `synthesize`."""

    name: str = "generator"
    latent_dim: int
    resolution: int
    n_classes: int = 0  # 0 for unconditional models

    def __init__(self, classes: Sequence[int] | None = None) -> None:
        super().__init__()
        self.classes = list(classes) if classes else None

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) on the CPU generator given (seeded), moved to the model's device."""
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def sample_classes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        if not self.n_classes:
            return None
        if self.classes:
            pool = torch.tensor(self.classes, dtype=torch.long)
            return pool[torch.randint(len(pool), (n,), generator=generator)].to(self.device)
        return torch.randint(self.n_classes, (n,), generator=generator).to(self.device)

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and classes is None:
            raise ValueError(f"{self.name} is class-conditional: pass the classes sampled with the latents")
        return self.synthesize(z, classes)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def freeze(self) -> "Generator":
        """Eval mode (stored BN/SN statistics) and no parameter gradients: G is never trained here."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self
