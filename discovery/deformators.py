"""Deformators: K learnable directions in a d-dimensional latent space.

Each maps (k, eps) to the latent shift eps * D[k], where D = `directions()` is K x d:
- `linear`: D free, initialised to the first K axes (the paper's identity start);
- `ortho`: D = rows of expm(S - S^T), always orthonormal (the paper's choice for BigGAN);
- `proj`: D free, each row rescaled to unit length, so eps is the shift's length.
"""

from __future__ import annotations

import torch
from torch import nn


class Deformator(nn.Module):
    def __init__(self, latent_dim: int, num_directions: int) -> None:
        super().__init__()
        self.latent_dim, self.num_directions = latent_dim, num_directions

    def directions(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return eps[:, None] * self.directions()[k]


def _first_axes(k: int, d: int) -> torch.Tensor:
    m = torch.zeros(k, d)
    idx = torch.arange(min(k, d))
    m[idx, idx] = 1.0
    if k > d:  # more directions than dimensions: the rest start small and random
        m[d:] = torch.randn(k - d, d) * 0.1
    return m


class LinearDeformator(Deformator):
    def __init__(self, latent_dim: int, num_directions: int) -> None:
        super().__init__(latent_dim, num_directions)
        self.weight = nn.Parameter(_first_axes(num_directions, latent_dim))

    def directions(self) -> torch.Tensor:
        return self.weight


class OrthoDeformator(Deformator):
    def __init__(self, latent_dim: int, num_directions: int) -> None:
        if num_directions > latent_dim:
            raise ValueError(f"ortho deformator: {num_directions} directions exceed latent size {latent_dim}")
        super().__init__(latent_dim, num_directions)
        self.log_half = nn.Parameter(torch.zeros(latent_dim, latent_dim))

    def directions(self) -> torch.Tensor:
        rotation = torch.linalg.matrix_exp(self.log_half - self.log_half.T)
        return rotation[: self.num_directions]


class ProjectiveDeformator(Deformator):
    def __init__(self, latent_dim: int, num_directions: int) -> None:
        super().__init__(latent_dim, num_directions)
        self.weight = nn.Parameter(_first_axes(num_directions, latent_dim) + 0.01 * torch.randn(num_directions, latent_dim))

    def directions(self) -> torch.Tensor:
        return self.weight / self.weight.norm(dim=1, keepdim=True).clamp_min(1e-8)


DEFORMATORS: dict[str, type[Deformator]] = {
    "linear": LinearDeformator,
    "ortho": OrthoDeformator,
    "proj": ProjectiveDeformator,
}


def build_deformator(kind: str, latent_dim: int, num_directions: int | None = None) -> Deformator:
    if kind not in DEFORMATORS:
        raise ValueError(f"unknown deformator {kind!r}; choose one of {sorted(DEFORMATORS)}")
    return DEFORMATORS[kind](latent_dim, num_directions or latent_dim)
