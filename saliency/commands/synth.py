"""`saliency synth`: stage 3, write N accepted image/mask pairs from the selected direction.

Reads the selection file of `saliency select`; writes PNG shards, manifest.json and
contact_sheet.png into --out. Deterministic for a seed; rerun the same command after any
interruption to finish with exactly N pairs. Several processes share the work into one --out:
`torchrun --nnodes N --nproc_per_node G -m saliency synth ...` and `srun saliency synth ...`
take rank and world size from the environment (one GPU per local rank), or say
`--shard i --num-shards n` by hand; together they write exactly what one process would.
Without --selection the generator's latest `saliency select` result is used, else the selection
that ships with it (printed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliency.commands.common import (
    add_generator_arguments,
    add_mask_arguments,
    device_from_args,
    generator_flags,
    generator_from_args,
    generator_label,
    mask_spec_from_args,
    non_negative_float,
    non_negative_int,
    parse_classes,
    positive_int,
    take_launcher_part,
)
from saliency.errors import UserError
from saliency.files import sha256_file
from saliency.paths import runs_dir
from saliency.selection import Selection, default_selection
from saliency.synthesis import SynthConfig, contact_sheet, synthesize


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument(
        "--selection",
        type=Path,
        default=None,
        help="selection.json from `saliency select` (default: DATA/runs/select-GENERATOR/selection.json, else the generator's shipped one)",
    )
    p.add_argument(
        "--n",
        "--num-pairs",
        dest="n",
        type=positive_int,
        default=10_000,
        help="accepted pairs to write, over all processes (under torchrun write --num-pairs: torchrun reads --n as its own --nnodes)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DATA/runs/synth-GENERATOR)")
    p.add_argument("--shift", type=non_negative_float, default=None, help="shift magnitude (default: the selection's)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="candidates generated per batch")
    p.add_argument("--shard-size", type=positive_int, default=1000, help="pairs per shard directory")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the candidate stream")
    p.add_argument(
        "--shard",
        type=non_negative_int,
        default=0,
        help="this process writes shards shard, shard + num-shards, ... (0-based; under torchrun or srun: the rank)",
    )
    p.add_argument(
        "--num-shards", type=positive_int, default=1, help="number of processes sharing the work (under torchrun or srun: the world size)"
    )
    p.add_argument(
        "--format",
        choices=("png", "webdataset"),
        default="png",
        help="png: a folder per shard; webdataset: one tar per shard, for streaming training from storage",
    )
    p.add_argument(
        "--latents-from",
        type=Path,
        default=None,
        metavar="PHOTOS|FILE.npy",
        help="draw latents near real photos: E(photo) + noise for a folder of photos (with --inverter), or rows of an [N, d] "
        ".npy of latents + noise (the 2021 paper's released BigBiGAN embeddings, E-BigBiGAN: use --latent-noise 0 as it did)",
    )
    p.add_argument("--inverter", type=Path, default=None, help="with --latents-from: the encoder from `saliency invert`")
    p.add_argument(
        "--latent-noise",
        type=non_negative_float,
        default=0.5,
        help="with --latents-from: standard deviation of the Gaussian added to E(photo)",
    )
    add_mask_arguments(p)


def photo_latent_bank(args: argparse.Namespace, G, device):
    """--latents-from: the inverter's latents of a folder of photos, or the rows of a .npy file of
    latents (None without the flag)."""
    if not args.latents_from:
        return None
    if args.latents_from.suffix == ".npy":
        return latents_file(args.latents_from, G.latent_dim)
    from saliency.real_photos.inversion import load_inverter
    from saliency.synthesis import photo_latents

    if not args.inverter:
        raise UserError("--latents-from needs --inverter FILE from `saliency invert`")
    E, meta = load_inverter(args.inverter, device)
    if E.latent_dim != G.latent_dim or meta.get("generator") not in (None, generator_label(args)):
        raise UserError(f"{args.inverter} inverts {meta.get('generator')}, not {generator_label(args)}")
    return photo_latents(E, str(args.latents_from), G.resolution)


def latents_file(path: Path, latent_dim: int):
    """An [N, latent_dim] array of latents saved with numpy (no pickles), as float32 rows."""
    import numpy as np
    import torch

    if not path.is_file():
        raise UserError(f"--latents-from {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"--latents-from {path} is not a numpy array of latents ({e})") from None
    array = array.reshape(len(array), -1) if array.ndim > 2 else array
    if array.ndim != 2 or array.shape[1] != latent_dim or not len(array):
        raise UserError(f"--latents-from {path} holds an array of shape {array.shape}; the generator needs [N, {latent_dim}] latents")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def run(args: argparse.Namespace) -> None:
    take_launcher_part(args, "shard of pairs")
    device = device_from_args(args)
    selection_path = args.selection or default_selection(generator_label(args))
    if args.selection is None:
        print(f"selection: {selection_path} (pass --selection FILE for another)")
    selection = Selection.load(selection_path)
    if selection.generator not in (None, generator_label(args)):
        raise UserError(
            f"the selection was made for {selection.generator}, not {generator_label(args)}; pass {generator_flags(selection.generator)}"
        )
    classes = parse_classes(args.classes)
    G = generator_from_args(args, device)
    if len(selection.vector) != G.latent_dim:
        raise UserError(f"the selected direction has {len(selection.vector)} dims, {generator_label(args)} has {G.latent_dim}")
    mask = mask_spec_from_args(args, selection)
    weights_file = getattr(G, "weights_file", None)
    bank = photo_latent_bank(args, G, device)
    cfg = SynthConfig(
        generator=generator_label(args),
        direction=selection.vector,
        shift=args.shift if args.shift is not None else selection.shift,
        n=args.n,
        rule=mask.rule,
        threshold=mask.threshold,
        polarity=mask.polarity,
        filters=mask.filters.as_dict(),
        seed=args.seed,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        part=args.shard,
        num_parts=args.num_shards,
        weights_sha256=sha256_file(weights_file) if weights_file else None,
        classes=classes,
        latent_photos=str(args.latents_from) if args.latents_from else None,
        # what the latents came from: the inverter, or the .npy of latents itself
        inverter_sha256=sha256_file(args.inverter or args.latents_from) if args.latents_from else None,
        latent_noise=args.latent_noise if args.latents_from else 0.0,
        format=args.format,
    )
    out = args.out or runs_dir() / f"synth-{generator_label(args)}"
    manifest = synthesize(G, cfg, out, latent_bank=bank)
    if not manifest["complete"]:
        print(
            f"part {cfg.part} of {cfg.num_parts}: its {manifest['count']} pairs are in {out}; the process that completes the last shard writes the manifest"
        )
        return
    sheet = contact_sheet(out, out / "contact_sheet.png")
    print(
        f"{manifest['count']} pairs in {out} (acceptance {manifest['acceptance_rate']:.1%}; rejected: "
        + ", ".join(f"{k} {v:.1%}" for k, v in manifest["rejection_rate"].items())
        + f"; mean mask area {manifest['mean_mask_area']:.3f}, {manifest['mask_border_share']:.1%} of mask pixels in the outer 5% band); contact sheet {sheet}"
    )
