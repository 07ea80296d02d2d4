"""Benchmark outputs: results table (markdown + JSON), PR curves of several models, best/worst grid."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from saliency.bench.published import PROTOCOLS
from saliency.errors import plural
from saliency.files import atomic_write, write_json
from saliency.viz import image_grid, save_png

PAPER_COLUMNS = [("max F-beta", "max_fbeta"), ("IoU", "iou"), ("accuracy", "accuracy")]
FIELD_COLUMNS = [
    ("max F (field)", "field.max_f"),
    ("MAE", "field.mae"),
    ("S-measure", "field.s_measure"),
    ("max E", "field.max_e_measure"),
    ("mean E", "field.mean_e_measure"),
    ("weighted F", "field.weighted_f"),
    ("mean F", "field.mean_f"),
    ("adaptive F", "field.adaptive_f"),
]
# the protocol's own metrics lead; the other family follows
COLUMNS = {
    "papers": [("model", "model"), ("images", "images"), *PAPER_COLUMNS, *FIELD_COLUMNS],
    "field": [("model", "model"), ("images", "images"), *FIELD_COLUMNS, *PAPER_COLUMNS],
}
SORT_KEY = {"papers": "max_fbeta", "field": "field.max_f"}


def _get(result: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        result = result.get(part, {}) if isinstance(result, dict) else {}
    return result


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def results_table(results: list[dict[str, Any]], protocol: str = "papers") -> str:
    columns = COLUMNS[protocol]
    lines = ["| " + " | ".join(c for c, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        cells = []
        for _, key in columns:
            v = _get(r, key)
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v) if v != {} else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("results-*.json"))]


def write_table(out: Path, dataset: str, protocol: str = "papers") -> str:
    """results.md and results.json over every model measured in `out`, led by `protocol`'s
    metrics; a row measured under another protocol says so in its name."""
    results = load_results(out)
    for r in results:
        measured = r.get("protocol") if r.get("protocol") in PROTOCOLS else "papers"  # older files: the papers' protocol
        if measured != protocol:
            r["model"] = f"{r['model']} (protocol: {measured})"
    results.sort(key=lambda r: -(_get(r, SORT_KEY[protocol]) or 0))
    table = results_table(results, protocol)
    header = ""
    if results:
        r = results[0]
        header = f"# {dataset}: {plural(r['images'], 'image')}{'' if r.get('full_set', True) else ' (not the full set)'}\n\nProtocol: {r.get('protocol_text', r['protocol'])}\n\n"
    squared = [f"{r['model']} {r['max_fbeta_beta2_squared']:.3f}" for r in results if "max_fbeta_beta2_squared" in r]
    note = (
        "\n\nmax F-beta with beta^2 squared again (0.09, as SelfMask / FOUND / PEEKABOO's code computes it; not comparable with the "
        "papers' rows): " + ", ".join(squared) + "\n"
        if squared
        else "\n"
    )
    with atomic_write(out / "results.md", "w") as f:
        f.write(header + table + note)
    write_json(out / "results.json", {"dataset": dataset, "protocol": protocol, "results": results})
    return table


def plot_pr_curves(out: Path, dataset: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for r in load_results(out):
        pr = _get(r, "field.pr_curve")
        if pr:
            ax.plot(pr["recall"], pr["precision"], label=f"{r['model']} (max F {r['max_fbeta']:.3f})")
    ax.set_xlabel("recall"), ax.set_ylabel("precision"), ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_title(f"{dataset}: precision-recall (pysodmetrics, per-image mean)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower left")
    else:
        ax.text(0.5, 0.5, "no PR curve: run without --no-field-metrics", ha="center", va="center")
    fig.tight_layout()
    path = out / "pr_curves.png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def qualitative_grid(records: list[dict[str, Any]], path: Path, k: int = 6, size: int = 96) -> Path:
    """Best and worst images by per-image max F: rows of image, ground truth, prediction (k of
    each, fewer on a set of under 2k images, so that no image is in both rows but a lone one)."""
    ranked = sorted(records, key=lambda r: -r["max_f"])
    k = max(1, min(k, len(ranked) // 2))

    def tile(a: np.ndarray) -> torch.Tensor:
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
        t = torch.from_numpy(a).float() / 127.5 - 1
        return t.permute(2, 0, 1) if t.ndim == 3 else t[None]

    rows, labels = [], []
    for group, items in (("best", ranked[:k]), ("worst", ranked[-k:])):
        rows += [
            torch.stack([tile(r["image"]) for r in items]),
            torch.stack([tile(r["gt"]) for r in items]),
            torch.stack([tile(r["pred"]) for r in items]),
        ]
        labels += [f"{group}: image", "ground truth", "prediction"]
    return save_png(image_grid(rows, labels, label_width=90), path)
