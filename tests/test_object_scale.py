"""Masks that follow the object at any scale: zoom-out compositions, solid pseudo-masks, a
threshold that assumes no object size, and the area-by-size table."""

import numpy as np
import pytest

from saliency.pairs import BACKGROUND_BELOW, OBJECT_ABOVE
from saliency.real_photos.pseudo_labels import fill_holes, pseudo_mask
from saliency.unet.data import PairDataset, Reframe, zoom_out


def test_zoom_out_carries_the_mask_exactly_with_the_photo():
    """Every pixel of the photo lands at its place in the canvas with its own mask level (a
    confidence level included); the canvas's object becomes unsure, its background stays."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 12:28] = 255
    mask[18:22, 18:22] = 220  # an object pixel of lower confidence
    canvas = np.full((80, 80, 3), 7, np.uint8)
    canvas_mask = np.zeros((80, 80), np.uint8)
    canvas_mask[:5, :5] = 255  # the canvas's own object
    canvas_mask[70:, 70:] = 30  # a less sure background
    out, out_mask = zoom_out(image, mask, canvas, canvas_mask, 0.5, np.random.default_rng(1), feather=0.0)
    assert out.shape == canvas.shape and out_mask.shape == canvas_mask.shape
    ys, xs = np.nonzero((out != 7).any(-1))
    top, left = ys.min(), xs.min()
    assert ys.max() - top == 39 and xs.max() - left == 39  # the long side: half the canvas's
    np.testing.assert_array_equal(out[top : top + 40, left : left + 40], image)
    np.testing.assert_array_equal(out_mask[top : top + 40, left : left + 40], mask)
    outside = np.ones((80, 80), bool)
    outside[top : top + 40, left : left + 40] = False
    assert (out_mask[:5, :5][outside[:5, :5]] == 128).all()
    assert (out_mask[70:, 70:][outside[70:, 70:]] == 30).all()
    assert ((out_mask == 0) | (out_mask == 128) | (out_mask == 30))[outside].all()


def test_zoom_out_shrinks_the_object_share_by_the_scale_squared():
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255  # a quarter of the photo
    out, out_mask = zoom_out(image, mask, np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128), np.uint8), 0.25, np.random.default_rng(3))
    assert (out_mask > OBJECT_ABOVE).mean() == pytest.approx(0.25 * 0.25**2, rel=0.05)
    assert not (out_mask == 128).any()  # the blended border has background on both sides: it stays sure
    canvas_mask = np.full((128, 128), 255, np.uint8)  # a canvas that is all object: unsure everywhere but the inset's inside
    _, out_mask = zoom_out(image, mask, np.zeros((128, 128, 3), np.uint8), canvas_mask, 0.5, np.random.default_rng(3))
    inset = out_mask != 128
    ys, xs = np.nonzero(inset)
    assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) == (56, 56)  # 64 px inset less its blended rim (6% of 64: 4 px) on each side


def test_zoom_out_items_are_drawn_from_the_seed(tmp_path):
    import cv2

    pairs = []
    for i in range(3):
        image = np.full((32, 32, 3), 40 * (i + 1), np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = 255
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
        cv2.imwrite(str(tmp_path / f"{i}.mask.png"), mask)
        pairs.append((tmp_path / f"{i}.png", tmp_path / f"{i}.mask.png"))
    data = PairDataset(pairs, 32, None, [Reframe(zoom=1.0)])
    x, y, w = data[0, 5]
    x2, y2, _ = data[0, 5]
    assert (x == x2).all() and (y == y2).all()
    assert 0 < y.mean() < 0.25 * 0.6  # the object shrank inside another photo
    assert (w == 0).any()  # the other photo's object is not scored
    with pytest.raises(Exception, match="more than all items"):
        Reframe(close_up=0.6, zoom=0.6)


def test_zoom_out_reaches_the_dataset_with_backgrounds_and_no_mix(tmp_path):
    """`train-unet --zoom-out 1.0 --backgrounds DIR --paste 0` (no --mix) once built a paste set
    without the zoom-out while the run's summary recorded it: every flag reaches the dataset."""
    import cv2

    from saliency.unet.presets import training_set
    from saliency.unet.train import TrainConfig

    pairs = []
    for i in range(3):
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = 255
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((32, 32, 3), 40 * (i + 1), np.uint8))
        cv2.imwrite(str(tmp_path / f"{i}.mask.png"), mask)
        pairs.append((tmp_path / f"{i}.png", tmp_path / f"{i}.mask.png"))
    cfg = TrainConfig.from_preset("2021", size=32, zoom_out=1.0, backgrounds=str(tmp_path), paste=1e-9)
    data = training_set(cfg, pairs)
    assert [repr(f) for f in data.framings][-1] == "Reframe(close_up=0, zoom=1)"
    _, y, _ = data[0, 5]
    assert 0 < y.mean() < 0.25 * 0.6, "the item was zoomed out: its object shrank"


def test_fill_holes_fills_what_the_object_encloses_and_keeps_an_opening():
    ring = np.zeros((30, 30), np.uint8)
    ring[5:25, 5:25] = 255
    ring[10:20, 10:20] = 0  # background enclosed by the object: a face the teachers left dark
    ring[12:14, 12:14] = 128  # unsure inside it too
    filled = fill_holes(ring)
    assert (filled[5:25, 5:25] == 255).all() and (filled[:5] == 0).all()
    c_shape = ring.copy()
    c_shape[10:20, 20:25] = 0  # the C's opening reaches the background outside
    kept = fill_holes(c_shape)
    np.testing.assert_array_equal(kept, c_shape)
    confident = ring.copy()
    confident[5:25, 5:25][ring[5:25, 5:25] == 255] = 230  # object levels of a confidence mask are kept
    assert (fill_holes(confident)[10:20, 10:20] == 255).all() and (fill_holes(confident)[5, 5] == 230)


def test_fixed_threshold_leaves_an_objectless_map_empty_and_keeps_small_objects_small():
    """The fixed band at 0.5 assumes no object size: a map with no object above it marks nothing,
    and a small object stays its own size. The adaptive centre (2 x mean) grows the small one."""
    flat = np.full((40, 40), 0.12, np.float32)
    assert (pseudo_mask(flat, 0.2) < BACKGROUND_BELOW).all()
    assert (pseudo_mask(flat, 0.2, confidence=True) <= OBJECT_ABOVE).all()
    small = np.full((40, 40), 0.1, np.float32)
    small[18:22, 18:22] = 0.95  # 1% of the frame
    small[10:30, 10:30] = np.maximum(small[10:30, 10:30], 0.35)  # a faint halo around it
    assert ((pseudo_mask(small, 0.2, confidence=True) > OBJECT_ABOVE).sum()) == 16
    assert ((pseudo_mask(small, 0.2, adaptive=True, confidence=True) > OBJECT_ABOVE).sum()) > 16


def test_area_by_size_bins_images_by_true_share():
    from saliency.bench.object_size import by_size, image_row

    truth = np.zeros((10, 10), bool)
    truth[:2, :2] = True  # 4% of the frame
    everything = image_row(np.ones((10, 10)), truth)
    assert everything == {"true_share": 0.04, "pred_share": 1.0, "iou": 0.04, "accuracy": 0.04}
    exact = image_row(truth.astype(float), truth)
    assert exact["iou"] == 1.0 and exact["pred_share"] == 0.04
    big = np.zeros((10, 10), bool)
    big[:6] = True
    table = by_size([everything, exact, image_row(big.astype(float), big)])
    assert [r["true object share"] for r in table] == ["under 5%", "over 35%", "all"]
    assert table[0]["images"] == 2 and table[0]["pred_share"] == 0.52 and table[-1]["images"] == 3
    scaled = by_size([{**everything, "scale": 1.0}, {**exact, "scale": 0.5}])
    assert [r["true object share"] for r in scaled] == ["under 5%", "all", "scale 1", "scale 0.5"] and scaled[-1]["iou"] == 1.0
    scored = np.ones((10, 10), bool)
    scored[5:] = False  # unsure pixels of a composition are not scored
    half = image_row(np.zeros((10, 10)), big, scored)
    assert half["true_share"] == 1.0 and half["accuracy"] == 0.0
