"""`saliency train-gan`: train an unconditional generator on a folder of unlabeled photos.

DCGAN-style generator, spectrally normalised discriminator, hinge loss, DiffAugment and an EMA
generator (see saliency.gan.models for why). Writes OUT/generator_ema.safetensors (fp16, loadable
as `--generator objects --weights FILE`), OUT/samples/step_*.png, log.jsonl, summary.json and
train_state.pt; rerun the same command to resume after an interruption.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliency.commands.common import device_from_args, non_negative_int, positive_float, positive_int, unit_float
from saliency.gan.models import NORMS
from saliency.gan.train import GANConfig, train_gan
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=Path, required=True, help="folder of unlabeled photos (searched recursively)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/gan)")
    p.add_argument("--resolution", type=positive_int, default=64, choices=(32, 64, 128), help="output size")
    p.add_argument("--latent-dim", type=positive_int, default=128, help="size of z")
    p.add_argument("--width", type=positive_int, default=64, help="base channel width of both networks")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    p.add_argument("--steps", type=positive_int, default=20000, help="training steps (one D and one G update each)")
    p.add_argument("--lr", type=positive_float, default=2e-4, help="Adam learning rate of both networks")
    p.add_argument("--ema", type=unit_float, default=0.999, help="EMA decay of the sampled generator")
    p.add_argument(
        "--d-norm",
        choices=NORMS,
        default="batch",
        help="discriminator normalisation: batch (DCGAN; learns) or spectral (SNGAN; stayed unable to tell samples from photos on a CPU budget)",
    )
    p.add_argument("--augment", action="store_true", help="DiffAugment on real and fake images (for a few thousand photos or fewer)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of weights, batches and augmentation")
    p.add_argument("--sample-every", type=positive_int, default=500, help="steps between sample grids")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, help="steps between resumable checkpoints")
    p.add_argument("--log-every", type=positive_int, default=50, help="steps between log lines")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (bf16 autocast on CUDA)")
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="MINUTES",
        help="stop after this long, checkpoint and export the EMA generator; rerun to continue",
    )
    p.add_argument("--threads", type=non_negative_int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels (cuDNN autotuning off): a rerun on the same machine repeats bit for bit, also on CUDA, somewhat slower",
    )


def run(args: argparse.Namespace) -> None:
    device = device_from_args(args)
    cfg = GANConfig(
        images=str(args.images),
        resolution=args.resolution,
        latent_dim=args.latent_dim,
        width=args.width,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        ema=args.ema,
        augment=args.augment,
        d_norm=args.d_norm,
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
    )
    out = args.out or runs_dir() / "gan"
    meta = train_gan(cfg, out, device, time_limit=args.time_limit * 60 if args.time_limit else None)
    print(f"EMA generator: {out / 'generator_ema.safetensors'} ({meta['steps']} steps on {meta['device']}); samples in {out / 'samples'}")
    if meta["steps"] < cfg.steps:
        print(f"stopped at the time limit, step {meta['steps']} of {cfg.steps}: rerun the same command to continue")
