"""How ECSSD grows with training: every snapshot of one or more `train-unet --snapshot-every`
runs measured on ECSSD (the papers' metrics), with the CPU-seconds each took to reach.

Prints a table, writes JSON and a curve (max F-beta and IoU against steps and against
training seconds). ECSSD only measures here; no choice inside the pipeline reads it.
Run: `python benchmarks/budget_curve.py RUN_DIR [RUN_DIR ...] [--limit 300]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.bench.datasets import open_dataset  # noqa: E402
from saliency.commands.bench import evaluate  # noqa: E402
from saliency.device import pick_device  # noqa: E402
from saliency.paths import data_dir  # noqa: E402
from saliency.predictors import UNetPredictor  # noqa: E402


def seconds_at(run: Path) -> dict[int, float]:
    """Training seconds at each logged step, from the run's images/s log (single process)."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "images_per_s" in line]
    batch = json.loads((run / "summary.json").read_text())["config"]["batch_size"] if (run / "summary.json").exists() else None
    return {r["step"]: r["step"] * batch / r["images_per_s"] for r in rows} if batch else {}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="train-unet run directories with snapshots/")
    p.add_argument("--limit", type=int, default=None, help="first N ECSSD images (default: all 1000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    dataset = open_dataset("ecssd", limit=args.limit)
    rows = []
    for run in args.runs:
        seconds = seconds_at(run)
        for snap in sorted((run / "snapshots").glob("step-*.safetensors")):
            step = int(snap.stem.split("-")[1])
            result, _ = evaluate(UNetPredictor(snap, device), dataset, field=False, progress=False)
            near = min(seconds, key=lambda s: abs(s - step)) if seconds else None
            rows.append(
                {
                    "run": run.name,
                    "step": step,
                    "train_seconds": round(seconds[near] * step / near) if near else None,
                    "max_fbeta": round(result["max_fbeta"], 4),
                    "iou": round(result["iou"], 4),
                    "accuracy": round(result["accuracy"], 4),
                }
            )
    report("budget_curve", rows, device, args.out)
    plot(rows, Path(args.out).with_suffix(".png") if args.out else data_dir() / "benchmarks" / "budget_curve.png")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        for ax, key in zip(axes, ("max_fbeta", "iou")):
            ax.plot([r["step"] for r in mine], [r[key] for r in mine], "o-", label=run)
            ax.set_xlabel("training step"), ax.set_ylabel(f"ECSSD {key}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
