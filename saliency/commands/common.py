"""Flags shared by every stage that runs a generator."""

from __future__ import annotations

import argparse

from saliency.errors import UserError
from saliency.generators.registry import DEFAULT_GENERATOR


def _number(kind, test, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its message
    return parse


# argparse types: a bad number is one line from argparse (exit 2), never a silent wrong run
positive_int = _number(int, lambda v: v >= 1, "a whole number of at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number of at least 0")
positive_float = _number(float, lambda v: v > 0, "a number above 0")
non_negative_float = _number(float, lambda v: v >= 0, "a number of at least 0")
unit_float = _number(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def parse_classes(text: str | None) -> list[int] | None:
    if not text or text == "all":
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UserError(f"--classes takes 'all' or comma-separated class ids, got {text!r}") from None


def add_generator_arguments(p: argparse.ArgumentParser, default: str = DEFAULT_GENERATOR) -> None:
    g = p.add_argument_group("generator")
    g.add_argument("--generator", default=default, help="backend name (see `saliency generators`) or package.module:factory for your own")
    g.add_argument("--weights", default=None, help="weights file to load instead of the cache/download (offline use)")
    g.add_argument("--classes", default="all", help="class-conditional models: 'all' or ids like 239,207; fixed per sample while z moves")
    g.add_argument("--truncation", type=positive_float, default=None, help="BigGAN-deep, StyleGAN2: truncation in (0, 1] (default 1.0)")
    g.add_argument(
        "--space",
        choices=("z", "w"),
        default="z",
        help="latent space the directions live in: z, or StyleGAN's mapped w (the shift applied after the mapping network)",
    )
    add_device_arguments(p)


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=non_negative_int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels (cuDNN autotuning off): a rerun on the same machine repeats bit for bit, also on CUDA, somewhat slower",
    )


def device_from_args(args: argparse.Namespace):
    """Threads, determinism and the device, as the flags of add_device_arguments ask."""
    import torch

    from saliency.device import make_deterministic, pick_device

    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    if getattr(args, "deterministic", False):
        make_deterministic()
    return pick_device(args.device)


def generator_label(args: argparse.Namespace) -> str:
    """The generator as runs and files name it: the backend, with "@w" when its W space is used,
    so a direction found in W is never applied in Z (their sizes agree for StyleGAN2)."""
    return args.generator + ("@w" if getattr(args, "space", "z") == "w" else "")


def generator_flags(label: str) -> str:
    """The flags that name a generator label: "stylegan2@w" -> "--generator stylegan2 --space w"."""
    name, _, space = label.partition("@")
    return f"--generator {name}" + (f" --space {space}" if space else "")


def generator_from_args(args: argparse.Namespace, device):
    """The frozen generator the flags describe, on `device`."""
    from saliency.generators import build_generator

    extra = {"truncation": args.truncation} if getattr(args, "truncation", None) is not None else {}
    return build_generator(
        args.generator, weights=args.weights, device=device, classes=parse_classes(args.classes), space=getattr(args, "space", "z"), **extra
    )


def add_mask_arguments(p: argparse.ArgumentParser) -> None:
    """Mask rule and filter flags; unset ones come from the selection file or the generator's defaults."""
    from saliency.masks import RULES

    m = p.add_argument_group("masks and filters")
    m.add_argument("--rule", choices=sorted(RULES), default=None, help="intensity (2020), diff (2020) or lighting (2021)")
    m.add_argument("--threshold", type=unit_float, default=None, help="mask threshold (intensity: 0.95, diff: 0.5)")
    m.add_argument("--polarity", choices=("light", "dark"), default=None, help="intensity rule: the background turns light or dark")
    m.add_argument("--min-area", type=unit_float, default=None, help="reject masks covering less than this share (paper: 0.05)")
    m.add_argument("--max-area", type=unit_float, default=None, help="reject masks covering more than this share (paper: 0.5)")
    m.add_argument(
        "--min-peaks",
        type=non_negative_int,
        default=None,
        help="reject shifted images whose 12-bin histogram has fewer peaks (2021: 2; 0 disables)",
    )
    m.add_argument(
        "--min-component",
        type=unit_float,
        default=None,
        help="drop mask components smaller than this share of the largest (2021: 0.2; 0 disables)",
    )


def mask_spec_from_args(args: argparse.Namespace, base=None):
    """MaskSpec from flags over `base` (a Selection: its file's settings over its generator's
    defaults) or, without one, over the generator's defaults."""
    from saliency.filters import FilterConfig
    from saliency.selection import MaskSpec, default_mask_spec

    base = base.mask_spec(args.generator) if base is not None else default_mask_spec(args.generator)
    filters = base.filters.as_dict() | {
        name: getattr(args, name) for name in ("min_area", "max_area", "min_peaks", "min_component") if getattr(args, name) is not None
    }
    return MaskSpec(
        rule=args.rule or base.rule,
        threshold=args.threshold if args.threshold is not None else base.threshold,
        polarity=args.polarity or base.polarity,
        filters=FilterConfig(**filters),
    )


def launcher_rank() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's or SLURM's environment, if either set one up."""
    import os

    for rank, world, local in (("RANK", "WORLD_SIZE", "LOCAL_RANK"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")):
        if int(os.environ.get(world, "1")) > 1:
            return int(os.environ[rank]), int(os.environ[world]), int(os.environ.get(local, "0"))
    return None


def add_part_arguments(p: argparse.ArgumentParser, unit: str) -> None:
    """--shard / --num-shards for a command that splits a sorted list of `unit`s across processes."""
    p.add_argument(
        "--shard",
        type=non_negative_int,
        default=0,
        help=f"this process takes {unit}s shard, shard + num-shards, ... of the sorted list (under torchrun or srun: the rank)",
    )
    p.add_argument(
        "--num-shards",
        type=positive_int,
        default=1,
        help="processes sharing the work (under torchrun or srun: the world size); together they write what one process would",
    )


def take_launcher_part(args: argparse.Namespace, unit: str) -> None:
    """Under torchrun / srun, this process's part (--shard / --num-shards) and GPU from the
    launcher's environment; `unit` names what the parts split, for the message."""
    import torch

    from saliency.errors import UserError

    launched = launcher_rank()
    if launched and args.num_shards == 1:  # one part per process, one GPU per local rank
        args.shard, args.num_shards, local = launched
        if args.device in ("auto", "cuda") and torch.cuda.is_available():
            args.device = f"cuda:{local % torch.cuda.device_count()}"
        print(f"part {args.shard} of {args.num_shards} (from the launcher's environment) on {args.device}")
    if not 0 <= args.shard < args.num_shards:
        raise UserError(f"--shard must be in [0, {args.num_shards}): each of --num-shards processes takes every {args.num_shards}th {unit}")
