"""Full-resolution maps and cut-outs: the guided upsampling moves a map's edge onto the photo's."""

import cv2
import numpy as np

from saliency.cutout import alpha_matte, guided_upsample, on_checkerboard, rgba_cutout
from saliency.images import BUNDLED_PHOTOS, bundled_photos


def _step_photo(edge: int = 301, size: int = 512) -> np.ndarray:
    rng = np.random.default_rng(0)
    photo = np.zeros((size, size, 3), np.int64)
    photo[:, :edge] = (30, 40, 120)
    photo[:, edge:] = (220, 130, 40)
    return np.clip(photo + rng.integers(-10, 10, photo.shape), 0, 255).astype(np.uint8)


def test_guided_upsampling_puts_the_mask_edge_on_the_photo_edge():
    photo = _step_photo()
    x = np.arange(64) + 0.5
    # the model's map at 64 px: a blurred step 2 model pixels right of the photo's edge (301 / 8 = 37.6)
    soft = np.tile(1 / (1 + np.exp(-(x - 39.6) / 1.5)), (64, 1)).astype(np.float32)
    guided = guided_upsample(soft, photo)
    bilinear = cv2.resize(soft, (512, 512), interpolation=cv2.INTER_LINEAR)
    edge_guided = (guided > 0.5).argmax(axis=1)
    edge_bilinear = (bilinear > 0.5).argmax(axis=1)
    assert np.all(np.abs(edge_guided - 301) <= 1)
    assert np.all(np.abs(edge_bilinear - 301) >= 10)
    # and the edge is sharp: a few pixels either side of it are clearly background / object
    assert guided[:, 290].max() < 0.15 and guided[:, 312].min() > 0.5
    assert guided.shape == (512, 512) and 0 <= guided.min() and guided.max() <= 1


def test_a_flat_photo_only_smooths_the_map():
    flat = np.full((128, 128, 3), 100, np.uint8)
    soft = np.zeros((32, 32), np.float32)
    soft[8:24, 8:24] = 1
    up = guided_upsample(soft, flat)
    assert np.allclose(up[64, 64], 1, atol=0.05) and np.allclose(up[4, 4], 0, atol=0.05)


def test_cutout_alpha_and_checkerboard():
    soft = np.array([[0.0, 0.45, 0.5, 0.55, 1.0]], np.float32)
    assert alpha_matte(soft).tolist() == [[0, 0, 128, 255, 255]]
    image = np.full((1, 5, 3), 200, np.uint8)
    rgba = rgba_cutout(image, soft)
    assert rgba.shape == (1, 5, 4) and rgba[0, 4, 3] == 255
    shown = on_checkerboard(rgba)
    assert shown[0, 4].tolist() == [200, 200, 200] and shown[0, 0].tolist() in ([160] * 3, [220] * 3)


def test_bundled_photos_come_from_the_installed_scikit_image():
    photos = bundled_photos()
    assert len(photos) == len(BUNDLED_PHOTOS) and {"astronaut", "chelsea", "motorcycle"} <= set(photos)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 and min(p.shape[:2]) >= 256 for p in photos.values())
