"""`saliency pseudo-label`: pseudo-masks for a folder of unlabeled photos from teachers.

Teachers (repeatable `--teacher`; maps averaged, or weighted by agreement with `--fusion agree`):
a `train-unet` checkpoint, a baseline of `saliency bench` (`wctr`, `mbplus`, `mr`, ...), or `gan` (the generator itself: the photo is inverted with
`--inverter` from `saliency invert`, shifted along the `--selection` direction and masked; photos
the generator reconstructs badly are dropped). Writes OUT/pairs.json (read by `train-unet --data`),
OUT/masks/, OUT/pseudo_masks.png and OUT/summary.json; rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliency.commands.common import (
    add_generator_arguments,
    add_part_arguments,
    device_from_args,
    generator_flags,
    generator_from_args,
    generator_label,
    non_negative_float,
    positive_int,
    take_launcher_part,
    unit_float,
)
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--photos", type=Path, required=True, help="folder of unlabeled photos (searched recursively)")
    p.add_argument(
        "--teacher",
        action="append",
        required=True,
        help="train-unet checkpoint, 'shipped', a bench baseline (wctr, mbplus, mr, ...) or 'gan'; repeatable (maps fused by --fusion)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DATA/runs/pseudo-PHOTOS)")
    add_part_arguments(p, "photo")
    add_pseudo_label_arguments(p)


def add_pseudo_label_arguments(p: argparse.ArgumentParser) -> None:
    from saliency.real_photos.pseudo_labels import PseudoMaskSettings

    defaults = PseudoMaskSettings()
    g = p.add_argument_group("pseudo-masks")
    g.add_argument(
        "--margin",
        type=non_negative_float,
        default=defaults.margin,
        help="object above 0.5 + margin, background below 0.5 - margin, unsure between (no loss)",
    )
    g.add_argument(
        "--adaptive",
        action="store_true",
        help="centre the band on each map's adaptive threshold (2 x its mean, at most 0.5) and scale it alike: whole objects from a cautious teacher",
    )
    g.add_argument("--keep", type=unit_float, default=defaults.keep, help="share of photos kept, those with the most sure pixels first")
    g.add_argument("--limit", type=positive_int, default=None, help="first N photos only")
    g.add_argument(
        "--fusion",
        choices=("mean", "agree"),
        default=defaults.fusion,
        help="several teachers: average their maps, or weight each per photo by its agreement with the others",
    )
    g.add_argument("--refine", action="store_true", help="snap the fused map's edges onto the photo's (guided filter) before thresholding")
    g.add_argument(
        "--confidence",
        action="store_true",
        help="per-pixel loss weight rising from 0 at the threshold to 1 at the band's edge, instead of a hard sure/unsure band",
    )
    g.add_argument(
        "--rank",
        choices=("sure", "agreement"),
        default=defaults.rank,
        help="which photos --keep keeps: most sure pixels, or sure share x teacher agreement",
    )
    g.add_argument(
        "--fill-holes",
        action="store_true",
        help="make background that the object encloses part of the object (solid subjects; a gap open to the background stays)",
    )
    g.add_argument(
        "--grow",
        action="store_true",
        help="grow the fused map over the rest of its object: GrabCut seeded where the map is >= 0.9 / <= 0.1, averaged with the map",
    )
    g.add_argument("--inverter", type=Path, default=None, help="with --teacher gan: the inversion encoder from `saliency invert`")
    g.add_argument(
        "--selection", type=Path, default=None, help="with --teacher gan: selection.json (default: the generator's latest or shipped one)"
    )
    g.add_argument(
        "--short-side",
        type=positive_int,
        default=None,
        help="U-Net input: resize so the short side is this (default: the size the model was trained at, as its file records; the papers' U-Nets: 128)",
    )
    g.add_argument(
        "--map-cache",
        type=Path,
        default=None,
        help="where the classical teachers' maps are kept for later rounds (default: DATA/cache/teacher-maps)",
    )
    g.add_argument("--no-map-cache", action="store_true", help="compute every classical teacher's map afresh and keep none")
    g.add_argument(
        "--map-workers",
        type=positive_int,
        default=1,
        help="processes that compute the classical teachers' maps into the map cache first (default 1: one at a time, as pseudo-labelling goes)",
    )


def pseudo_label_options(args: argparse.Namespace) -> dict:
    """The pseudo-mask settings of `add_pseudo_label_arguments`, as PseudoLabelConfig fields."""
    from saliency.real_photos.pseudo_labels import PSEUDO_MASK_FIELDS

    return {k: getattr(args, k) for k in PSEUDO_MASK_FIELDS}


def teacher_factory(args: argparse.Namespace, device):
    """name -> teacher, from the pseudo-mask flags: a classical method (a function of the photo
    alone) reads and fills the map cache, so a later round pays only for its new student; a U-Net
    runs at --short-side (default: its own training size); `gan` is the generator through its
    inverter. `self-train` makes each round's teachers with it."""
    from saliency.predictors import CLASSICAL, make_predictor
    from saliency.real_photos.map_cache import CachedMaps

    def make(name: str):
        if name == "gan":
            return gan_teacher(args, device)
        if name in CLASSICAL and not args.no_map_cache:
            return CachedMaps(make_predictor(name, device), map_folder(args))
        return make_predictor(name, device, args.short_side)

    return make


def map_folder(args: argparse.Namespace) -> Path:
    from saliency.paths import data_dir

    return args.map_cache or data_dir() / "cache" / "teacher-maps"


def build_teachers(args: argparse.Namespace, device) -> list:
    """The teachers of --teacher; with `--map-workers N` the classical ones' maps are computed
    into the map cache first, N photos at a time."""
    from saliency.errors import UserError
    from saliency.predictors import CLASSICAL

    classical = [name for name in args.teacher if name in CLASSICAL]
    if args.map_workers > 1 and classical:
        if args.no_map_cache:
            raise UserError("--map-workers N computes the classical teachers' maps into the map cache; it cannot go with --no-map-cache")
        from saliency.images import list_photos
        from saliency.real_photos.map_cache import fill_cache

        fill_cache(classical, map_folder(args), list_photos(args.photos)[: args.limit], args.map_workers)
    make = teacher_factory(args, device)
    return [make(name) for name in args.teacher]


def gan_teacher(args: argparse.Namespace, device):
    """`--teacher gan`: the generator, its inverter and its selection, checked to belong together."""
    from saliency.errors import UserError
    from saliency.real_photos.inversion import GanTeacher, load_inverter
    from saliency.selection import Selection, default_selection

    if not args.inverter:
        raise UserError("--teacher gan needs --inverter FILE from `saliency invert`")
    E, meta = load_inverter(args.inverter, device)
    G = generator_from_args(args, device)
    if meta.get("generator") not in (None, generator_label(args)) or E.latent_dim != G.latent_dim:
        raise UserError(
            f"{args.inverter} inverts {meta.get('generator')}, not {generator_label(args)}; pass {generator_flags(meta.get('generator'))}"
        )
    return GanTeacher(G, E, Selection.load(args.selection or default_selection(generator_label(args))))


def run(args: argparse.Namespace) -> None:
    from saliency.real_photos.pseudo_labels import PseudoLabelConfig, label_photos

    take_launcher_part(args, "photo")
    device = device_from_args(args)
    cfg = PseudoLabelConfig(photos=str(args.photos), teachers=list(args.teacher), **pseudo_label_options(args))
    out = args.out or runs_dir() / f"pseudo-{args.photos.name}"
    summary = label_photos(cfg, build_teachers(args, device), out, shard=args.shard, num_shards=args.num_shards)
    if not summary["complete"]:
        return
    print(
        f"{summary['kept']} of {summary['photos']} photos kept (sure pixels {summary['mean_sure_kept']:.0%}, object area {summary['mean_area_kept']:.2f}): "
        f"{out / 'pairs.json'}; picture {out / 'pseudo_masks.png'}"
    )
