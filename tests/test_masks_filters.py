"""Mask rules and filters on hand-made images with known answers."""

import pytest
import torch

from saliency.filters import FilterConfig, apply_filters, histogram_peaks, keep_large_components
from saliency.masks import grey, make_masks


def square_scene(fg: float, bg: float, size: int = 16, box=(4, 12)) -> torch.Tensor:
    x = torch.full((1, 3, size, size), bg)
    x[..., box[0] : box[1], box[0] : box[1]] = fg
    return x


def truth(size=16, box=(4, 12)):
    m = torch.zeros(1, 1, size, size)
    m[..., box[0] : box[1], box[0] : box[1]] = 1
    return m


def test_intensity_rule_light_and_dark_backgrounds():
    assert torch.equal(make_masks("intensity", None, square_scene(-0.2, 1.0)), truth())
    assert torch.equal(make_masks("intensity", None, square_scene(0.2, -1.0), polarity="dark"), truth())
    # a threshold just under the background level: (0.85 + 1) / 2 = 0.925 < 0.95 counts as foreground
    assert make_masks("intensity", None, square_scene(-0.2, 0.85)).mean() == 1.0


def test_diff_rule_marks_what_changes_least():
    original = square_scene(0.0, 0.0)
    positive, negative = square_scene(0.1, 0.9), square_scene(-0.1, -0.9)
    assert torch.equal(make_masks("diff", original, positive, negative), truth())


def test_lighting_rule_foreground_brighter_than_before():
    original = square_scene(0.0, 0.0)
    shifted = square_scene(0.3, -0.6)
    assert torch.equal(make_masks("lighting", original, shifted), truth())


def test_grey_weights():
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.isclose(grey(x), torch.tensor(0.2989)).all()


def test_area_filter_bounds():
    cfg = FilterConfig(min_peaks=0, min_component=0)
    masks = torch.zeros(3, 1, 10, 10)
    masks[0, :, :2] = 1  # 20%
    masks[1, :, :6] = 1  # 60%: too large
    masks[2, :, 0, :4] = 1  # 4%: too small
    _, keep, verdicts = apply_filters(masks, torch.zeros(3, 3, 10, 10), cfg)
    assert keep.tolist() == [True, False, False] and verdicts["area"].tolist() == [True, False, False]


def test_histogram_peaks_counts_modes():
    flat = torch.zeros(1, 3, 8, 8)
    two = square_scene(-0.9, 0.9, size=8, box=(0, 4))
    assert histogram_peaks(flat).item() == 1
    assert histogram_peaks(two).item() == 2
    cfg = FilterConfig(min_area=0, max_area=1, min_component=0)
    _, keep, _ = apply_filters(torch.ones(2, 1, 8, 8) * 0.5, torch.cat([flat, two]), cfg)
    assert keep.tolist() == [False, True]


def test_small_components_removed():
    m = torch.zeros(1, 1, 20, 20)
    m[..., 2:12, 2:12] = 1  # 100 px
    m[..., 15:17, 15:17] = 1  # 4 px < 0.2 * 100
    m[..., 15:20, 2:7] = 1  # 25 px >= 20
    out = keep_large_components(m, 0.2)
    assert out.sum() == 125 and out[..., 15:17, 15:17].sum() == 0
    assert torch.equal(keep_large_components(m, 0.0), m)


def test_mask_statistics_known_answers():
    from saliency.masks import mask_statistics

    masks = torch.zeros(3, 1, 40, 40)
    masks[0, :, 10:30, 10:30] = 1  # a centred square: a quarter of the frame, nothing in the outer 2 px
    masks[1] = 1  # the whole frame: the band's own share, 1 - 36^2 / 40^2
    masks[2, :, 20:] = 1  # the lower half: 2 px band on three sides
    area, share = mask_statistics(masks)
    assert area.tolist() == pytest.approx([0.25, 1.0, 0.5])
    assert share.tolist() == pytest.approx([0.0, 1 - 36**2 / 40**2, (40 * 20 - 36 * 18) / (40 * 20)])
