"""Label-free model selection: how well U-Nets agree with the pseudo-masks of held-out unlabeled
photos (the validation split `train-unet` holds out of a `pseudo-label` output, which no student
of that output trained on). Choices such as a round's variant or test-time flips are made by this
table, not by a benchmark's human masks.

Rows: every --model, and with --flip-tta each again with flip test-time augmentation; columns:
the papers' max F / IoU / accuracy against the pseudo-masks (object where the mask says so).
With --close-ups each model is also scored on close-ups of the held-out photos' objects (the crop
`train-unet --close-up` trains on, one per photo whose pseudo-mask holds a whole object, against
the same crop of its pseudo-mask): whether a model keeps a subject whole when it fills the frame.
With --upsample-proxy SIDE each model also predicts at that short side and its map is brought
back to the photo's size by each upsampler (bilinear, guided): scored against the pseudo-masks
and against the model's own map at full size ("own map", > 0.5), which no guided filter made.
It stands in for a benchmark photo, which the model sees at a fraction of its size.
With --exclude-trained OTHER (repeatable) the held-out photos that sit in OTHER's training split
are left out: a neutral reference (e.g. pseudo-masks of the classical teachers alone, no student
among them) scored only on photos that none of the compared students trained on.
Run: `python benchmarks/heldout_agreement.py --pseudo data/runs/pseudo-round5 --model A --model B [--flip-tta] [--close-ups] [--upsample-proxy 64]`.
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
from saliency.device import pick_device  # noqa: E402
from saliency.images import read_mask, read_rgb  # noqa: E402
from saliency.pairs import find_pairs  # noqa: E402
from saliency.predictors import UPSAMPLERS, make_predictor  # noqa: E402
from saliency.unet.data import close_up_crop, split_pairs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pseudo", type=Path, required=True, help="a `saliency pseudo-label` output")
    p.add_argument("--model", action="append", required=True, help="checkpoint or 'shipped'; repeatable")
    p.add_argument("--flip-tta", action="store_true", help="also each model with flip test-time augmentation")
    p.add_argument("--close-ups", action="store_true", help="also score each model on a close-up of each held-out photo's object")
    p.add_argument(
        "--upsample-proxy",
        type=int,
        default=None,
        metavar="SIDE",
        help="also predict at this short side and upsample by each method (see above)",
    )
    p.add_argument(
        "--exclude-trained",
        type=Path,
        action="append",
        default=[],
        metavar="PSEUDO",
        help="leave out held-out photos in this pseudo-label output's training split; repeatable",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    _, held_out = split_pairs(find_pairs(args.pseudo))
    if args.exclude_trained:
        trained = {image.resolve() for other in args.exclude_trained for image, _ in split_pairs(find_pairs(other))[0]}
        kept = [(image, mask) for image, mask in held_out if image.resolve() not in trained]
        print(
            f"{len(held_out) - len(kept)} of {len(held_out)} held-out photos left out: in the training split of {', '.join(map(str, args.exclude_trained))}"
        )
        held_out = kept
    variants = {m + ("+flip" if flip else ""): (m, flip) for m in args.model for flip in ((False, True) if args.flip_tta else (False,))}
    predictors = {label: make_predictor(m, device, flip=flip, upsample="bilinear") for label, (m, flip) in variants.items()}
    views = ("photo", "close-up") if args.close_ups else ("photo",)
    metrics = {(label, view): PaperMetrics() for label in predictors for view in views}
    # (label of the full-size model whose own map is the reference, label of the row) -> predictor
    upsampled = (
        {
            (label, f"{label}@{args.upsample_proxy}px+{method}"): make_predictor(m, device, args.upsample_proxy, flip=flip, upsample=method)
            for label, (m, flip) in variants.items()
            for method in UPSAMPLERS
        }
        if args.upsample_proxy
        else {}
    )
    for _, label in upsampled:
        metrics[label, "photo"], metrics[label, "own map"] = PaperMetrics(), PaperMetrics()
    counts = dict.fromkeys(views + (("own map",) if upsampled else ()), 0)
    for i, (image_path, mask_path) in enumerate(tqdm(held_out, desc="held-out photos")):
        image, mask = read_rgb(image_path), read_mask(mask_path)
        shown = {"photo": (image, mask)}
        if args.close_ups and (crop := close_up_crop(image, mask, np.random.default_rng(i))) is not None:
            shown["close-up"] = crop
        own = {}
        for view, (x, m) in shown.items():
            counts[view] += 1
            for label, predictor in predictors.items():
                own[label, view] = predictor(x)
                metrics[label, view].step(own[label, view], (m > 127).astype(np.float32))
        if upsampled:
            counts["own map"] += 1
            for (reference, label), predictor in upsampled.items():
                soft = predictor(image)
                metrics[label, "photo"].step(soft, (mask > 127).astype(np.float32))
                metrics[label, "own map"].step(soft, (own[reference, "photo"] > 0.5).astype(np.float32))
    rows = [
        {"model": label, "view": view, "photos": counts[view], **{k: round(v, 4) for k, v in m.get_results().items()}}
        for (label, view), m in metrics.items()
    ]
    report(f"heldout-{args.pseudo.name}", rows, device, args.out)


if __name__ == "__main__":
    main()
