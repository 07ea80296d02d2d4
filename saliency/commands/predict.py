"""`saliency predict`: apply a trained model to your own images.

For each image writes OUT/STEM_map.png (soft saliency, 0-255), OUT/STEM_mask.png (0/255 at
--threshold) and, with --cutout, OUT/STEM_cutout.png (the image with a transparent background).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from saliency.bench.predictors import UNetPredictor
from saliency.device import pick_device
from saliency.errors import UserError
from saliency.files import atomic_write
from saliency.unet.data import IMAGE_SUFFIXES, read_rgb


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("--checkpoint", type=Path, default=None, help="model from `saliency train-unet` (default: the saliency model shipped with the package)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--threshold", type=float, default=0.5, help="binary mask threshold on the soft map")
    p.add_argument("--cutout", action="store_true", help="also write RGBA cut-outs with a transparent background")
    p.add_argument("--short-side", type=int, default=128, help="resize so the short side is this before predicting (papers: 128)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def expand(paths: list[Path]) -> list[Path]:
    files = []
    for p in paths:
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith("."))
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"no such image or folder: {p}")
    if not files:
        raise UserError("no images found in " + ", ".join(map(str, paths)))
    return files


def write_png(path: Path, array: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise UserError(f"could not encode {path}")
    with atomic_write(path, "wb") as f:
        f.write(buf.tobytes())


def run(args: argparse.Namespace) -> None:
    if args.checkpoint is None:
        from saliency.unet.model import shipped_model

        args.checkpoint = shipped_model()
        print(f"model: {args.checkpoint} (the shipped one; --checkpoint FILE for another)")
    predictor = UNetPredictor(args.checkpoint, pick_device(args.device), args.short_side)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in tqdm(expand(args.images), desc="predict"):
        image = read_rgb(path)
        soft = predictor(image)
        mask = (soft > args.threshold).astype(np.uint8) * 255
        write_png(args.out / f"{path.stem}_map.png", (soft * 255).round().astype(np.uint8))
        write_png(args.out / f"{path.stem}_mask.png", mask)
        if args.cutout:
            rgba = np.dstack([cv2.cvtColor(image, cv2.COLOR_RGB2BGR), mask])
            write_png(args.out / f"{path.stem}_cutout.png", rgba)
    print(f"wrote maps and masks to {args.out}")
