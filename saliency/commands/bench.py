"""`saliency bench`: stage 5, measure saliency models on a benchmark set or on your own folder.

Sets, in their official layouts (`--dataset`, with `--root DIR` or `--download`): the saliency
sets ECSSD, DUTS-TE, DUT-OMRON, HKU-IS and PASCAL-S, and the object sets CUB-200-2011 and
Flowers-102 that the GAN papers also report; or any folder of photos and masks
(`--images DIR --masks DIR`, paired by file name). `--model` takes a checkpoint from
`saliency train-unet`, 'shipped' or a baseline, and may be repeated. Each run adds
results-MODEL.json to --out and rewrites the table over every model measured there (results.md,
results.json), the PR curves (pr_curves.png) and a best/worst grid per model (grid-MODEL.png).
`--protocol` says whose protocol leads the table (saliency.bench.published); `--compare-with`
prints the published rows measured under the same one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from saliency.bench.datasets import LAYOUTS, BenchmarkSet, is_present, open_dataset, open_folder
from saliency.bench.evaluator import Evaluator
from saliency.bench.published import PROTOCOLS, SOURCES, comparable
from saliency.bench.report import plot_pr_curves, qualitative_grid, slug, write_table
from saliency.commands.common import positive_int
from saliency.device import pick_device
from saliency.errors import UserError
from saliency.files import write_json
from saliency.paths import runs_dir
from saliency.predictors import (
    BASELINES,
    REFINE_HELP,
    REFINERS,
    TTA_CHOICES,
    TTA_HELP,
    UPSAMPLE_CHOICES,
    UPSAMPLE_HELP,
    make_predictor,
    refined,
    tta_flip,
    upsampler,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sets = "; ".join(f"{name}: {spec.protocol}" for name, spec in LAYOUTS.items())
    p.add_argument(
        "--dataset", choices=list(LAYOUTS), default=None, help=f"benchmark set, in its official layout (default: ecssd). Protocols: {sets}"
    )
    p.add_argument("--root", type=Path, default=None, help="dataset folder (default: DATA/datasets/NAME, then ../shared/datasets/NAME)")
    g = p.add_argument_group("your own labelled folder (instead of --dataset)")
    g.add_argument("--images", type=Path, default=None, help="folder of photos (nested folders allowed, any image suffix)")
    g.add_argument("--masks", type=Path, default=None, help="folder of masks, paired with the photos by file name (any suffix)")
    g.add_argument("--name", default=None, help="the set's name in tables and the output folder (default: the photos folder's name)")
    g.add_argument("--mask-threshold", type=int, default=128, help="mask values at or above this are object (1-255)")
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="papers",
        help="whose metrics lead the table: " + "; ".join(f"{k}: {v}" for k, v in PROTOCOLS.items()),
    )
    p.add_argument(
        "--compare-with",
        action="append",
        choices=[*SOURCES, "all"],
        default=None,
        help="print the published rows of this source on the set, each marked comparable or not under --protocol (repeatable)",
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"checkpoint file, 'shipped', 'voynov2021-unet' (the 2021 paper's released U-Net, or its .pth) or a baseline ({', '.join(BASELINES)}); repeatable (default: center-prior, wctr, the shipped model and the newest trained U-Net)",
    )
    p.add_argument("--out", type=Path, default=None, help="results directory (default: DATA/runs/bench/DATASET)")
    p.add_argument(
        "--short-side",
        type=positive_int,
        default=None,
        help="U-Net input: resize so the short side is this (default: the size the model was trained at, as its file records; the papers' U-Nets: 128)",
    )
    p.add_argument("--tta", choices=TTA_CHOICES, default="auto", help=TTA_HELP)
    p.add_argument("--upsample", choices=UPSAMPLE_CHOICES, default="auto", help=UPSAMPLE_HELP)
    p.add_argument("--refine", choices=REFINERS, default="none", help=REFINE_HELP)
    p.add_argument(
        "--download", action="store_true", help="fetch the set from its official source into DATA/datasets if it is not found (online only)"
    )
    p.add_argument("--skip-bad", action="store_true", help="skip (and list) unreadable or mismatched files instead of stopping")
    p.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N images (quick looks; not comparable to published figures)"
    )
    p.add_argument("--no-field-metrics", action="store_true", help="papers' metrics only (faster)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def open_set(args: argparse.Namespace) -> BenchmarkSet:
    """The set the flags name: --images/--masks (a user's folder) or --dataset (default ecssd)."""
    if args.images or args.masks:
        if not (args.images and args.masks) or args.dataset:
            raise UserError("a folder of your own takes --images DIR and --masks DIR together, and no --dataset")
        return open_folder(args.images, args.masks, args.name, args.mask_threshold, skip_bad=args.skip_bad, limit=args.limit)
    dataset = args.dataset or "ecssd"
    if args.download and args.root is None and not is_present(dataset):
        from saliency.bench.download import download_dataset

        download_dataset(dataset)
    return open_dataset(dataset, args.root, skip_bad=args.skip_bad, limit=args.limit)


def evaluate(predictor, dataset, field: bool = True, progress: bool = True, thumb: int = 96) -> tuple[dict, list[dict]]:
    evaluator, records = Evaluator(field=field), []
    t0 = time.perf_counter()
    predict_s = 0.0
    for sample, image, gt in tqdm(dataset, total=len(dataset), desc=f"bench {predictor.name}", disable=not progress):
        t = time.perf_counter()
        pred = predictor(image)
        predict_s += time.perf_counter() - t
        per_image = evaluator.step(pred, gt)
        records.append(
            {
                "stem": sample.stem,
                **per_image,
                "image": cv2.resize(image, (thumb, thumb), interpolation=cv2.INTER_AREA),
                "gt": cv2.resize(gt.astype(np.uint8) * 255, (thumb, thumb), interpolation=cv2.INTER_AREA),
                "pred": cv2.resize((pred * 255).astype(np.uint8), (thumb, thumb), interpolation=cv2.INTER_AREA),
            }
        )
    total = time.perf_counter() - t0
    result = evaluator.get_results()
    result["timing"] = {
        "seconds": round(total, 2),
        "predict_seconds": round(predict_s, 2),
        "images_per_s": round(len(records) / max(total, 1e-9), 2),
    }
    return result, records


def latest_trained() -> Path | None:
    """The newest best.safetensors under DATA/runs (train-unet, self-train and demo runs)."""
    found = [p for p in runs_dir().rglob("best.safetensors") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def default_models() -> list[str]:
    """What `bench` measures when no --model is given, each printed so nothing is silent."""
    from saliency.unet.model import SHIPPED_MODEL

    models = ["center-prior", "wctr"]
    if SHIPPED_MODEL.is_file():
        models.append("shipped")
    latest = latest_trained()
    if latest:
        models.append(str(latest))
    print("models: " + ", ".join(models) + " (pass --model for others)")
    return models


def run(args: argparse.Namespace) -> None:
    device = pick_device(args.device)
    dataset = open_set(args)
    if dataset.unpaired:
        shown = dataset.unpaired[:20]
        more = f"\n  ... and {len(dataset.unpaired) - len(shown)} more" if len(dataset.unpaired) > len(shown) else ""
        print(f"{len(dataset.unpaired)} unpaired file(s) left out:\n  " + "\n  ".join(shown) + more)
    out = args.out or runs_dir() / "bench" / slug(dataset.name)
    out.mkdir(parents=True, exist_ok=True)
    full_set = args.limit is None and dataset.name in LAYOUTS and len(dataset) == LAYOUTS[dataset.name].expected
    for name in args.model or default_models():
        predictor = refined(make_predictor(name, device, args.short_side, tta_flip(args.tta), upsampler(args.upsample)), args.refine)
        result, records = evaluate(predictor, dataset, field=not args.no_field_metrics)
        result.update(
            {
                "model": predictor.name,
                "checkpoint": str(Path(name).resolve()) if Path(name).exists() else None,
                "dataset": dataset.name,
                "root": str(dataset.root),
                "images": len(records),
                "full_set": full_set,
                "protocol": args.protocol,
                "protocol_text": f"{PROTOCOLS[args.protocol]}; set: {dataset.protocol}; U-Nets at short side "
                f"{getattr(predictor, 'short_side', None) or args.short_side or 'as each model file records'} (+flip: with flip TTA, +guided: map upsampled along the photo's edges)",
                "skipped": dataset.skipped,
                "unpaired": dataset.unpaired,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        write_json(out / f"results-{slug(predictor.name)}.json", result)
        qualitative_grid(records, out / f"grid-{slug(predictor.name)}.png")
        if dataset.skipped:
            print(f"skipped {len(dataset.skipped)} file(s):\n  " + "\n  ".join(dataset.skipped))
    print(write_table(out, dataset.name, args.protocol))
    plot_pr_curves(out, dataset.name)
    for line in comparable(dataset.name, args.protocol, args.compare_with, full_set) if args.compare_with else []:
        print(f"published: {line}")
    print(f"\nresults: {out / 'results.md'}, {out / 'pr_curves.png'}")
