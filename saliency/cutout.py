"""Full-resolution maps, masks and cut-outs from a map predicted at low resolution.

The model sees a photo at short side 128; a 4,000 px photo's map resized back with a plain
bilinear filter is a blurred blob whose edge wanders several dozen pixels from the object's, which is
the halo users of background removers complain about. Instead the map is upsampled with the
photo as guide: a colour guided filter (He, Sun & Tang, ECCV 2010) fitted at the map's
resolution, its linear coefficients upsampled and applied to the full-resolution photo (He & Sun,
"Fast Guided Filter", 2015), so the map's edges snap onto the photo's edges at full resolution.
OpenCV's own guided filter lives in opencv-contrib, which would replace the opencv-python
package this project depends on, so the few lines are written here.
"""

from __future__ import annotations

import cv2
import numpy as np

# alpha ramps from 0 to 1 while the map rises through threshold -/+ half this width: a few
# pixels of soft edge, no semi-transparent veil over the background
ALPHA_RAMP = 0.1


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_upsample(soft: np.ndarray, image: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """Map `soft` (h', w') in [0, 1] -> (H, W) of `image` (uint8 RGB), edges following the photo.

    `radius` is the filter window in the map's pixels, `eps` the regulariser on the guide's local
    colour variance (intensities in [0, 1]): below it, a window is treated as flat and the map is
    only smoothed; above it, the map takes the guide's edges. Radius 4 at the model's 128 px
    moves a map edge that is up to 2 model pixels off onto the photo's edge (tests/test_cutout.py;
    radius 2 reaches 1 pixel); chosen on that synthetic edge, not on a benchmark.
    """
    H, W = image.shape[:2]
    h, w = soft.shape
    guide = image.astype(np.float32) / 255
    small = cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else guide
    p = soft.astype(np.float32)
    mean_i = _box(small, radius)  # (h, w, 3)
    mean_p = _box(p, radius)
    cov_ip = _box(small * p[..., None], radius) - mean_i * mean_p[..., None]
    sigma = np.empty((h, w, 3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            sigma[..., a, b] = sigma[..., b, a] = _box(small[..., a] * small[..., b], radius) - mean_i[..., a] * mean_i[..., b]
    sigma += eps * np.eye(3, dtype=np.float32)
    coef_a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0]  # (h, w, 3)
    coef_b = mean_p - (coef_a * mean_i).sum(axis=2)
    coef_a, coef_b = _box(coef_a, radius), _box(coef_b, radius)
    if (h, w) != (H, W):
        coef_a = cv2.resize(coef_a, (W, H), interpolation=cv2.INTER_LINEAR)
        coef_b = cv2.resize(coef_b, (W, H), interpolation=cv2.INTER_LINEAR)
    return np.clip((coef_a * guide).sum(axis=2) + coef_b, 0, 1)


def alpha_matte(soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 alpha: opaque above the threshold, transparent below, a short ramp between."""
    return (np.clip((soft - threshold) / ALPHA_RAMP + 0.5, 0, 1) * 255).round().astype(np.uint8)


def rgba_cutout(image: np.ndarray, soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """RGB photo + full-resolution map -> RGBA with the background transparent."""
    return np.dstack([image, alpha_matte(soft, threshold)])


def on_checkerboard(rgba: np.ndarray, square: int = 8) -> np.ndarray:
    """An RGBA cut-out drawn over a grey checkerboard, the way image editors show transparency."""
    h, w = rgba.shape[:2]
    board = ((np.arange(h)[:, None] // square + np.arange(w)[None, :] // square) % 2).astype(np.float32)
    board = (board * 60 + 160)[..., None]
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + board * (1 - alpha)).round().astype(np.uint8)


def cutout_sheet(predict_small, photos: dict[str, np.ndarray], path, cell: int = 160, threshold: float = 0.5, full: bool = False):
    """Photo / map / cut-out rows for a few photos, each letterboxed into a `cell` square: what a
    model does to real photos, at a glance. `predict_small` maps an RGB photo to its map at model
    size (`UNetPredictor.at_model_size`); the map is upsampled as `saliency predict` does it. With
    `full`, `predict_small` gives the map at the photo's size itself (a `saliency.load` model's
    `map`, refinement included)."""
    import torch

    from saliency.viz import image_grid, save_png

    def fit(a: np.ndarray) -> torch.Tensor:
        h, w = a.shape[:2]
        s = cell / max(h, w)
        small = cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        box = np.full((cell, cell, 3), 255, np.uint8)
        y, x = (cell - small.shape[0]) // 2, (cell - small.shape[1]) // 2
        box[y : y + small.shape[0], x : x + small.shape[1]] = small if small.ndim == 3 else small[..., None]
        return torch.from_numpy(box).permute(2, 0, 1).float() / 127.5 - 1

    rows: list[list[torch.Tensor]] = [[], [], []]
    for image in photos.values():
        soft = predict_small(image) if full else guided_upsample(predict_small(image), image)
        rows[0].append(fit(image))
        rows[1].append(fit((soft * 255).round().astype(np.uint8)))
        rows[2].append(fit(on_checkerboard(rgba_cutout(image, soft, threshold), square=max(4, max(image.shape[:2]) // 40))))
    grid = image_grid([torch.stack(r) for r in rows], ["photo", "map", "cut-out"], col_labels=list(photos), label_width=60)
    return save_png(grid, path)


OUTPUTS = ("map", "mask", "cutout")


def render(kind: str, image: np.ndarray, soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """One of `predict`'s (and `serve`'s) outputs as an array ready for OpenCV's PNG encoder:
    "map" the soft map (grey 0-255), "mask" 0/255 at `threshold`, "cutout" BGRA, background transparent."""
    if kind == "map":
        return (soft * 255).round().astype(np.uint8)
    if kind == "mask":
        return (soft > threshold).astype(np.uint8) * 255
    if kind == "cutout":
        return cv2.cvtColor(rgba_cutout(image, soft, threshold), cv2.COLOR_RGBA2BGRA)
    raise ValueError(f"output {kind!r} is not one of {', '.join(OUTPUTS)}")
