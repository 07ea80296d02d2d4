"""How much of the frame a model marks as object, by how much the true object covers.

A model that learnt a size rather than an object marks about the same share of every photo: too
much where the object is small (the sky or the field around a bird lights up), too little where it
fills the frame. Per image: the true object's share of the frame, the predicted share (map >= 0.5),
IoU and accuracy at 0.5; rows bin the images by true share (under 5%, 5-15%, 15-35%, over 35%),
with the mean of each column, then all images (and, for compositions, each scale).

Two sources of "truth":
- a benchmark set with its human masks (`--dataset duts-te --root ...`, any set `saliency bench`
  reads, or your own folder with `--images DIR --masks DIR`): for measuring only;
- `--compose PSEUDO` (label-free): held-out photos of a `saliency pseudo-label` output, each
  zoomed out into another held-out photo at fixed scales (`saliency.unet.data.zoom_out`), the
  object's share known exactly from its pseudo-mask; pixels the composition leaves unsure are
  not scored. It asks the same question with no human mask, so rounds can be judged by it.

Run: `python benchmarks/area_by_size.py --model shipped --dataset duts-te --root ../shared/datasets/DUTS-TE-dev`
or   `python benchmarks/area_by_size.py --model shipped --compose data/runs/pseudo-round11`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.datasets import LAYOUTS, BenchmarkSet, open_dataset, open_folder  # noqa: E402
from saliency.bench.object_size import by_size, image_row  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.images import read_mask, read_rgb  # noqa: E402
from saliency.pairs import BACKGROUND_BELOW, OBJECT_ABOVE, find_pairs  # noqa: E402
from saliency.predictors import REFINE_HELP, REFINERS, TTA_CHOICES, TTA_HELP, make_predictor, refined, tta_flip  # noqa: E402
from saliency.unet.data import split_pairs, zoom_out  # noqa: E402

COMPOSE_SCALES = (1.0, 0.6, 0.35)


def benchmark_images(dataset: BenchmarkSet) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]]:
    for _, image, gt in dataset:
        yield image, gt.astype(bool), None, {}


def compositions(pseudo: Path, limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]]:
    """Each held-out photo at each of COMPOSE_SCALES inside the next held-out photo (seeded):
    truth = its pseudo-mask's object, scored where the composition's mask is sure."""
    _, held_out = split_pairs(find_pairs(pseudo))
    held_out = held_out[:limit]
    for i, (image_path, mask_path) in enumerate(held_out):
        image, mask = read_rgb(image_path), read_mask(mask_path)
        canvas_image, canvas_mask = (read_rgb(held_out[(i + 1) % len(held_out)][0]), read_mask(held_out[(i + 1) % len(held_out)][1]))
        for scale in COMPOSE_SCALES:
            rng = np.random.default_rng([i, int(scale * 100)])
            x, m = (image, mask) if scale == 1.0 else zoom_out(image, mask, canvas_image, canvas_mask, scale, rng)
            yield x, m > OBJECT_ABOVE, (m > OBJECT_ABOVE) | (m < BACKGROUND_BELOW), {"scale": scale}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="checkpoint, 'shipped' or a baseline")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=list(LAYOUTS), help="a benchmark set with human masks (measuring only)")
    source.add_argument("--images", type=Path, help="your own folder of photos, with --masks (paired by file name, as `saliency bench`)")
    source.add_argument(
        "--compose", type=Path, metavar="PSEUDO", help="label-free: zoom-out compositions of a pseudo-label output's held-out photos"
    )
    p.add_argument("--root", type=Path, default=None, help="with --dataset: its folder")
    p.add_argument("--masks", type=Path, default=None, help="with --images: the masks' folder")
    p.add_argument("--short-side", type=int, default=None, help="U-Net input short side (default: as the model file records, else 128)")
    p.add_argument("--tta", choices=TTA_CHOICES, default="auto", help=TTA_HELP)
    p.add_argument("--refine", choices=REFINERS, default="none", help=REFINE_HELP)
    p.add_argument("--limit", type=int, default=None, help="first N images (held-out photos with --compose)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="JSON path (default: DATA/benchmarks/area_by_size.json)")
    args = p.parse_args()
    device = pick_device(args.device)
    predictor = refined(make_predictor(args.model, device, args.short_side, tta_flip(args.tta)), args.refine)
    if args.images and not args.masks:
        p.error("--images needs --masks")
    if args.compose:
        images, source = compositions(args.compose, args.limit), str(args.compose)
    else:
        dataset = (
            open_folder(args.images, args.masks, limit=args.limit)
            if args.images
            else open_dataset(args.dataset, args.root, limit=args.limit)
        )
        images, source = benchmark_images(dataset), dataset.name
    rows = [
        {**image_row(predictor(x), truth, scored), **extra}
        for x, truth, scored, extra in tqdm(images, desc=f"area by size {predictor.name}")
    ]
    table = by_size(rows)
    print(f"{predictor.name} on {source}")
    report("area_by_size", [{"model": predictor.name, "source": source, **r} for r in table], device, args.out)


if __name__ == "__main__":
    main()
