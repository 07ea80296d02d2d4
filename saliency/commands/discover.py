"""`saliency discover`: stage 1, learn K interpretable latent directions of a frozen generator.

Writes OUT/directions.safetensors (K x d plus metadata), OUT/grids/*.png, OUT/log.jsonl,
OUT/summary.json and OUT/checkpoint.pt; rerunning the same command resumes where it stopped.
Unset flags take the generator's defaults (`saliency generators`).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from discovery.deformators import DEFORMATORS
from discovery.reconstructors import RECONSTRUCTORS
from discovery.trainer import DiscoveryConfig, run_discovery
from saliency.commands.common import (
    add_generator_arguments,
    device_from_args,
    generator_from_args,
    generator_label,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from saliency.generators import spec
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/discover-GENERATOR)")
    p.add_argument(
        "--deformator", choices=sorted(DEFORMATORS), default=None, help="linear, ortho (expm of skew matrix) or proj (unit columns)"
    )
    p.add_argument(
        "--directions",
        type=positive_int,
        default=None,
        help="K, the number of directions (default: generator's; ortho: up to the latent size)",
    )
    p.add_argument("--reconstructor", choices=sorted(RECONSTRUCTORS), default=None, help="resnet18 (paper) or lenet (fast on CPU)")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps")
    p.add_argument("--batch-size", type=positive_int, default=None, help="latents per step (paper: 32)")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate for deformator and reconstructor (paper: 1e-4)")
    p.add_argument("--shift-range", type=positive_float, default=None, help="eps ~ U[-r, r] (paper: 6)")
    p.add_argument("--min-shift", type=non_negative_float, default=None, help="|eps| is raised to at least this (paper: 0.5)")
    p.add_argument(
        "--shift-loss-weight",
        type=non_negative_float,
        default=None,
        help="weight of the L1 loss on eps (paper: 0.25; planted: 0, see its registry entry)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of initial weights and of every step's samples")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, help="steps between checkpoints")
    p.add_argument("--log-every", type=positive_int, default=50, help="steps between log lines")
    p.add_argument("--eval-samples", type=positive_int, default=64, help="fresh samples per direction for the final per-direction accuracy")
    p.add_argument(
        "--accumulate",
        type=positive_int,
        default=1,
        help="compute each batch in N parts: the same update as one pass, the generator's memory of a part (torchrun spreads the parts over processes)",
    )
    p.add_argument(
        "--reconstructor-size",
        type=positive_int,
        default=None,
        help="bring both images down to this side before the reconstructor (GANLatentDiscovery's shift_predictor_size; e.g. 256 for 1024 px)",
    )
    p.add_argument(
        "--amp", choices=("off", "bf16", "fp16"), default="off", help="autocast the generator and the reconstructor (fp16: CUDA)"
    )
    p.add_argument("--restart", action="store_true", help="discard an existing checkpoint in --out instead of resuming")
    p.add_argument("--no-grids", action="store_true", help="skip the PNG direction grids")


def config_from_args(args: argparse.Namespace) -> DiscoveryConfig:
    """The run's config: each backend-settable field from its flag, else the generator's default."""
    defaults = asdict(spec(args.generator).discover)
    chosen = {name: getattr(args, name) for name in defaults if getattr(args, name) is not None}
    return DiscoveryConfig(
        **(defaults | chosen),
        generator=generator_label(args),
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        eval_samples=args.eval_samples,
        accumulate=args.accumulate,
        reconstructor_size=args.reconstructor_size,
        amp=args.amp,
    )


def config_from_flags(flags: list[str]) -> DiscoveryConfig:
    """The config `saliency discover FLAGS` would train with (for benchmarks and tests: the
    registry's defaults read the one way the command reads them)."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    return config_from_args(p.parse_args(flags))


def run(args: argparse.Namespace) -> None:
    from saliency.distributed import Distributed

    cfg = config_from_args(args)
    ddp = Distributed(device_from_args(args))  # under torchrun / srun: this process's rank and device
    G = generator_from_args(args, ddp.device)
    out = args.out or runs_dir() / f"discover-{generator_label(args)}"
    result = run_discovery(G, cfg, out, ddp.device, restart=args.restart, render_grids=not args.no_grids, ddp=ddp)
    ddp.close()
    if result is None:  # not the first process: it wrote nothing
        return
    s = result.summary
    print(f"directions: {result.directions_path}  (K={s['num_directions']}, accuracy {s['accuracy']:.3f}, {s['steps']} steps)")
    print(f"grids:      {out / 'grids'}")
