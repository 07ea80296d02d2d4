"""Label-free model selection: how well U-Nets agree with the pseudo-masks of held-out unlabeled
photos (the validation split `train-unet` holds out of a `pseudo-label` output, which no student
of that output trained on). Choices such as a round's variant or test-time flips are made by this
table, not by a benchmark's human masks.

Rows: every --model, and with --flip-tta each again with flip test-time augmentation; columns:
the papers' max F / IoU / accuracy against the pseudo-masks (object where the mask says so).
Run: `python benchmarks/heldout_agreement.py --pseudo data/runs/pseudo-round5 --model A --model B [--flip-tta]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.evaluator import PaperMetrics  # noqa: E402
from saliency.bench.predictors import make_predictor  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.images import read_mask, read_rgb  # noqa: E402
from saliency.pairs import find_pairs  # noqa: E402
from saliency.unet.data import split_pairs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pseudo", type=Path, required=True, help="a `saliency pseudo-label` output")
    p.add_argument("--model", action="append", required=True, help="checkpoint or 'shipped'; repeatable")
    p.add_argument("--flip-tta", action="store_true", help="also each model with flip test-time augmentation")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    _, held_out = split_pairs(find_pairs(args.pseudo))
    predictors = {m + ("+flip" if flip else ""): make_predictor(m, device, flip=flip) for m in args.model for flip in ((False, True) if args.flip_tta else (False,))}
    metrics = {label: PaperMetrics() for label in predictors}
    for image_path, mask_path in tqdm(held_out, desc="held-out photos"):
        image, gt = read_rgb(image_path), (read_mask(mask_path) > 127).astype(np.float32)
        for label, predictor in predictors.items():
            metrics[label].step(predictor(image), gt)
    rows = [{"model": label, "photos": len(held_out), **{k: round(v, 4) for k, v in m.get_results().items()}} for label, m in metrics.items()]
    report(f"heldout-{args.pseudo.name}", rows, device, args.out)


if __name__ == "__main__":
    main()
