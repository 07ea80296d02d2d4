"""What `--refine grabcut` costs: photos per second of a model as `saliency predict` runs it (flip
TTA as its file says, guided upsampling to the photo's size), without and with GrabCut, on the
same photos in one run (the ratio is the figure to quote on a shared machine).

Run: `python benchmarks/refine_speed.py [--model shipped] [--limit 100] [--dataset ecssd]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.datasets import LAYOUTS, open_dataset  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.predictors import REFINERS, make_predictor, refined  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="shipped")
    p.add_argument("--dataset", choices=list(LAYOUTS), default="ecssd")
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    photos = [image for _, image, _ in open_dataset(args.dataset, args.root, limit=args.limit)]
    base = make_predictor(args.model, device, upsample="guided")
    rows = []
    for refine in REFINERS:
        predictor = refined(base, refine)
        predictor(photos[0])  # warm-up
        t = time.perf_counter()
        for image in photos:
            predictor(image)
        seconds = time.perf_counter() - t
        rows.append({"model": predictor.name, "refine": refine, "photos": len(photos), "img_per_s": round(len(photos) / seconds, 2)})
    for r in rows:
        r["relative"] = round(r["img_per_s"] / rows[0]["img_per_s"], 3)
    report("refine_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
