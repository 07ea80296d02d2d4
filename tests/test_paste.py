"""Shortcut-proof data: synthetic objects pasted onto real backgrounds, and unsure pseudo-mask pixels."""

import json

import cv2
import numpy as np
import pytest
import torch

from saliency.pairs import find_pairs
from saliency.unet.data import PairDataset, PasteDataset, background_crop, mask_target, paste_object
from saliency.unet.train import weighted_bce


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
    assert weighted_bce(logits, target[None], weight[None]).item() == pytest.approx(torch.nn.functional.softplus(torch.tensor(-5.0)).item(), rel=1e-4)


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
    always = PasteDataset(pairs, sorted(photos.iterdir()), 32, paste=1.0)
    a, b = always[(1, 7)], always[(1, 7)]
    assert all(torch.equal(u, v) for u, v in zip(a, b)), "an item is a pure function of (index, seed)"
