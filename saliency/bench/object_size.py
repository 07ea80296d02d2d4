"""How much of the frame a model marks as object, by how much the true object covers: the table of
`benchmarks/area_by_size.py` (per-image rows, binned by true share), kept in the package so the
benchmark and the tests share one implementation."""

from __future__ import annotations

import numpy as np

BINS = ((0.0, 0.05, "under 5%"), (0.05, 0.15, "5-15%"), (0.15, 0.35, "15-35%"), (0.35, 1.01, "over 35%"))


def image_row(pred: np.ndarray, truth: np.ndarray, scored: np.ndarray | None = None) -> dict[str, float]:
    """One image: true share, predicted share, IoU and accuracy at 0.5 (over `scored` pixels)."""
    if scored is None:
        scored = np.ones(truth.shape, bool)
    p, t = pred[scored] >= 0.5, truth[scored]
    union = (p | t).sum()
    return {
        "true_share": float(t.mean()),
        "pred_share": float(p.mean()),
        "iou": float((p & t).sum() / union) if union else 1.0,
        "accuracy": float((p == t).mean()),
    }


COLUMNS = ("true_share", "pred_share", "iou", "accuracy")


def summary_row(label: str, members: list[dict[str, float]]) -> dict:
    return {"true object share": label, "images": len(members), **{k: round(float(np.mean([r[k] for r in members])), 3) for k in COLUMNS}}


def by_size(rows: list[dict[str, float]]) -> list[dict]:
    """The table: per bin of true share, the count and the mean of each column; then all images;
    then, where rows carry the composition's scale, one row per scale."""
    table = [summary_row(label, members) for lo, hi, label in BINS if (members := [r for r in rows if lo <= r["true_share"] < hi])]
    table.append(summary_row("all", rows))
    for scale in sorted({r["scale"] for r in rows if "scale" in r}, reverse=True):
        table.append(summary_row(f"scale {scale:g}", [r for r in rows if r.get("scale") == scale]))
    return table
