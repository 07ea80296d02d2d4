"""Edge-aware refinement of a teacher's map before it becomes a pseudo-mask, and the per-pixel
confidence that replaces a hard sure/unsure band.

Classical teachers work on superpixels or blurred channels, so their maps stop a few pixels
short of, or spill over, the object's outline; a student trained on them learns blurred edges.
A colour guided filter (He, Sun & Tang 2010; the one `saliency predict` upsamples with, from
saliency.cutout) at the photo's own size pulls each map edge onto the nearest photo edge
and leaves flat regions alone.

Confidence: 0 at the pseudo-mask's threshold, rising linearly to 1 at the band's edge, so the
student learns most from what its teachers are sure of and nothing from what they are not.
It is written into the mask PNG itself (`encode_confidence`), in the levels `train-unet` reads
(object 192..255, background 0..63, weight ramping from 0 at the unsure band to 1 at 0 / 255),
so a 0 / 128 / 255 mask means what it always meant.
"""

from __future__ import annotations

import numpy as np

from saliency.cutout import guided_upsample
from saliency.pairs import BACKGROUND_BELOW, OBJECT_ABOVE


def refine(soft: np.ndarray, image: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """Map [H, W] in [0, 1] -> the same map with its edges snapped onto `image`'s (same size)."""
    return guided_upsample(soft, image, radius=radius, eps=eps)


def encode_confidence(is_object: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Boolean object mask + confidence in [0, 1] -> uint8 mask: object 191 + 64 c, background
    64 - 64 c (c = 0 lands on the unsure band's edge and weighs nothing)."""
    c = np.clip(confidence, 0, 1)
    return np.where(is_object, OBJECT_ABOVE + (255 - OBJECT_ABOVE) * c, BACKGROUND_BELOW * (1 - c)).round().astype(np.uint8)
