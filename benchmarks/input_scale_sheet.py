"""One picture of where a U-Net trained on GAN pairs stops working: its maps on its own synthetic
pairs, on those pairs pasted onto real photos, and on real photos fed at several input sizes.
A map that lights the frame instead of the subject shows at which step the transfer breaks.

Run: `python benchmarks/input_scale_sheet.py --model data/runs/demo-objects-64/unet/best.safetensors
--pairs data/runs/demo-objects-64/synth --photos PHOTOS [--sizes 64,96,128] --out sheet.png`
(PHOTOS: any folder of unlabeled photos; default: scikit-image's bundled ones).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from saliency.images import bundled_photos, center_square, list_photos, read_mask, read_rgb
from saliency.pairs import find_pairs
from saliency.predictors import UNetPredictor
from saliency.unet.data import background_crop, paste_object
from saliency.viz import image_grid, save_png

CELL = 96


def as_cell(a: np.ndarray) -> torch.Tensor:
    """uint8 RGB or a map in [0, 1] -> [3, CELL, CELL] in [-1, 1]."""
    a = cv2.resize(a, (CELL, CELL), interpolation=cv2.INTER_AREA if a.shape[0] > CELL else cv2.INTER_LINEAR)
    t = torch.from_numpy(a.astype(np.float32))
    t = t / 127.5 - 1 if a.dtype == np.uint8 else t * 2 - 1
    return t.permute(2, 0, 1) if t.ndim == 3 else t[None].expand(3, -1, -1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a train-unet file")
    p.add_argument("--pairs", type=Path, required=True, help="the synth output it was trained on")
    p.add_argument("--photos", type=Path, default=None, help="unlabeled photos: backgrounds and the photo rows")
    p.add_argument("--sizes", default="64,96,128", help="input short sides for the photo rows")
    p.add_argument("--n", type=int, default=6, help="columns")
    p.add_argument("--out", type=Path, default=Path("input_scale_sheet.png"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    trained_at = UNetPredictor(args.model, torch.device("cpu")).short_side
    at = {s: UNetPredictor(args.model, torch.device("cpu"), short_side=s, flip=False) for s in map(int, args.sizes.split(","))}
    own = at.get(trained_at) or UNetPredictor(args.model, torch.device("cpu"), short_side=trained_at, flip=False)
    pairs = [(read_rgb(i), read_mask(m)) for i, m in find_pairs(args.pairs)[: args.n]]
    if args.photos:
        photos = [read_rgb(q) for q in list_photos(args.photos)[: 4 * args.n : 4]]
    else:
        photos = list(bundled_photos().values())[: args.n]
    rows, labels = [], []
    rows += [torch.stack([as_cell(i) for i, _ in pairs]), torch.stack([as_cell(own(i)) for i, _ in pairs])]
    labels += ["GAN pair", f"map @{trained_at}"]
    pasted = [
        paste_object(background_crop(center_square(b, 128), trained_at, rng), *pair, rng, (0.35, 0.9)) for b, pair in zip(photos, pairs)
    ]
    rows += [torch.stack([as_cell(i) for i, _ in pasted]), torch.stack([as_cell(own(i)) for i, _ in pasted])]
    labels += ["pasted", f"map @{trained_at}"]
    rows.append(torch.stack([as_cell(center_square(q, CELL)) for q in photos]))
    labels.append("photo")
    for size, predictor in at.items():
        rows.append(
            torch.stack([as_cell(center_square((predictor(q) * 255).astype(np.uint8)[..., None].repeat(3, 2), CELL)) for q in photos])
        )
        labels.append(f"map @{size}")
    print(f"wrote {save_png(image_grid(rows, labels, label_width=80), args.out)}")


if __name__ == "__main__":
    main()
