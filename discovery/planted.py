"""How well one discovery run finds the planted fixture's background direction d*, in float32,
in float64, or from initial weights nudged by 1e-6 noise (a stand-in for another torch build,
thread count or GPU): the measure the tests and benchmarks/planted_recovery.py share."""

from __future__ import annotations

from pathlib import Path

import torch

from discovery.directions import load_directions
from discovery.trainer import Discoverer, DiscoveryConfig, run_discovery
from saliency.generators import build_generator

SETTINGS = ("float32", "float64", "nudged")


def recovery(cfg: DiscoveryConfig, setting: str, out: str | Path, device: str = "cpu") -> float:
    """max |cos| between d* and the directions a run of `cfg` on the planted generator learns
    (written to `out`)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r}: choose one of {SETTINGS}")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if setting == "float64" else torch.float32)
    try:
        G = build_generator("planted", device=device)
        disc = Discoverer(G, cfg, torch.device(device))
        if setting == "nudged":
            g = torch.Generator().manual_seed(10_000 + cfg.seed)
            with torch.no_grad():
                for p in [*disc.deformator.parameters(), *disc.reconstructor.parameters()]:
                    p.add_(1e-6 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        result = run_discovery(G, cfg, out, torch.device(device), progress=False, render_grids=False, discoverer=disc)
        D = load_directions(result.directions_path).directions.double()
        return float(((D / D.norm(dim=1, keepdim=True)) @ G.planted_direction.double().cpu()).abs().max())
    finally:
        torch.set_default_dtype(previous)
