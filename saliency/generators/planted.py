"""`planted`: a procedural generator with a known answer, the fixture every stage is tested on.

Scenes are a soft-edged ellipse (the foreground) on a striped, coloured background. The latent z
is read through a fixed random rotation Q: factor u = Q z. Factor 0 controls only how flat the
background is, monotonically; the others control foreground position, size, colour and background
colour and stripes, each through a periodic function of its factor (period pi in z). So the
planted direction d* = Q[0] (not aligned with any axis of z) flattens the background towards
uniform white without moving the foreground, and the exact foreground mask of every z is known.

Why periodic nuisance factors: if every factor were a smooth monotone function of Q z, every
rotation of the factor axes would be exactly as easy for the reconstructor to tell apart, so no
discovery method could single out d* (a symmetry of the fixture, not a failure of the method).
Real generators break that symmetry: a few directions have large, consistent effects and most do
not. Here d* is the one direction whose shift has the same, monotone effect everywhere.

What that does to the paper's loss (measured with the benchmark `planted_recovery.py`): d* being
the only factor whose shift magnitude can be read, the L1 loss on eps rewards every direction for
carrying a part of d* (each of a run's four directions held 0.2-0.8 of it), and d* mixed with a
periodic factor reads eps more finely than d* alone (one direction trained on that loss alone ends
at |cos| 0.74-0.94 to d*). Which direction ends up holding most of d* was then decided by the last
bits of the arithmetic. So discovery on this fixture takes `shift_loss_weight` 0 (its registry
entry): the cross-entropy on k alone, which only needs the directions told apart, leaves one
direction on d* and the others off it. `planted=False` builds the same scenes with no such
direction (factor 0 is ignored), for testing that selection says so.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from saliency.generators.backend import DiscoverDefaults, GeneratorSpec
from saliency.generators.base import Generator

FACTORS = ("flatten", "x", "y", "size", "fg_colour", "bg_colour", "stripe_freq", "stripe_angle")


def _random_rotation(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    while True:
        q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r))[None]
        if q[0].abs().max() < 0.7:  # keep d* well away from every axis
            return q.T.contiguous().to(torch.get_default_dtype())  # float64 runs (the recovery benchmark) stay float64


class PlantedGenerator(Generator):
    def __init__(
        self,
        latent_dim: int = 8,
        resolution: int = 32,
        seed: int = 0,
        planted: bool = True,
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__(classes)
        if latent_dim < len(FACTORS):
            raise ValueError(f"planted generator needs latent_dim >= {len(FACTORS)}")
        self.latent_dim, self.resolution, self.planted = latent_dim, resolution, planted
        self.register_buffer("basis", _random_rotation(latent_dim, seed))  # rows: factor axes in z
        ys, xs = torch.meshgrid(torch.linspace(0, 1, resolution), torch.linspace(0, 1, resolution), indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys]))

    @property
    def planted_direction(self) -> torch.Tensor:
        return self.basis[0]

    def factors(self, z: torch.Tensor) -> torch.Tensor:
        u = z @ self.basis.T
        return torch.cat([u[:, :1], 2 * torch.sin(2 * u[:, 1:])], dim=1)

    def _geometry(self, u: torch.Tensor) -> torch.Tensor:
        """Signed distance (in pixels) inside the ellipse boundary: > 0 inside."""
        cx = 0.5 + 0.15 * torch.tanh(u[:, 1] / 2)
        cy = 0.5 + 0.15 * torch.tanh(u[:, 2] / 2)
        r = 0.2 + 0.07 * torch.tanh(u[:, 3] / 2)
        x, y = self.grid[0][None], self.grid[1][None]
        dist = torch.sqrt((x - cx[:, None, None]) ** 2 + ((y - cy[:, None, None]) * 1.2) ** 2 + 1e-12)
        return (r[:, None, None] - dist) * (self.resolution - 1)

    def true_mask(self, z: torch.Tensor) -> torch.Tensor:
        """The exact foreground mask of each z, [B, 1, R, R] in {0, 1}."""
        return (self._geometry(self.factors(z)) > 0).float()[:, None]

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        u = self.factors(z)
        alpha = (4 * self._geometry(u) + 0.5).clamp(0, 1)[:, None]  # a quarter-pixel soft edge
        fg = 0.1 + 0.5 * torch.sigmoid(
            u[:, 4:5] / 2 * torch.tensor([1.0, -0.8, 0.4], device=u.device) + torch.tensor([0.0, 0.3, -0.3], device=u.device)
        )
        bg = 0.35 + 0.3 * torch.sigmoid(u[:, 5:6] / 2 * torch.tensor([-0.6, 1.0, 0.5], device=u.device))
        freq = 3.0 + 2.0 * torch.tanh(u[:, 6] / 2)
        angle = math.pi * torch.sigmoid(u[:, 7] / 2)
        x, y = self.grid[0][None], self.grid[1][None]
        phase = x * torch.cos(angle)[:, None, None] + y * torch.sin(angle)[:, None, None]
        stripes = 0.22 * torch.sin(2 * math.pi * freq[:, None, None] * phase)[:, None]
        background = bg[:, :, None, None] + stripes
        if self.planted:
            flat = torch.sigmoid((u[:, 0] - 2.0) / 2.0)[:, None, None, None]
            background = (1 - flat) * background + flat * 1.0
        image = alpha * fg[:, :, None, None] + (1 - alpha) * background
        return image.clamp(0, 1) * 2 - 1


def build_planted(weights: str | None = None, classes: Sequence[int] | None = None, **kwargs) -> Generator:
    return PlantedGenerator(**kwargs)


PLANTED = GeneratorSpec(
    "planted",
    build_planted,
    "procedural scenes with a planted background direction and exact masks (tests)",
    # shift_loss_weight 0: the eps loss spreads d* over every direction here (module docstring)
    discover=DiscoverDefaults(deformator="proj", directions=4, reconstructor="lenet", lr=1e-2, steps=800, shift_loss_weight=0.0),
)


def build_planted_none(weights: str | None = None, classes: Sequence[int] | None = None, **kwargs) -> Generator:
    return PlantedGenerator(planted=False, **kwargs)


PLANTED_NONE = GeneratorSpec(
    "planted-none",
    build_planted_none,
    "the planted scenes with no background direction (tests)",
    discover=DiscoverDefaults(deformator="ortho", reconstructor="lenet", lr=1e-3, steps=1500),
)
