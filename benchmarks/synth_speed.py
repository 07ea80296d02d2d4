"""Synthesis throughput against its floor.

The floor is what the generator alone allows: the time of its forward pass over the images of
one candidate batch (original and shifted, in one call), divided by the acceptance rate. The
ratio = achieved pairs per second / floor pairs per second; 1.0 means masks, filters, PNG
encoding and writing cost nothing beyond the generator. Generators run with random weights
(speed does not depend on them). Run: `python benchmarks/synth_speed.py [--device cuda]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, time_per_call  # noqa: E402

from saliency.device import pick_device  # noqa: E402
from saliency.generators import build_generator  # noqa: E402
from saliency.synthesis import SynthConfig, synthesize  # noqa: E402


def measure(generator: str, n: int, batch: int, device: torch.device, filters: dict | None) -> dict:
    G = build_generator(generator, device=device, random_init=True) if generator != "planted" else build_generator(generator, device=device)
    direction = (
        G.planted_direction
        if generator == "planted"
        else torch.nn.functional.normalize(torch.randn(G.latent_dim, generator=torch.Generator().manual_seed(0)), dim=0)
    )
    cfg = SynthConfig(
        generator=generator,
        direction=direction.tolist(),
        shift=6.0,
        n=n,
        batch_size=batch,
        shard_size=1000,
        **({"filters": filters} if filters else {}),
    )
    out = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        t = time.perf_counter()
        manifest = synthesize(G, cfg, out, progress=False)
        elapsed = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    g = torch.Generator().manual_seed(1)
    z, classes = G.sample_latents(batch, g), G.sample_classes(batch, g)
    both = None if classes is None else classes.repeat(2)
    with torch.no_grad():
        t_gen = time_per_call(lambda: G(torch.cat([z, z]), both), device, repeats=10 if G.resolution <= 64 else 3, warmup=1)
    acceptance = manifest["acceptance_rate"]
    floor_rate = batch * acceptance / t_gen
    rate = n / elapsed
    return {
        "generator": generator,
        "n": n,
        "batch": batch,
        "acceptance": acceptance,
        "pairs_per_s": round(rate, 1),
        "floor_pairs_per_s": round(floor_rate, 1),
        "ratio_to_floor": round(rate / floor_rate, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generators", default="dcgan-faces", help="comma-separated backends (random weights)")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    # Random-weight generators make odd masks; open the area filter so acceptance stays measurable.
    filters = {"min_area": -1.0, "max_area": 2.0, "min_peaks": 0, "hist_bins": 12, "min_component": 0.2}
    rows = [measure(g, args.n, args.batch, device, filters) for g in args.generators.split(",")]
    report("synth_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
