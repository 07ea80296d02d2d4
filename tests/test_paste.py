"""Shortcut-proof data: synthetic objects pasted onto real backgrounds, and unsure pseudo-mask pixels."""

import json

import cv2
import numpy as np
import pytest
import torch

from saliency.errors import UserError
from saliency.pairs import find_pairs
from saliency.unet.data import MixedDataset, PairDataset, Paste, Reframe, background_crop, close_up_crop, mask_target, paste_object
from saliency.unet.presets import training_set
from saliency.unet.train import TrainConfig, soft_target, weighted_bce


def test_pasted_mask_is_exactly_the_pasted_pixels():
    rng = np.random.default_rng(0)
    for trial in range(50):
        background = np.full((64, 64, 3), (10, 200, 30), np.uint8)  # a colour no object pixel has
        image = rng.integers(0, 150, (48, 48, 3)).astype(np.uint8)
        mask = np.zeros((48, 48), np.uint8)
        cv2.ellipse(mask, (24, 20), (int(rng.integers(4, 20)), int(rng.integers(4, 20))), 0, 0, 360, 255, -1)
        out, out_mask = paste_object(background, image, mask, rng)
        pasted = (out != background).any(-1)
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 255}
        assert np.array_equal(pasted, out_mask == 255), trial
        assert out_mask.any(), "at least 60% of the object lies inside the frame"


def test_pasting_cuts_some_objects_at_the_frame():
    rng = np.random.default_rng(1)
    image, mask = np.full((40, 40, 3), 90, np.uint8), np.full((40, 40), 255, np.uint8)
    touches = [paste_object(np.zeros((64, 64, 3), np.uint8), image, mask, rng)[1] for _ in range(200)]
    share = np.mean([m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any() for m in touches])
    assert 0.2 < share < 0.9  # synthetic masks alone never touch the frame; a U-Net learns that


def test_background_crops_come_from_the_corners():
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[30:70, 30:70] = 255  # the object in the middle
    rng = np.random.default_rng(0)
    crops = [background_crop(photo, 32, rng) for _ in range(40)]
    assert all(c.shape == (32, 32, 3) for c in crops)
    assert np.mean([c.mean() for c in crops]) < 0.35 * 255  # mostly the black surround


def test_unsure_pixels_carry_no_loss_and_confidence_weighs_the_rest():
    mask = np.array([[0, 128, 255], [60, 200, 100]], np.uint8)
    target, weight = mask_target(mask)
    # 0 / 255 weigh 1, the band 64..191 nothing, levels next to it their confidence (k / 64)
    assert target.tolist() == [[[0, 0, 1], [0, 1, 0]]] and weight.tolist() == [[[1, 0, 1], [4 / 64, 9 / 64, 0]]]
    logits = torch.tensor([[[[-5.0, 9.0, 5.0], [-5.0, 5.0, 9.0]]]])  # right wherever labelled, "wrong" where unsure
    assert weighted_bce(logits, target[None], weight[None]).item() == pytest.approx(
        torch.nn.functional.softplus(torch.tensor(-5.0)).item(), rel=1e-4
    )


def test_pairs_json_and_paste_dataset(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        cv2.imwrite(str(photos / f"p{i}.jpg"), np.full((80, 80, 3), 40 * i, np.uint8))
    (tmp_path / "set" / "masks").mkdir(parents=True)
    rows = []
    for i in range(3):
        m = np.zeros((80, 80), np.uint8)
        m[20:60, 20:60] = 255
        cv2.imwrite(str(tmp_path / "set" / "masks" / f"p{i}.png"), m)
        rows.append([str(photos / f"p{i}.jpg"), f"masks/p{i}.png"])
    (tmp_path / "set" / "pairs.json").write_text(json.dumps({"pairs": rows}))
    pairs = find_pairs(tmp_path / "set")
    assert [p[0].name for p in pairs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    x, y, w = PairDataset(pairs, 32)[0]
    assert x.shape == (3, 32, 32) and y.sum() == 16 * 16 and w.min() == 1
    always = PairDataset(pairs, 32, framings=[Paste(sorted(photos.iterdir()), 32, share=1.0)])
    a, b = always[(1, 7)], always[(1, 7)]
    assert all(torch.equal(u, v) for u, v in zip(a, b)), "an item is a pure function of (index, seed)"


def _pairs_folder(root, n, value):
    """n 16x16 pairs whose masks are all `value`: which set an item came from is in its target."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"{i}.png"), np.full((16, 16, 3), 9 * i, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{i}.png"), np.full((16, 16), value, np.uint8))
    return root


def test_mixed_dataset_draws_the_ratio_from_the_synthetic_pairs(tmp_path):
    photos = find_pairs(_pairs_folder(tmp_path / "photos", 8, 0))
    synthetic = find_pairs(_pairs_folder(tmp_path / "synthetic", 5, 255))
    for ratio in (0.0, 0.25, 1.0):
        mixed = MixedDataset(PairDataset(photos, 16), PairDataset(synthetic, 16), ratio)
        drawn = [mixed[(i % 8, seed)][1].mean().item() for i, seed in enumerate(range(1000, 1800))]
        assert set(drawn) <= {0.0, 1.0} and len(mixed) == 8
        assert abs(np.mean(drawn) - ratio) < 0.05, (ratio, np.mean(drawn))
    assert all(torch.equal(u, v) for u, v in zip(mixed[(3, 11)], mixed[(3, 11)])), "an item is a pure function of (index, seed)"
    with pytest.raises(UserError, match="mix ratio"):
        MixedDataset(PairDataset(photos, 16), PairDataset(synthetic, 16), 1.5)
    # train-unet --mix: the photos stay as they are, the synthetic pairs are the ones mixed in
    cfg = TrainConfig(size=16, mix=str(tmp_path / "synthetic"), mix_ratio=0.5, crop=False, color=False)
    source = training_set(cfg, photos)
    assert isinstance(source, MixedDataset) and len(source.extra) == 5
    assert 0.4 < np.mean([source[(0, s)][1].mean().item() for s in range(400)]) < 0.6


def _ellipse_photo(axes, size=128, centre=(64, 64)):
    """A red ellipse (the object, mask 255) on a blue-green gradient (no pixel of it is red)."""
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 1] = np.linspace(0, 120, size, dtype=np.uint8)[:, None]
    image[..., 2] = 200
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    image[mask == 255] = (230, 20, 20)
    return image, mask


def test_close_ups_fill_the_frame_with_the_whole_objects_label():
    """A close-up is a crop of image and mask alike (every object pixel still red, nothing else),
    the object fills more of it than of the photo, and the frame cuts a large object in most
    draws; masks with no whole object to zoom on give None."""
    for axes in ((50, 35), (20, 14)):
        image, mask = _ellipse_photo(axes)
        touched = 0
        for seed in range(30):
            crop, crop_mask = close_up_crop(image, mask, np.random.default_rng(seed))
            assert crop.shape[:2] == crop_mask.shape and crop.shape[0] == crop.shape[1] >= 57, (
                "square, at most ~2x upsampling of a 128 px photo"
            )
            red = (crop == (230, 20, 20)).all(-1)
            assert np.array_equal(red, crop_mask == 255), "the mask is cropped with the image"
            assert (crop_mask == 255).mean() > (mask == 255).mean()
            touched += bool(crop_mask[0].any() or crop_mask[-1].any() or crop_mask[:, 0].any() or crop_mask[:, -1].any())
        if axes[0] == 50:
            assert touched >= 20, touched  # a close-up: the frame cuts the subject
    rng = np.random.default_rng(0)
    assert close_up_crop(*_ellipse_photo((5, 5)), rng) is None, "too small to zoom on"
    assert close_up_crop(*_ellipse_photo((80, 80)), rng) is None, "a close-up already"
    assert close_up_crop(*_ellipse_photo((40, 40), centre=(10, 64)), rng) is None, "cut by the frame: maybe a part"
    unsure = _ellipse_photo((50, 35))[1] // 2  # 0 / 127: the teacher was sure of nothing
    assert close_up_crop(image, unsure, rng) is None


def test_close_up_share_is_drawn_per_item_and_reproducible(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(4):
        image, mask = _ellipse_photo((44, 30))
        cv2.imwrite(str(tmp_path / "images" / f"{i}.png"), image[..., ::-1])
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.png"), mask)
    pairs = find_pairs(tmp_path)
    area = (_ellipse_photo((44, 30))[1] == 255).mean()
    for share in (0.0, 0.25, 1.0):
        data = PairDataset(pairs, 64, None, [Reframe(close_up=share)])  # no augmentation: only the close-up changes an item
        zoomed = [data[(i % 4, seed)][1].mean().item() > area + 0.05 for i, seed in enumerate(range(400))]
        assert abs(np.mean(zoomed) - share) < 0.07, (share, np.mean(zoomed))
    assert all(torch.equal(u, v) for u, v in zip(data[(2, 5)], data[(2, 5)])), "an item is a pure function of (index, seed)"
    with pytest.raises(UserError, match="close-up share"):
        Reframe(close_up=2.0)
    # train-unet --close-up: the photos get it, the synthetic pairs mixed in do not
    cfg = TrainConfig(size=64, mix=str(tmp_path), mix_ratio=0.5, close_up=0.3, crop=False, color=False)
    source = training_set(cfg, pairs)
    assert repr(source.primary.framings) == "[Reframe(close_up=0.3, zoom=0)]" and source.extra.framings == []


def test_soft_targets_are_learnt_where_the_hard_ones_push_to_the_extremes():
    """Confidence-encoded pseudo-mask levels: sure object, half-sure object, unsure, sure background.
    As soft targets they are 1, 0.75, 0.5 and 0, every pixel weighing 1; logits at those targets are
    the loss's minimum (zero gradient), while the confidence-weighted hard loss still pushes the
    half-sure pixel to 1."""
    mask = np.array([[255, 223, 128, 0]], np.uint8)
    hard, confidence = mask_target(mask)
    target, weight = soft_target(hard, confidence)
    assert target.flatten().tolist() == pytest.approx([1.0, 0.5 + 0.5 * 32 / 64, 0.5, 0.0]) and weight.min() == 1
    logits = torch.logit(target.clamp(1e-6, 1 - 1e-6)).requires_grad_()
    weighted_bce(logits, target, weight).backward()
    assert logits.grad.abs().max() < 1e-4
    logits.grad = None
    weighted_bce(logits, hard, confidence).backward()
    assert logits.grad.flatten()[1] < -0.01  # the hard target asks for more than the teachers' confidence


def test_every_data_flag_of_train_unet_reaches_the_training_set(tmp_path):
    """The set's repr names each piece (framings, augmentation, mix): setting any one data field
    of TrainConfig alone changes it, so no flag can be recorded in a run's config and dropped."""
    photos = find_pairs(_pairs_folder(tmp_path / "photos", 4, 0))
    _pairs_folder(tmp_path / "synthetic", 3, 255)
    backgrounds = str(tmp_path / "photos" / "images")
    base = dict(size=16, backgrounds=backgrounds, paste=0.5, mix=str(tmp_path / "synthetic"), mix_ratio=0.5)
    changes = {
        "flip": False,
        "crop": False,
        "color": False,
        "degrade": True,
        "paste": 0.25,
        "paste_scale": [0.2, 0.5],
        "close_up": 0.3,
        "zoom_out": 0.2,
        "mix_ratio": 0.7,
        "backgrounds": None,
        "mix": None,
    }
    assembled = repr(training_set(TrainConfig(**base), photos))
    for field, value in changes.items():
        assert repr(training_set(TrainConfig(**{**base, field: value}), photos)) != assembled, field
    # without a mix, the pairs themselves are pasted and reframed
    plain = training_set(TrainConfig(size=16, backgrounds=backgrounds, paste=0.5, zoom_out=0.2), photos)
    assert [type(f).__name__ for f in plain.framings] == ["Paste", "Reframe"]
