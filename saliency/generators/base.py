"""The one interface every generator backend implements.

Stages only ever see this: latent size, resolution, seeded latent and class sampling, and
`G(z, classes)` returning images in [-1, 1]. For class-conditional models the class is drawn once
per sample and kept fixed while z is shifted, as in the paper.

A generator with an intermediate latent space (StyleGAN's W) also has `w_dim`,
`mapping(z, classes) -> w` and `synthesize_w(w, classes) -> images`; `WSpace(G)` is then the
same generator seen from W, so every stage (discover, select, synth) shifts w instead of z.
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


class WSpace(Generator):
    """`G` seen from its intermediate latent space: latents are w = G.mapping(z) of seeded z, and
    a shifted latent is drawn by G.synthesize_w, so directions live in W (GANSpace, SeFa and
    Melas-Kyriazi et al. shift there)."""

    def __init__(self, G: Generator) -> None:
        if not all(hasattr(G, a) for a in ("w_dim", "mapping", "synthesize_w")):
            raise ValueError(f"{G.name} has no W space (it needs w_dim, mapping and synthesize_w)")
        super().__init__(G.classes)
        self.G = G
        self.latent_dim, self.resolution, self.n_classes = G.w_dim, G.resolution, G.n_classes
        self.name = f"{G.name}@w"

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.G.mapping(self.G.sample_latents(n, generator))

    def sample_classes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        return self.G.sample_classes(n, generator)

    def synthesize(self, w: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.G.synthesize_w(w, classes)
