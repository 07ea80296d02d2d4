"""Evaluation throughput on ECSSD: U-Net inference images/s, and the time of our metrics against
pysodmetrics run alone on the same maps.

`ours` = the papers' metrics (saliency.metrics) plus the pysodmetrics suite, as `saliency bench`
computes them; `pysodmetrics alone` = MAE, S, E, weighted F and F-measure without ours.
Run: `python benchmarks/eval_speed.py [--limit 200] [--device cuda]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.datasets import open_dataset  # noqa: E402
from saliency.bench.evaluator import Evaluator, FieldMetrics, PaperMetrics  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.predictors import UNetPredictor  # noqa: E402
from saliency.unet.model import new_model, save_model  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="model to time (default: a random-weight resnet18 U-Net)")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    ckpt = args.checkpoint
    if ckpt is None:
        ckpt = Path(tempfile.mkdtemp()) / "random.safetensors"
        save_model(ckpt, new_model())
    predictor = UNetPredictor(ckpt, device)
    data = list(open_dataset("ecssd", limit=args.limit))
    t = time.perf_counter()
    maps = [predictor(image) for _, image, _ in data]
    infer = len(data) / (time.perf_counter() - t)

    def timed(factory) -> float:
        m = factory()
        t = time.perf_counter()
        for pred, (_, _, gt) in zip(maps, data):
            m.step(pred, gt)
        m.get_results()
        return time.perf_counter() - t

    t_all, t_paper, t_field = timed(Evaluator), timed(PaperMetrics), timed(FieldMetrics)
    rows = [
        {"stage": "inference (U-Net, short side 128)", "images": len(data), "img_per_s": round(infer, 2), "ratio_to_pysodmetrics": ""},
        {
            "stage": "metrics: ours (papers' + pysodmetrics)",
            "images": len(data),
            "img_per_s": round(len(data) / t_all, 2),
            "ratio_to_pysodmetrics": round(t_all / t_field, 3),
        },
        {
            "stage": "metrics: papers' only",
            "images": len(data),
            "img_per_s": round(len(data) / t_paper, 2),
            "ratio_to_pysodmetrics": round(t_paper / t_field, 3),
        },
        {
            "stage": "metrics: pysodmetrics alone",
            "images": len(data),
            "img_per_s": round(len(data) / t_field, 2),
            "ratio_to_pysodmetrics": 1.0,
        },
    ]
    report("eval_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
