"""`saliency invert`: train an encoder E (image -> z) for a frozen generator.

On generated pairs (E(G(z)) ~ z) and, with --photos, on unlabeled photos (G(E(x)) ~ x). Writes
OUT/inverter.safetensors (used by `pseudo-label --teacher gan --inverter`, and by
`train-unet --init` as a U-Net encoder that has seen real photos), OUT/reconstructions.png,
OUT/log.jsonl, OUT/summary.json; rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--photos", type=Path, default=None, help="unlabeled photos for the reconstruction term (searched recursively)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/invert-GENERATOR)")
    p.add_argument("--steps", type=positive_int, default=3000, help="training steps")
    p.add_argument("--batch-size", type=positive_int, default=32, help="generated images and photos per step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    p.add_argument("--latent-weight", type=non_negative_float, default=1.0, help="weight of |E(G(z)) - z|^2")
    p.add_argument("--photo-weight", type=non_negative_float, default=1.0, help="weight of |G(E(x)) - x|_1 on the photos")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of weights and of every step's samples")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, help="steps between checkpoints")
    p.add_argument("--log-every", type=positive_int, default=50, help="steps between log lines")


def run(args: argparse.Namespace) -> None:
    from saliency.real_photos.inversion import InvertConfig, train_inverter

    device = device_from_args(args)
    G = generator_from_args(args, device)
    cfg = InvertConfig(
        generator=generator_label(args),
        photos=str(args.photos) if args.photos else None,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        latent_weight=args.latent_weight,
        photo_weight=args.photo_weight,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
    )
    out = args.out or runs_dir() / f"invert-{generator_label(args)}"
    s = train_inverter(G, cfg, out, device)
    print(
        f"inverter: {out / 'inverter.safetensors'} (held-out latent error {s['latent_relative_error']:.3f} of |z|^2"
        + (f", photo reconstruction L1 {s['photo_l1']:.3f}" if "photo_l1" in s else "")
        + ")"
    )
