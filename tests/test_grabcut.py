"""GrabCut seeded by a map (saliency.grabcut): a seed grows over its uniform object and stops at
the object's edge; where the map is sure of nothing the map is kept; the same at any photo size."""

from __future__ import annotations

import numpy as np
import pytest

from saliency.errors import UserError
from saliency.grabcut import grabcut_mask, grow


def scene(size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disc (radius size/4) on a noisy grey-green background, and its true mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2
    image = np.clip(rng.normal((110, 130, 110), 12, (size, size, 3)), 0, 255)
    image[disc] = np.clip(rng.normal((200, 40, 40), 8, (int(disc.sum()), 3)), 0, 255)
    return image.astype(np.uint8), disc


def part_map(disc: np.ndarray) -> np.ndarray:
    """A contrast teacher's map: sure of a small core of the object (its 'eyes') and of the frame's
    border, unsure (0.3: probably background) everywhere else, the rest of the disc included."""
    size = disc.shape[0]
    soft = np.full(disc.shape, 0.3, np.float32)
    c = size // 2
    soft[c - size // 16 : c + size // 16, c - size // 16 : c + size // 16] = 0.95
    soft[: size // 16], soft[-size // 16 :], soft[:, : size // 16], soft[:, -size // 16 :] = 0.05, 0.05, 0.05, 0.05
    return soft


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_a_seed_grows_over_its_uniform_object_and_stops_at_its_edge():
    image, disc = scene()
    soft = part_map(disc)
    assert iou(soft >= 0.5, disc) < 0.1, "the map alone holds a small part of the object"
    cut = grabcut_mask(soft, image)
    assert iou(cut, disc) > 0.95, "the cut covers the whole disc"
    assert not cut[~disc].any() or cut[~disc].mean() < 0.01, "and stops at its edge"
    grown = grow(soft, image)
    assert iou(grown > 0.5, disc) > 0.95 and grown.dtype == np.float32
    assert grown[disc].min() >= 0.5 and grown[~disc].max() < 0.5 + 1e-6, "mean of map and cut: object above 0.5, background below"


def test_sure_pixels_keep_their_side():
    image, disc = scene()
    soft = part_map(disc)
    soft[0, 0] = 0.95  # a sure object pixel in the background's colour, in a corner
    cut = grabcut_mask(soft, image)
    assert cut[0, 0], "GrabCut never relabels the map's sure pixels"


@pytest.mark.parametrize("value", [0.3, 0.7])
def test_a_map_sure_of_nothing_is_kept(value):
    image, _ = scene()
    flat = np.full((128, 128), value, np.float32)  # all one side of 0.5: nothing to fit the other colour model to
    assert grabcut_mask(flat, image) is None
    assert np.array_equal(grow(flat, image), flat)


def test_a_large_photo_is_cut_at_128_px_and_brought_back():
    image, disc = scene(512)
    grown = grow(part_map(disc), image)
    assert grown.shape == (512, 512) and iou(grown > 0.5, disc) > 0.93


def test_refine_grabcut_in_the_api_grows_a_baseline():
    """`saliency.load(refine="grabcut")` wraps any model: the centre prior's map, sure of the
    centre and of the border, grows over the rest of the disc."""
    import saliency

    image, disc = scene()
    plain, grown = saliency.load("center-prior"), saliency.load("center-prior", refine="grabcut")
    assert grown.name == "center-prior+grabcut"
    assert iou(grown.mask(image), disc) > iou(plain.mask(image), disc) + 0.1
    with pytest.raises(UserError, match="refine is one of none, grabcut, not 'crf'"):
        saliency.load("center-prior", refine="crf")


@pytest.mark.parametrize("refine", [False, True])
def test_pseudo_label_grow_reaches_the_pseudo_mask_with_or_without_refinement(tmp_path, refine):
    """`pseudo-label --grow` (with `--refine` too, as the shipped recipe runs: the guided filter
    once refined the fused map and dropped the grown one): a teacher that lights a small core of
    the disc hands over the whole disc."""
    import cv2

    from saliency.real_photos.pseudo_labels import PseudoLabelConfig, label_photos

    image, disc = scene()
    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "p.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def teacher(photo):
        return part_map(disc)

    masks = {}
    for grow_on in (False, True):
        out = tmp_path / f"out-{grow_on}"
        cfg = PseudoLabelConfig(
            photos=str(tmp_path / "photos"), teachers=["core"], keep=1.0, min_area=0.0, grow=grow_on, refine=refine, confidence=True
        )
        label_photos(cfg, [teacher], out, progress=False)
        masks[grow_on] = cv2.imread(str(out / "masks" / "p.png"), cv2.IMREAD_UNCHANGED) > 128
    assert iou(masks[False], disc) < 0.2 and iou(masks[True], disc) > 0.9
