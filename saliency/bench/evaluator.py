"""All metrics of a benchmark run, pysodmetrics-style: `step(pred, gt)` per image, `get_results()`.

Two families, reported side by side:
- the papers' (2021 code, saliency.metrics): max F-beta over 255 thresholds of the raw soft map
  with per-image F averaged, IoU and accuracy at 0.5 per image; beside it, for the record, the
  same max F with beta^2 squared again (0.09), the variant that SelfMask / FOUND / PEEKABOO's
  code computes (saliency.bench.published);
- the field's standard set through pysodmetrics: MAE, S-measure, E-measure (max/mean/adaptive),
  weighted F, F-measure (max/mean/adaptive) and the PR curve. pysodmetrics min-max normalises
  each map and quantises it to 256 levels with `>=`; the 2021 code uses the raw map with `>`
  at k/255. Both average F per image, so their max F agree closely but not exactly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import py_sod_metrics as sod
import torch

from saliency.metrics import BETA2, per_image_accuracy, per_image_fbeta_curve, per_image_iou


class PaperMetrics:
    def __init__(self) -> None:
        self.f_curves: list[np.ndarray] = []
        self.f_curves_squared: list[np.ndarray] = []  # beta^2 = 0.09: the inflated variant some code reports
        self.ious: list[float] = []
        self.accs: list[float] = []

    def step(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        p = torch.from_numpy(pred.astype(np.float32))[None, None]
        g = torch.from_numpy(gt.astype(np.float32))[None, None]
        f = per_image_fbeta_curve(p, g)[0].numpy()
        self.f_curves_squared.append(per_image_fbeta_curve(p, g, BETA2**2)[0].numpy())
        iou, acc = float(per_image_iou(p, g)), float(per_image_accuracy(p, g))
        self.f_curves.append(f)
        self.ious.append(iou)
        self.accs.append(acc)
        return {"max_f": float(f.max()), "iou": iou, "accuracy": acc}

    def get_results(self) -> dict[str, float]:
        return {
            "max_fbeta": float(np.mean(self.f_curves, axis=0).max()),
            "max_fbeta_beta2_squared": float(np.mean(self.f_curves_squared, axis=0).max()),
            "iou": float(np.mean(self.ious)),
            "accuracy": float(np.mean(self.accs)),
        }


class FieldMetrics:
    def __init__(self) -> None:
        self.mae, self.sm, self.em, self.wfm = sod.MAE(), sod.Smeasure(), sod.Emeasure(), sod.WeightedFmeasure()
        self.fm = sod.FmeasureV2(
            metric_handlers={
                "fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=0.3),
                "p": sod.PrecisionHandler(with_dynamic=True, with_adaptive=False),
                "r": sod.RecallHandler(with_dynamic=True, with_adaptive=False),
            }
        )

    def step(self, pred: np.ndarray, gt: np.ndarray) -> None:
        p = (np.clip(pred, 0, 1) * 255).round().astype(np.uint8)
        g = gt.astype(np.uint8) * 255
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for m in (self.mae, self.sm, self.em, self.wfm, self.fm):
                m.step(pred=p, gt=g)

    def get_results(self) -> dict[str, Any]:
        em = self.em.get_results()["em"]
        fm = self.fm.get_results()
        return {
            "mae": float(self.mae.get_results()["mae"]),
            "s_measure": float(self.sm.get_results()["sm"]),
            "max_e_measure": float(np.max(em["curve"])),
            "mean_e_measure": float(np.mean(em["curve"])),
            "adaptive_e_measure": float(em["adp"]),
            "weighted_f": float(self.wfm.get_results()["wfm"]),
            "max_f": float(np.max(fm["fm"]["dynamic"])),
            "mean_f": float(np.mean(fm["fm"]["dynamic"])),
            "adaptive_f": float(fm["fm"]["adaptive"]),
            "pr_curve": {"precision": fm["p"]["dynamic"].tolist(), "recall": fm["r"]["dynamic"].tolist()},
        }


class Evaluator:
    """Both families at once; per-image paper metrics are returned by `step` for best/worst picks."""

    def __init__(self, field: bool = True) -> None:
        self.paper = PaperMetrics()
        self.field = FieldMetrics() if field else None

    def step(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        if self.field:
            self.field.step(pred, gt)
        return self.paper.step(pred, gt)

    def get_results(self) -> dict[str, Any]:
        return {**self.paper.get_results(), **({"field": self.field.get_results()} if self.field else {})}
