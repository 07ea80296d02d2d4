"""Label-free teachers on a benchmark set: each alone, fused (mean / agreement-weighted), and
each fusion refined on the photo; images/s of every teacher on this machine.

Every teacher's map is computed once per image and the fusions are made from those maps, so a
fusion row costs no more teacher time. Masks only measure here; nothing is chosen by them.
Run: `python benchmarks/teachers.py [--teacher wctr --teacher mbplus ...] [--limit N]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.datasets import open_dataset  # noqa: E402
from saliency.bench.evaluator import PaperMetrics  # noqa: E402
from saliency.classical.fusion import fuse  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.predictors import make_predictor  # noqa: E402
from saliency.real_photos.refine import refine  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ecssd")
    p.add_argument("--teacher", action="append", default=None, help="repeatable (default: wctr, mbplus, mr, shipped)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    names = args.teacher or ["wctr", "mbplus", "mr", "shipped"]
    teachers = [make_predictor(n, device) for n in names]
    classical = [n for n in names if n != "shipped" and not Path(n).exists()]
    groups = [tuple(names)] + ([tuple(classical)] if len(classical) > 1 and len(classical) < len(names) else [])
    groups += [g for g in combinations(classical, 2) if len(classical) > 2]
    rows_spec = [(n, (n,), "mean", False) for n in names]
    for g in groups:
        for rule in ("mean", "agree"):
            rows_spec.append((f"{rule}:{'+'.join(g)}", g, rule, False))
            rows_spec.append((f"{rule}:{'+'.join(g)} + refine", g, rule, True))
    metrics = {r[0]: PaperMetrics() for r in rows_spec}
    mae = {r[0]: [] for r in rows_spec}
    seconds = dict.fromkeys(names, 0.0)
    data = open_dataset(args.dataset, limit=args.limit)
    for _, image, gt in tqdm(data, total=len(data), desc="teachers"):
        maps = {}
        for n, t in zip(names, teachers):
            t0 = time.perf_counter()
            maps[n] = t(image)
            seconds[n] += time.perf_counter() - t0
        for label, members, rule, refined in rows_spec:
            m = fuse([maps[x] for x in members], rule)
            if refined:
                m = refine(m, image)
            metrics[label].step(m, gt)
            mae[label].append(float(np.abs(m - gt).mean()))
    rows = []
    for label, members, rule, refined in rows_spec:
        r = metrics[label].get_results()
        rows.append(
            {
                "teacher": label,
                "max_fbeta": round(r["max_fbeta"], 4),
                "iou": round(r["iou"], 4),
                "accuracy": round(r["accuracy"], 4),
                "mae": round(float(np.mean(mae[label])), 4),
                "img_per_s": round(len(data) / seconds[label], 2) if label in seconds else "",
            }
        )
    report(f"teachers-{args.dataset}", rows, device, args.out)


if __name__ == "__main__":
    main()
