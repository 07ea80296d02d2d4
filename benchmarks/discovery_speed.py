"""Discovery throughput: steps per second and the share of step time spent in the generator.

The generator's share is measured by difference: a full step (G forward for both images, G
backward for the shifted one, R forward/backward, optimiser steps) against the same step fed
with precomputed images. Run: `python benchmarks/discovery_speed.py [--device cuda]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, time_per_call  # noqa: E402

from discovery.trainer import Discoverer, DiscoveryConfig  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.generators import build_generator, spec  # noqa: E402
from saliency.training import step_generator  # noqa: E402


def measure(
    generator: str,
    reconstructor: str,
    deformator: str,
    directions: int | None,
    batch: int,
    device: torch.device,
    repeats: int,
    random_init: bool,
) -> dict:
    kwargs = {"random_init": True} if random_init else {}
    G = build_generator(generator, device=device, **kwargs)
    cfg = DiscoveryConfig(generator=generator, deformator=deformator, directions=directions, reconstructor=reconstructor, batch_size=batch)
    disc = Discoverer(G, cfg, device)
    z, classes, k, eps = disc.sample(step_generator(0, 0), batch)
    with torch.no_grad():
        x0, x1 = disc.images(z, classes, k, eps)
    step = iter(range(10**9))

    def full() -> None:
        disc.train_step(next(step))

    def without_generator() -> None:
        x1_leaf = x1.clone().requires_grad_(True)  # stands in for the shifted image's graph
        out = disc.losses(x0, x1_leaf, k, eps)
        disc.opt_a.zero_grad()
        disc.opt_r.zero_grad()
        out["loss"].backward()
        disc.opt_r.step()

    t_full = time_per_call(full, device, repeats)
    t_rest = time_per_call(without_generator, device, repeats)
    return {
        "generator": generator,
        "reconstructor": reconstructor,
        "deformator": deformator,
        "K": disc.num_directions,
        "batch": batch,
        "step_ms": round(t_full * 1000, 1),
        "steps_per_s": round(1 / t_full, 2),
        "generator_share": round(max(0.0, 1 - t_rest / t_full), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default="dcgan-faces")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--random-weights", action="store_true", help="skip the weights download (timings do not depend on weights)")
    p.add_argument("--out", default=None, help="JSON path (default: DATA/benchmarks/discovery_speed.json)")
    args = p.parse_args()
    device = pick_device(args.device)
    d = spec(args.generator).discover
    rows = [
        measure(args.generator, rec, d.deformator, d.directions, args.batch, device, args.repeats, args.random_weights)
        for rec in ("lenet", "resnet18")
    ]
    report("discovery_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
