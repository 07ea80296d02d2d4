"""`saliency bench`: stage 5, measure saliency models on ECSSD, DUTS-TE or DUT-OMRON.

`--model` takes a checkpoint from `saliency train-unet` or a baseline (center-prior,
spectral-residual, wctr), and may be repeated. Each run adds results-MODEL.json to --out and rewrites
the table over every model measured there (results.md, results.json), the PR curves
(pr_curves.png) and a best/worst grid per model (grid-MODEL.png).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from saliency.bench.datasets import LAYOUTS, candidate_roots, open_dataset
from saliency.bench.evaluator import Evaluator
from saliency.bench.report import plot_pr_curves, qualitative_grid, slug, write_table
from saliency.device import pick_device
from saliency.files import write_json
from saliency.paths import runs_dir
from saliency.predictors import BASELINES, TTA_CHOICES, TTA_HELP, UPSAMPLE_CHOICES, UPSAMPLE_HELP, make_predictor, tta_flip, upsampler


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=sorted(LAYOUTS), default="ecssd", help="benchmark set, in its official layout")
    p.add_argument("--root", type=Path, default=None, help="dataset folder (default: DATA/datasets/NAME, then ../shared/datasets/NAME)")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"checkpoint file, 'shipped' or a baseline ({', '.join(BASELINES)}); repeatable (default: center-prior, wctr, the shipped model and the newest trained U-Net)",
    )
    p.add_argument("--out", type=Path, default=None, help="results directory (default: DATA/runs/bench/DATASET)")
    p.add_argument(
        "--short-side",
        type=int,
        default=None,
        help="U-Net input: resize so the short side is this (default: the size the model was trained at, as its file records; the papers' U-Nets: 128)",
    )
    p.add_argument("--tta", choices=TTA_CHOICES, default="auto", help=TTA_HELP)
    p.add_argument("--upsample", choices=UPSAMPLE_CHOICES, default="auto", help=UPSAMPLE_HELP)
    p.add_argument(
        "--download", action="store_true", help="fetch the set from its official source into DATA/datasets if it is not found (online only)"
    )
    p.add_argument("--skip-bad", action="store_true", help="skip (and list) unreadable or mismatched files instead of stopping")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (quick looks; not comparable to published figures)")
    p.add_argument("--no-field-metrics", action="store_true", help="papers' metrics only (faster)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


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
    if args.download and args.root is None and not any((r / LAYOUTS[args.dataset].images).is_dir() for r in candidate_roots(args.dataset)):
        from saliency.bench.download import download_dataset

        download_dataset(args.dataset)
    dataset = open_dataset(args.dataset, args.root, skip_bad=args.skip_bad, limit=args.limit)
    out = args.out or runs_dir() / "bench" / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    for name in args.model or default_models():
        predictor = make_predictor(name, device, args.short_side, tta_flip(args.tta), upsampler(args.upsample))
        result, records = evaluate(predictor, dataset, field=not args.no_field_metrics)
        result.update(
            {
                "model": predictor.name,
                "checkpoint": str(Path(name).resolve()) if Path(name).exists() else None,
                "dataset": args.dataset,
                "root": str(dataset.root),
                "images": len(records),
                "protocol": f"short side {getattr(predictor, 'short_side', None) or args.short_side or 'as each model file records'} for U-Nets (+flip: with flip TTA), map resized back (+guided: guided by the photo's edges); GT >= 128; per-image metrics averaged",
                "skipped": dataset.skipped,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        write_json(out / f"results-{slug(predictor.name)}.json", result)
        qualitative_grid(records, out / f"grid-{slug(predictor.name)}.png")
        if dataset.skipped:
            print(f"skipped {len(dataset.skipped)} file(s):\n  " + "\n  ".join(dataset.skipped))
    print(write_table(out, args.dataset))
    plot_pr_curves(out, args.dataset)
    print(f"\nresults: {out / 'results.md'}, {out / 'pr_curves.png'}")
