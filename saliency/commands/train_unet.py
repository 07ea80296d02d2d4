"""`saliency train-unet`: stage 4, train the U-Net on synthetic pairs.

Data: a `saliency synth` output or any folder with images/ and masks/ (--data), or pairs drawn
on the fly from generator + selection (--on-the-fly, the papers' way). Presets are the papers'
schedules (--preset 2020|2021); any flag overrides them. Writes best.safetensors,
last.safetensors, log.jsonl, curves.png and summary.json to --out; rerun to resume.
Multi-GPU: `torchrun --nproc_per_node N -m saliency train-unet ...` (DDP; gloo on CPU).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from saliency.commands.common import (
    add_generator_arguments,
    device_from_args,
    generator_flags,
    generator_from_args,
    generator_label,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)
from saliency.errors import UserError
from saliency.paths import runs_dir
from saliency.unet.model import DEFAULT_ENCODER
from saliency.unet.presets import training_set
from saliency.unet.train import PRESETS, TrainConfig, train, validation_batches


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument(
        "--data",
        default=None,
        help="synth output, folder with images/ and masks/, pseudo-label output, or WebDataset shards (a folder, tar paths, http(s) URLs or pipe: commands, brace patterns allowed) (default: DATA/runs/synth-GENERATOR)",
    )
    p.add_argument("--on-the-fly", action="store_true", help="draw pairs from the generator and --selection instead of files")
    p.add_argument("--selection", type=Path, default=None, help="with --on-the-fly: selection.json (default: DATA/runs/select-GENERATOR)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/unet-GENERATOR)")
    add_training_arguments(p)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The model, schedule and augmentation flags, shared with `saliency self-train`."""
    D = TrainConfig()  # every default written once, in the config
    t = p.add_argument_group("model and training")
    t.add_argument("--encoder", default=DEFAULT_ENCODER, help="any segmentation-models-pytorch encoder")
    t.add_argument("--encoder-weights", default="none", help="'none' (papers: from scratch) or 'imagenet' (needs internet)")
    t.add_argument(
        "--decoder-channels", default=",".join(map(str, D.decoder_channels)), help="U-Net decoder widths, comma-separated (5 values)"
    )
    t.add_argument("--size", type=positive_int, default=D.size, help="training input size (square)")
    t.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=D.preset,
        help="the papers' schedules: 2020 (lr 5e-3, x0.2/4k, 15k steps, batch 128), 2021 (lr 1e-3, x0.2 at 8k, 12k, batch 95)",
    )
    t.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: preset's)")
    t.add_argument("--steps", type=positive_int, default=None, help="training steps (default: preset's)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="global batch size (default: preset's)")
    t.add_argument("--milestones", default=None, help="comma-separated steps where lr is multiplied by --gamma (default: preset's)")
    t.add_argument("--gamma", type=float, default=None, help="lr decay factor at milestones (default: preset's)")
    t.add_argument(
        "--dice-weight", type=non_negative_float, default=D.dice_weight, help="add this times a soft Dice loss to BCE (0: BCE only)"
    )
    t.add_argument(
        "--soft-targets",
        action="store_true",
        help="pseudo-masks with confidence (pseudo-label --confidence): learn 0.5 +- confidence/2 at every pixel "
        "instead of a hard target weighted by confidence (soft targets: the student learns how sure its teachers were)",
    )
    t.add_argument("--no-flip", action="store_true", help="disable horizontal flips")
    t.add_argument("--no-crop", action="store_true", help="disable random scale/crop")
    t.add_argument("--no-color", action="store_true", help="disable colour jitter")
    t.add_argument(
        "--degrade", action="store_true", help="blur, noise, JPEG and greyscale augmentation (real photos' textures and softness)"
    )
    t.add_argument(
        "--backgrounds",
        type=Path,
        default=None,
        help="folder of unlabeled real photos: paste synthetic objects onto crops of their corners",
    )
    t.add_argument(
        "--paste",
        type=unit_float,
        default=None,
        help="share of synthetic items that are pasted composites (default with --backgrounds: 0.5)",
    )
    t.add_argument(
        "--paste-scale",
        default=None,
        metavar="LO,HI",
        help="a pasted object's longer extent as a share of the frame (default 0.35,0.9; "
        "e.g. 0.1,0.9 for small objects in wide scenes too)",
    )
    t.add_argument(
        "--mix",
        type=Path,
        default=None,
        help="synthetic pairs (synth output or any pairs folder) mixed into the batches of --data's pseudo-labelled photos; "
        "with --backgrounds they are pasted onto real photos",
    )
    t.add_argument("--mix-ratio", type=unit_float, default=None, help="share of training items drawn from --mix (default with --mix: 0.25)")
    t.add_argument(
        "--close-up",
        type=unit_float,
        default=D.close_up,
        help="share of --data's items shown as a close-up of their mask's object (a crop that the object fills and "
        "the frame cuts), for whole subjects at close range where teachers cut them into parts; 0: off",
    )
    t.add_argument(
        "--zoom-out",
        type=unit_float,
        default=D.zoom_out,
        help="share of --data's items scaled down (long side 25-75%% of the frame) into another item's photo, "
        "whose own object carries no loss: small objects in wide scenes, which close-framed unlabeled photos lack; 0: off",
    )
    t.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from a train-unet model (whole network) or a `saliency invert` encoder (the U-Net's encoder)",
    )
    t.add_argument("--seed", type=non_negative_int, default=D.seed, help="seed of weights, data order and augmentation")
    t.add_argument("--val-every", type=positive_int, default=D.val_every, help="steps between validations (best checkpoint kept)")
    t.add_argument("--checkpoint-every", type=positive_int, default=D.checkpoint_every, help="steps between resumable checkpoints")
    t.add_argument("--log-every", type=positive_int, default=D.log_every, help="steps between log lines")
    t.add_argument(
        "--snapshot-every",
        type=non_negative_int,
        default=D.snapshot_every,
        help="keep the model every N steps in snapshots/ (budget curves; 0: off)",
    )
    t.add_argument(
        "--workers",
        type=int,  # -1 is a value of its own (see the help)
        default=-1,
        help="data-loading worker processes (-1: none on CPU, where they steal the model's cores; up to 8 on CUDA)",
    )
    t.add_argument(
        "--ema",
        type=unit_float,
        default=D.ema,
        help="validate and save an exponential moving average of the weights with this decay, e.g. 0.999 (the mean teacher: a student of noisy pseudo-masks follows their consensus); 0: off",
    )
    t.add_argument(
        "--consistency",
        type=non_negative_float,
        default=D.consistency,
        help="with --ema: the student sees a colour/noise/blur-perturbed view and also learns the EMA's map of "
        "the plain view, weighted by its certainty, times this (e.g. 1.0): a teacher whose errors are not the pseudo-masks'; 0: off",
    )
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")


def training_config(args: argparse.Namespace, device: torch.device, data: str | None, on_the_fly: bool = False) -> TrainConfig:
    """TrainConfig from the shared flags (preset, then any flag given)."""
    workers = args.workers if args.workers >= 0 else (min(8, (os.cpu_count() or 2) // 2) if device.type == "cuda" else 0)
    decoder = [int(c) for c in args.decoder_channels.split(",")]
    if len(decoder) != 5:
        raise UserError("--decoder-channels takes 5 comma-separated widths")
    return TrainConfig.from_preset(
        args.preset,
        data=data,
        on_the_fly=on_the_fly,
        encoder=args.encoder,
        encoder_weights=None if args.encoder_weights in (None, "none") else args.encoder_weights,
        decoder_channels=decoder,
        size=args.size,
        lr=args.lr,
        steps=args.steps,
        batch_size=args.batch_size,
        milestones=[int(m) for m in args.milestones.split(",")] if args.milestones else None,
        gamma=args.gamma,
        dice_weight=args.dice_weight,
        soft_targets=args.soft_targets,
        flip=not args.no_flip,
        crop=not args.no_crop,
        color=not args.no_color,
        degrade=args.degrade,
        backgrounds=str(args.backgrounds) if args.backgrounds else None,
        paste=(0.5 if args.paste is None else args.paste) if args.backgrounds else 0.0,
        paste_scale=paste_scales(args.paste_scale),
        mix=str(args.mix) if args.mix else None,
        mix_ratio=(0.25 if args.mix_ratio is None else args.mix_ratio) if args.mix else 0.0,
        close_up=args.close_up,
        zoom_out=args.zoom_out,
        init=str(args.init) if args.init else None,
        seed=args.seed,
        val_every=args.val_every,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        snapshot_every=args.snapshot_every,
        workers=workers,
        amp=not args.no_amp,
        ema=args.ema,
        consistency=args.consistency,
    )


def paste_scales(text: str | None) -> list[float] | None:
    """--paste-scale LO,HI -> [LO, HI] (None: the default)."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--paste-scale takes LO,HI (two numbers, e.g. 0.1,0.9), not {text!r}") from None
    if not 0 < lo <= hi:
        raise UserError(f"--paste-scale {text}: needs 0 < LO <= HI")
    return [lo, hi]


def run(args: argparse.Namespace) -> None:
    from saliency.pairs import find_pairs, is_stream
    from saliency.unet.data import PairDataset, split_pairs

    device = device_from_args(args)
    data = None if args.on_the_fly else args.data or runs_dir() / f"synth-{generator_label(args)}"
    if not args.on_the_fly and args.data is None:
        if not (Path(data) / "shards").is_dir():
            raise UserError(
                f"no synthetic pairs for {generator_label(args)} at {data}: run `saliency synth {generator_flags(generator_label(args))}` first or pass --data DIR"
            )
        print(f"data: {data} (the latest `saliency synth` output of {generator_label(args)}; --data DIR for another)")
    cfg = training_config(args, device, str(data) if data else None, args.on_the_fly)
    from saliency.unet.stream import StreamSource

    folder_only = [
        flag
        for flag, on in (("--mix", cfg.mix), ("--backgrounds", cfg.backgrounds), ("--close-up", cfg.close_up), ("--zoom-out", cfg.zoom_out))
        if on
    ]
    if folder_only and (cfg.on_the_fly or is_stream(cfg.data)):
        raise UserError(
            f"{', '.join(folder_only)} take(s) a folder of pairs as --data, not {'--on-the-fly' if cfg.on_the_fly else 'WebDataset shards'}: "
            "run `saliency synth` (which writes a pairs folder) or drop the flag"
        )

    if cfg.on_the_fly:
        source, val = on_the_fly_sources(args, cfg, device)
        meta = {"trained_on": f"on-the-fly pairs from {generator_label(args)}"}
    elif is_stream(cfg.data):
        from saliency.unet.data import AugmentConfig

        source = StreamSource(
            cfg.data,
            cfg.size,
            AugmentConfig(cfg.flip, cfg.crop, cfg.color, cfg.degrade),
            cfg.seed,
            world=int(os.environ.get("WORLD_SIZE", "1")),
        )
        val = source.validation()
        meta = {"trained_on": str(cfg.data), "streamed": True, "val_pairs": source.hold_out}
    else:
        train_pairs, val_pairs = split_pairs(find_pairs(cfg.data))
        if not val_pairs:
            raise UserError(f"{cfg.data} holds too few pairs to hold out a validation split")
        source = training_set(cfg, train_pairs)
        val = validation_batches(PairDataset(val_pairs, cfg.size, None))
        meta = {"trained_on": str(cfg.data), "train_pairs": len(train_pairs), "val_pairs": len(val_pairs)}
    out = args.out or runs_dir() / f"unet-{generator_label(args)}"
    summary = train(cfg, out, device, source, val, meta)
    if summary:
        print(
            f"validation IoU: first {summary['first_val_iou']:.4f}, best {summary['best_val_iou']:.4f} at step {summary['best_step']}; model {out / 'best.safetensors'}"
        )


def on_the_fly_sources(args: argparse.Namespace, cfg: TrainConfig, device: torch.device):
    from saliency.selection import Selection, default_selection
    from saliency.synthesis import SynthConfig
    from saliency.unet.data import OnTheFly

    selection = Selection.load(args.selection or default_selection(generator_label(args)))
    G = generator_from_args(args, device)
    mask = selection.mask_spec(generator_label(args))
    synth_cfg = SynthConfig(
        generator=generator_label(args),
        direction=selection.vector,
        shift=selection.shift,
        n=0,
        rule=mask.rule,
        threshold=mask.threshold,
        polarity=mask.polarity,
        filters=mask.filters.as_dict(),
        seed=cfg.seed,
        batch_size=max(32, cfg.batch_size),
    )
    source = OnTheFly(G, synth_cfg, cfg.size, flip=cfg.flip)
    val = [source.batch(step, 32, stream=10**6) for step in range(4)]
    return source, val
