"""Whole objects from a map's confident seeds: GrabCut (Rother, Kolmogorov & Blake 2004) seeded
by a soft saliency map.

Contrast-driven maps (the classical teachers, and students of theirs) light an object's most
contrasted parts, a cat's eyes and nose, and leave its uniform fur dark. GrabCut fits a colour
model (Gaussian mixtures) to the pixels the map is sure of and extends the object over the
pixels of the same colours that an edge does not separate from it, so the cat's head joins its
eyes. The map decides where it is sure (object at `sure` or above, background at `1 - sure` or
below, never relabelled), and the graph cut decides the rest, starting from the map's own side of
0.5. The result is averaged with the map: a soft map again, which keeps the map's ranking where
the cut is unsure of itself and lets a pseudo-mask's confidence band work as before.

GrabCut's cost grows with the pixels, so it runs at `size` on the short side (the U-Net's own
128 px) and its mask is resized back; a photo of any size costs about the same.
"""

from __future__ import annotations

import cv2
import numpy as np

SURE = 0.9  # the map's seeds: object at or above, background at or below 1 - SURE
ITERATIONS = 5
SIZE = 128


def grabcut_mask(soft: np.ndarray, image: np.ndarray, sure: float = SURE, iterations: int = ITERATIONS, seed: int = 0) -> np.ndarray | None:
    """Boolean object mask of `image` (uint8 RGB, same size as `soft`) by GrabCut seeded by
    `soft`; None where the map is sure of no object or of no background (no colour model to fit).
    `seed` fixes OpenCV's k-means initialisation of the colour models, so a rerun repeats."""
    fg, bg = soft >= sure, soft <= 1 - sure
    probable_fg = soft >= 0.5
    if probable_fg.all() or not probable_fg.any():
        return None
    seeds = np.where(probable_fg, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[fg] = cv2.GC_FGD
    seeds[bg] = cv2.GC_BGD
    bgd_model, fgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    try:
        cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), seeds, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # too few pixels of one side for its mixture: keep the map as it is
        return None
    return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)


def grow(soft: np.ndarray, image: np.ndarray, size: int = SIZE, sure: float = SURE, iterations: int = ITERATIONS) -> np.ndarray:
    """Soft map [H, W] in [0, 1] of `image` [H, W, 3] -> the mean of the map and its GrabCut mask,
    the cut computed at short side `size` (the map unchanged where GrabCut has no seeds)."""
    H, W = soft.shape
    scale = min(1.0, size / min(H, W))
    small = (max(1, round(W * scale)), max(1, round(H * scale)))
    if scale < 1:
        s = cv2.resize(soft.astype(np.float32), small, interpolation=cv2.INTER_AREA)
        im = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    else:
        s, im = soft.astype(np.float32), image
    cut = grabcut_mask(s, im, sure, iterations)
    if cut is None:
        return soft.astype(np.float32)
    cut = cut.astype(np.float32)
    if scale < 1:
        cut = cv2.resize(cut, (W, H), interpolation=cv2.INTER_LINEAR)
    return ((soft + cut) / 2).astype(np.float32)
