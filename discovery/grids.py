"""PNG grids of every direction at shifts -r..0..+r on a fixed batch of latents."""

from __future__ import annotations

from pathlib import Path

import torch

from saliency.generators.base import Generator
from saliency.viz import image_grid, save_png


@torch.no_grad()
def shift_sweep(G: Generator, z: torch.Tensor, classes: torch.Tensor | None, direction: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Images [len(shifts), B, 3, H, W] of G(z + s * direction)."""
    direction = direction.to(z.device)
    return torch.stack([G(z + float(s) * direction, classes) for s in shifts])


def _batch(G: Generator, n_latents: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    return G.sample_latents(n_latents, g), G.sample_classes(n_latents, g)


def _sweep_grid(sweep: torch.Tensor, shifts: torch.Tensor):
    rows = [sweep[:, b] for b in range(sweep.shape[1])]
    return image_grid(rows, [f"z{b}" for b in range(len(rows))], [f"{s:+.1f}" for s in shifts.tolist()])


def direction_grid(G: Generator, direction: torch.Tensor, shift_range: float, n_shifts: int = 9, n_latents: int = 4, seed: int = 0):
    """One direction at shifts -r..+r on `n_latents` fixed latents, as a picture."""
    z, classes = _batch(G, n_latents, seed)
    shifts = torch.linspace(-shift_range, shift_range, n_shifts)
    return _sweep_grid(shift_sweep(G, z, classes, direction, shifts), shifts)


def render_direction_grids(
    G: Generator,
    directions: torch.Tensor,
    out_dir: str | Path,
    shift_range: float,
    n_shifts: int = 9,
    n_latents: int = 4,
    seed: int = 0,
    per_page: int = 16,
) -> list[Path]:
    """One overview page per `per_page` directions (first latent) and one grid per direction (all latents)."""
    out_dir = Path(out_dir)
    z, classes = _batch(G, n_latents, seed)
    shifts = torch.linspace(-shift_range, shift_range, n_shifts)
    col_labels = [f"{s:+.1f}" for s in shifts.tolist()]
    written, overview = [], []
    for k, d in enumerate(directions):
        sweep = shift_sweep(G, z, classes, d, shifts)  # [S, B, ...]
        overview.append(sweep[:, 0])
        written.append(save_png(_sweep_grid(sweep, shifts), out_dir / f"direction_{k:03d}.png"))
    for start in range(0, len(overview), per_page):
        rows = overview[start : start + per_page]
        labels = [f"k={k}" for k in range(start, start + len(rows))]
        written.append(save_png(image_grid(rows, labels, col_labels), out_dir / f"overview_{start // per_page:02d}.png"))
    return written
