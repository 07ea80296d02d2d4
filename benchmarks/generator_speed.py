"""Generator forward throughput (images per second) for each backend at batch 1 and 8.

Random weights (speed does not depend on them). Run: `python benchmarks/generator_speed.py
[--generators dcgan-faces,biggan-128] [--device cuda]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, time_per_call  # noqa: E402

from saliency.device import pick_device  # noqa: E402
from saliency.generators import build_generator  # noqa: E402

DEFAULT = "planted,dcgan-faces,biggan-128,bigbigan,biggan-deep-128"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generators", default=DEFAULT)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    rows = []
    for name in args.generators.split(","):
        G = build_generator(name, device=device) if name.startswith("planted") else build_generator(name, device=device, random_init=True)
        for b in (int(x) for x in args.batches.split(",")):
            g = torch.Generator().manual_seed(0)
            z, c = G.sample_latents(b, g), G.sample_classes(b, g)
            with torch.no_grad():
                t = time_per_call(lambda: G(z, c), device, args.repeats, warmup=1)
            rows.append(
                {
                    "generator": name,
                    "resolution": G.resolution,
                    "batch": b,
                    "ms_per_batch": round(t * 1000, 1),
                    "images_per_s": round(b / t, 2),
                }
            )
    report("generator_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
