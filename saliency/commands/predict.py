"""`saliency predict`: maps, masks and cut-outs for your own photos (the shipped model by default).

Folder in, folder out: every image under the given folders (recursively; the output mirrors the
folders) gets OUT/NAME_map.png (soft saliency, 0-255), OUT/NAME_mask.png (0/255 at
--threshold) and, with --cutout, OUT/NAME_cutout.png (RGBA, background transparent), all at the
photo's own resolution: the map is upsampled with the photo as guide (saliency.cutout), so its
edges follow the photo's. Each file is written atomically; a rerun skips photos whose outputs
exist, so a run over 10,000 photos survives a kill. A file that cannot be read does not stop
the run: the others are processed and the unreadable ones are listed at the end (exit code 3;
a usage error is 2).
Under torchrun or srun (or with --shard i --num-shards n by hand) each process takes every n-th
photo of the sorted list, on its own GPU; the union of their outputs is a one-process run's.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from saliency.commands.common import add_part_arguments, positive_int, take_launcher_part, unit_float
from saliency.cutout import OUTPUTS, render
from saliency.errors import PartlyDone, UserError, plural
from saliency.files import remove_partial_writes, write_png
from saliency.images import is_image_file, try_read_rgb
from saliency.predictors import REFINE_HELP, REFINERS, TTA_CHOICES, TTA_HELP, UPSAMPLERS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", type=Path, help="image files or folders of images (searched recursively)")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="model from `saliency train-unet` (default: the saliency model shipped with the package)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (mirrors the input folders)")
    p.add_argument("--threshold", type=unit_float, default=0.5, help="binary mask threshold on the soft map")
    p.add_argument("--cutout", action="store_true", help="also write RGBA cut-outs with a transparent background")
    p.add_argument(
        "--upsample",
        choices=UPSAMPLERS,
        default="guided",
        help="map to full resolution: guided by the photo's edges, or a plain resize (the benchmarks' protocol)",
    )
    p.add_argument(
        "--short-side",
        type=positive_int,
        default=None,
        help="U-Net input: resize so the short side is this (default: the size the model was trained at, as its file records; the papers' U-Nets: 128)",
    )
    p.add_argument("--tta", choices=TTA_CHOICES, default="auto", help=TTA_HELP)
    p.add_argument("--refine", choices=REFINERS, default="none", help=REFINE_HELP)
    p.add_argument("--overwrite", action="store_true", help="redo photos whose outputs exist (default: a rerun skips them)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (CUDA absent: a warning, then the CPU)")
    add_part_arguments(p, "photo")


def expand(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(photo, output name without suffix): folders searched recursively, names relative to them.
    Files are listed by suffix, not opened: an unreadable one fails later, in the run's report."""
    items = []
    for p in paths:
        if p.is_dir():
            items += [(q, q.relative_to(p).with_suffix("")) for q in sorted(p.rglob("*")) if q.is_file() and is_image_file(q)]
        elif p.is_file():
            items.append((p, Path(p.stem)))
        else:
            raise UserError(f"no such image or folder: {p}")
    if not items:
        raise UserError("no images found in " + ", ".join(map(str, paths)))
    clashes = {name for name, n in Counter(name for _, name in items).items() if n > 1}
    # photo.jpg beside photo.png: both keep their suffix in the name instead of overwriting each other
    return [(src, name.with_name(src.name.replace(".", "_")) if name in clashes else name) for src, name in items]


def outputs(out: Path, name: Path, cutout: bool) -> list[Path]:
    return [out / name.parent / f"{name.name}_{kind}.png" for kind in OUTPUTS[: 3 if cutout else 2]]


def run(args: argparse.Namespace) -> None:
    from saliency.api import load
    from saliency.device import describe

    if args.checkpoint is None:
        from saliency.unet.model import shipped_model

        args.checkpoint = shipped_model()
        print(f"model: {args.checkpoint} (the shipped one; --checkpoint FILE for another)")
    take_launcher_part(args, "photo")
    items = expand(args.images)[args.shard :: args.num_shards]
    todo = [(src, name) for src, name in items if args.overwrite or not all(p.exists() for p in outputs(args.out, name, args.cutout))]
    remove_partial_writes([path for _, name in todo for path in outputs(args.out, name, args.cutout)])  # left by a kill
    model = load(args.checkpoint, args.device, args.short_side, args.tta, args.upsample, args.refine)
    print(
        f"device: {describe(model.device)}; {plural(len(items), 'image')}, {len(items) - len(todo)} already done (skipped; --overwrite redoes them)"
    )
    failed: list[tuple[Path, str]] = []
    for src, name in tqdm(todo, desc="predict", unit="img"):
        image, why = try_read_rgb(src)
        if image is None:
            failed.append((src, why))
            continue
        soft = model.map(image)
        for kind, path in zip(OUTPUTS, outputs(args.out, name, args.cutout)):
            write_png(path, render(kind, image, soft, args.threshold))
    done = len(todo) - len(failed)
    print(f"wrote {plural(done, 'image')} to {args.out}" + (" (maps, masks, cut-outs)" if args.cutout else " (maps, masks)"))
    if failed:
        listing = "\n".join(f"  {path}: {why}" for path, why in failed)
        raise PartlyDone(
            f"{len(failed)} of {len(items)} file(s) could not be read; every other image was written:\n{listing}\n"
            "fix or remove them and rerun the same command: finished images are skipped"
        )
