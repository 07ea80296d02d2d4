"""What the classical saliency maps share: each stage of each method rescales its cue to [0, 1]
before combining it with the next, so that no cue's units decide its weight."""

from __future__ import annotations

import numpy as np


def min_max(v: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """v rescaled to [0, 1] (zeros where v is constant, which carries no cue); in dtype if given."""
    lo, hi = float(v.min()), float(v.max())
    out = (v - lo) / (hi - lo) if hi > lo else np.zeros(v.shape)
    return out.astype(dtype) if dtype is not None else out


def region_means(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of each channel of `values` ([H, W, C], or [H * W, C]) over each region of `labels`
    ([H, W], consecutive from 0): [n, C], the descriptor every region-based method starts from."""
    flat = labels.ravel()
    n = int(flat.max()) + 1
    v = values.reshape(flat.size, -1)
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    return np.stack([np.bincount(flat, v[:, c], n) for c in range(v.shape[1])], 1) / counts[:, None]
