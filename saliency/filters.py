"""Filters that reject bad synthetic samples, and the connected-component clean-up of masks.

Each filter returns a bool per sample (True = keep), so rejection rates can be reported per filter.
Defaults are the papers': area in (0.05, 0.5) (2020; 2021 keeps only the upper bound), at least two
peaks in the shifted image's 12-bin histogram smoothed by a width-3 box (2021), and components
smaller than 0.2 of the largest removed (2021).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from skimage.measure import label

from saliency.masks import grey


@dataclass
class FilterConfig:
    min_area: float = 0.05
    max_area: float = 0.5
    min_peaks: int = 2  # 0 disables the histogram check
    hist_bins: int = 12
    min_component: float = 0.2  # 0 disables the clean-up

    def as_dict(self) -> dict:
        return asdict(self)


def area_ok(masks: torch.Tensor, cfg: FilterConfig) -> torch.Tensor:
    area = masks.flatten(1).mean(1)
    return (area > cfg.min_area) & (area < cfg.max_area)


def histogram_peaks(images: torch.Tensor, bins: int = 12) -> torch.Tensor:
    """Local maxima of each image's grey histogram over [-1, 1], smoothed by a width-3 box."""
    g = grey(images).flatten(1).clamp(-1, 1)
    idx = ((g + 1) / 2 * bins).long().clamp_max(bins - 1)
    hist = torch.zeros(len(g), bins, device=g.device).scatter_add_(1, idx, torch.ones_like(g))
    padded = torch.nn.functional.pad(hist[:, None], (1, 1), mode="replicate")
    smooth = torch.nn.functional.avg_pool1d(padded, 3, stride=1)[:, 0]
    left = torch.nn.functional.pad(smooth, (1, 0), value=-1.0)[:, :-1]
    right = torch.nn.functional.pad(smooth, (0, 1), value=-1.0)[:, 1:]
    return ((smooth > left) & (smooth >= right) & (smooth > 0)).sum(1)


def peaks_ok(shifted: torch.Tensor, cfg: FilterConfig) -> torch.Tensor:
    if cfg.min_peaks <= 0:
        return torch.ones(len(shifted), dtype=torch.bool, device=shifted.device)
    return histogram_peaks(shifted, cfg.hist_bins) >= cfg.min_peaks


def keep_large_components(masks: torch.Tensor, min_fraction: float) -> torch.Tensor:
    """Drop 8-connected foreground components smaller than `min_fraction` of the largest."""
    if min_fraction <= 0:
        return masks
    out = masks.detach().cpu().numpy().copy()
    for i in range(len(out)):
        labels = label(out[i, 0] > 0.5, connectivity=2)
        if labels.max() <= 1:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
        out[i, 0] = np.isin(labels, keep).astype(out.dtype)
    return torch.from_numpy(out).to(masks.device)


def apply_filters(
    masks: torch.Tensor, shifted: torch.Tensor, cfg: FilterConfig
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Clean the masks, then judge them: returns (clean masks, keep flags, per-filter keep flags)."""
    clean = keep_large_components(masks, cfg.min_component)
    verdicts = {"area": area_ok(clean, cfg), "histogram": peaks_ok(shifted, cfg)}
    keep = torch.stack(list(verdicts.values())).all(0)
    return clean, keep, verdicts
