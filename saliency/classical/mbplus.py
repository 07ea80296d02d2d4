"""MB+: minimum barrier salient object detection (Zhang, Sclaroff, Lin, Shen, Price, Mech, ICCV 2015).

A fast classical teacher that looks at a photo differently from wCtr: no superpixels, a
per-pixel distance to the frame that is the *barrier* of the best path (the highest minus the
lowest value met on it), so a background that changes slowly stays near 0 and an object walled
off by an edge rises. Implemented from the paper with the parameter values of the authors'
release:

1. the photo at long side 300 (INTER_AREA; smaller photos as they are), in CIE-Lab (OpenCV's 8-bit), each channel median
   filtered (5x5);
2. FastMBD: from the frame pixels (distance 0), raster and inverse-raster scans that keep the
   lowest and highest value of the best path to each pixel; the three channels' distances added;
3. the image-boundary contrast map: each of the four 10% margins gives a whitened colour
   distance (covariance + 50 I), each normalised, summed less their maximum (a margin that
   holds the object is outvoted by the other three);
4. MBD + boundary contrast, times a centre map (1 - normalised distance to the centre),
   smoothed by opening- then closing-by-reconstruction with a square of width
   max(3, 50 sqrt(mean)), and a sigmoid (b = 10) around the mean of the two halves' means.

The scans update whole rows (then whole columns) at a time so that numpy does the inner loop:
each sweep is the paper's update from one neighbour, a round sweeps down, right, up and left,
and 3 rounds stand for the release's 3 raster passes. The release's removal of artificial frames is left out:
DUTS and ECSSD photos have none.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import reconstruction

from saliency.classical.maps import min_max


def _sweep(feat: np.ndarray, dist: np.ndarray, low: np.ndarray, high: np.ndarray, reverse: bool) -> None:
    """One pass of the barrier update down the rows (up with `reverse`), each row taking the
    path of the row before it where that gives a lower barrier. Arrays are updated in place."""
    n = feat.shape[0]
    lo, hi, barrier = (np.empty(feat.shape[1:], feat.dtype) for _ in range(3))
    better = np.empty(feat.shape[1:], bool)
    step = 1 if reverse else -1
    for i in range(n - 2, 0, -1) if reverse else range(1, n - 1):
        np.minimum(low[i + step], feat[i], out=lo)
        np.maximum(high[i + step], feat[i], out=hi)
        np.subtract(hi, lo, out=barrier)
        np.less(barrier, dist[i], out=better)
        np.copyto(dist[i], barrier, where=better)
        np.copyto(low[i], lo, where=better)
        np.copyto(high[i], hi, where=better)


def minimum_barrier_distance(feat: np.ndarray, rounds: int = 3) -> np.ndarray:
    """[H, W, C] float features -> [H, W, C] approximate minimum barrier distance to the frame."""
    dist = np.full(feat.shape, np.inf, np.float32)
    dist[0], dist[-1], dist[:, 0], dist[:, -1] = 0, 0, 0, 0
    state = [feat.astype(np.float32), dist, feat.astype(np.float32), feat.astype(np.float32)]
    for _ in range(rounds):
        for reverse in (False, True):
            for _axis in range(2):  # rows, then columns (as rows of the transposed arrays)
                _sweep(*state, reverse=reverse)
                state = [np.ascontiguousarray(a.transpose(1, 0, 2)) for a in state]
    return state[1]


def boundary_contrast(image: np.ndarray, margin: float = 0.1, cov_reg: float = 50.0) -> np.ndarray:
    """Whitened L1 colour distance to each frame margin; three of four margins must agree."""
    img = image.astype(np.float32)
    h, w = img.shape[:2]
    rows, cols = max(1, round(margin * h)), max(1, round(margin * w))
    flat = img.reshape(-1, 3)
    maps = []
    for region in (img[:rows], img[-rows:], img[:, :cols], img[:, -cols:]):
        r = region.reshape(-1, 3).astype(np.float64)
        cov = np.cov(r, rowvar=False) + cov_reg * np.eye(3)
        u, s, _ = np.linalg.svd(cov)
        whiten = u / np.sqrt(s)[None, :]
        maps.append(min_max(np.abs((flat - r.mean(0)) @ whiten).sum(1), np.float32))
    stack = np.stack(maps, 1)
    return min_max((stack.sum(1) - stack.max(1)).reshape(h, w), np.float32)


def _centre_map(h: int, w: int) -> np.ndarray:
    y = np.linspace(-0.5, 0.5, h)[:, None] * h / max(h, w)
    x = np.linspace(-0.5, 0.5, w)[None, :] * w / max(h, w)
    return 1 - min_max(np.sqrt(y**2 + x**2), np.float32)


def _morph_smooth(m: np.ndarray, width: int) -> np.ndarray:
    """Opening by reconstruction, then closing by reconstruction (removes specks, fills holes)."""
    kernel = np.ones((width, width), np.uint8)
    u8 = (m * 255).round().astype(np.uint8)
    opened = reconstruction(cv2.erode(u8, kernel), u8, method="dilation")
    dilated = cv2.dilate(opened.astype(np.uint8), kernel).astype(np.float64)
    closed = 255 - reconstruction(255 - dilated, 255 - opened, method="dilation")
    return min_max(closed, np.float32)


def _enhance_contrast(m: np.ndarray, b: float) -> np.ndarray:
    t = 0.5 * m.max()
    upper, lower = m[m >= t], m[m < t]
    centre = 0.5 * ((upper.mean() if upper.size else t) + (lower.mean() if lower.size else t))
    return 1 / (1 + np.exp(-b * (m - centre)))


def mbplus(image: np.ndarray, max_dim: int = 300, smooth_alpha: float = 50.0, contrast_b: float = 10.0) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> saliency map float32 [H, W] in [0, 1]."""
    H, W = image.shape[:2]
    scale = min(1.0, max_dim / max(H, W))  # down to the paper's 300, never up: a 128 px photo stays 128
    small = cv2.resize(image, (max(3, round(W * scale)), max(3, round(H * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else image
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    feat = np.stack([cv2.medianBlur(np.ascontiguousarray(lab[..., c]), 5) for c in range(3)], -1).astype(np.float32)
    mbd = min_max(minimum_barrier_distance(feat).sum(-1), np.float32)
    m = min_max((mbd + boundary_contrast(small)) * _centre_map(*mbd.shape), np.float32)
    m = _morph_smooth(m, max(3, int(smooth_alpha * np.sqrt(m.mean()))))
    m = _enhance_contrast(m, contrast_b)
    return min_max(cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR), np.float32)


class MBPlus:
    """Bench predictor and pseudo-label teacher."""

    name = "mbplus"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return mbplus(image)
