"""Training data for the U-Net: synth shards or any folder of image/mask pairs, and the papers'
on-the-fly mode that draws accepted pairs straight from generator + selected direction.

Masks are 0 (background) and 255 (object); a pseudo-mask may also say "unsure" (128, any value
in 64..191), and such pixels carry no loss. Every source yields (image, target, weight).

Synthetic objects can be pasted onto real photos (`Paste`): a U-Net that only ever sees
generated scenes learns their shortcuts (masks never touch the frame; backgrounds are smooth),
and real textured backgrounds with objects cut by the frame take both away. And synthetic pairs
can be mixed into a student's batches of pseudo-labelled photos at a ratio (`MixedDataset`).

A pseudo-labelled photo can be shown as a close-up of its object (`Reframe`, `close_up_crop`): teachers that
take the frame for background cut a subject that fills the frame into its most contrasted parts,
and a crop of a whole object's mask is a label for exactly that case, on real textures.

Or zoomed out (`zoom_out`): the photo, with its mask, scaled down into a wider canvas made of a
corner of another photo (mostly its background), whose own object and unsure pixels carry no loss. Unlabeled photos of one salient
object are mostly close framings (a centre-cropped DUTS-TR photo's object covers about a quarter
of it), while real scenes often hold a small object in a wide frame; a student that never sees
one learns a size, not an object. The composition's mask is known exactly at every scale.

Items are drawn by saliency.batches.StepBatches, each with a seed of its own from which every
random choice of the item (paste, close-up, zoom-out, augmentation) is made: a resumed run sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from saliency.errors import UserError
from saliency.images import read_mask, read_rgb
from saliency.pairs import BACKGROUND_BELOW, OBJECT_ABOVE


@dataclass
class AugmentConfig:
    """The photometric and geometric augmentation (albumentations), after any framing."""

    flip: bool = True
    crop: bool = True  # random scale/crop
    color: bool = True  # colour jitter
    degrade: bool = False  # blur, noise, JPEG, greyscale: what real photos have and clean samples lack


def build_transform(size: int, augment: AugmentConfig | None):
    import albumentations as A

    ops = []
    if augment and augment.crop:
        ops.append(A.RandomResizedCrop(size=(size, size), scale=(0.5, 1.0), ratio=(0.8, 1.25)))
    else:
        ops.append(A.Resize(size, size))
    if augment and augment.flip:
        ops.append(A.HorizontalFlip(p=0.5))
    if augment and augment.color:
        ops.append(A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=0.8))
    if augment and augment.degrade:
        ops += [
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5)), A.Sharpen()], p=0.4),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.3),
            A.ImageCompression(quality_range=(40, 95), p=0.3),
            A.ToGray(p=0.05),
        ]
    return A.Compose(ops)


def mask_target(mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 mask -> (target, weight) float [1, H, W]: object above 191, background below 64,
    anything between is "unsure" and weighs 0. Outside the band the weight is the pixel's
    confidence: 1 at 0 and 255, falling linearly to 1/64 next to the band (how
    saliency.real_photos.refine.encode_confidence writes it); 0 / 128 / 255 masks weigh 1 / 0 / 1."""
    m = torch.from_numpy(np.ascontiguousarray(mask))[None].float()
    obj, ramp = m > OBJECT_ABOVE, 255 - OBJECT_ABOVE  # == BACKGROUND_BELOW: both ramps are 64 levels
    weight = torch.where(
        obj, (m - OBJECT_ABOVE) / ramp, torch.where(m < BACKGROUND_BELOW, (BACKGROUND_BELOW - m) / BACKGROUND_BELOW, torch.zeros_like(m))
    )
    return obj.float(), weight


def close_up_crop(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, min_side: float = 0.45
) -> tuple[np.ndarray, np.ndarray] | None:
    """A square crop on the mask's object, 60-100% of the object's longer extent (so the frame cuts
    it, as in a close-up) but at least `min_side` of the photo's shorter side (at most ~2x
    upsampling), centred on the object give or take 15% of the crop. None where the mask holds no
    whole object to zoom on: object under 3% or over 50% of the photo (nothing to see, or a
    close-up already), or touching the frame along more than 10% of it (the teacher's object may
    be a part of one the frame cut)."""
    obj = mask > OBJECT_ABOVE
    if not 0.03 <= obj.mean() <= 0.5 or np.concatenate([obj[0], obj[-1], obj[:, 0], obj[:, -1]]).mean() > 0.1:
        return None
    h, w = obj.shape
    ys, xs = np.nonzero(obj)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    side = int(np.clip(rng.uniform(0.6, 1.0) * extent, min_side * min(h, w), min(h, w)))
    cy, cx = (ys.min() + ys.max()) / 2 + rng.uniform(-0.15, 0.15, size=2) * side
    y0, x0 = int(np.clip(round(cy - side / 2), 0, h - side)), int(np.clip(round(cx - side / 2), 0, w - side))
    return image[y0 : y0 + side, x0 : x0 + side], mask[y0 : y0 + side, x0 : x0 + side]


ZOOM_SCALES = (0.25, 0.75)  # the photo's long side in the canvas: its object's share shrinks 1/16 .. 1/2
CANVAS_FRACTION = (0.5, 0.8)  # the canvas: a corner of another photo this share of its side, mostly its background


def zoom_out(
    image: np.ndarray,
    mask: np.ndarray,
    canvas: np.ndarray,
    canvas_mask: np.ndarray,
    scale: float,
    rng: np.random.Generator,
    feather: float = 0.06,
) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) scaled so its long side is `scale` of the canvas's short side and placed at a
    random place wholly inside `canvas` (whose size the result takes). The photo's mask goes along
    exactly (nearest-neighbour, so confidence levels are kept); the canvas's own object and unsure
    pixels become unsure (no loss), its background stays background. The inset's border is blended
    into the canvas over `feather` of its side, so no hard seam outlines it; under the blend a
    pixel keeps a label only where both sides call it background."""
    h, w = canvas.shape[:2]
    ih, iw = image.shape[:2]
    factor = scale * min(h, w) / max(ih, iw)
    oh, ow = max(1, round(ih * factor)), max(1, round(iw * factor))
    small = cv2.resize(image, (ow, oh), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (ow, oh), interpolation=cv2.INTER_NEAREST)
    top, left = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
    out_mask = np.where(canvas_mask < BACKGROUND_BELOW, canvas_mask, 128).astype(np.uint8)
    ramp = feather * min(oh, ow)  # pixels over which the inset fades in from its border
    yy, xx = np.arange(oh)[:, None], np.arange(ow)[None, :]
    edge = np.minimum(np.minimum(yy, oh - 1 - yy), np.minimum(xx, ow - 1 - xx)).astype(np.float32)
    alpha = np.clip((edge + 1) / (ramp + 1), 0, 1)
    region = (slice(top, top + oh), slice(left, left + ow))
    out = canvas.copy()
    out[region] = (alpha[..., None] * small + (1 - alpha[..., None]) * canvas[region]).round().astype(np.uint8)
    both_background = (small_mask < BACKGROUND_BELOW) & (out_mask[region] < BACKGROUND_BELOW)
    out_mask[region] = np.where(alpha >= 1, small_mask, np.where(both_background, np.maximum(small_mask, out_mask[region]), 128))
    return out, out_mask


Item = tuple[np.ndarray, np.ndarray]  # (RGB uint8 image, uint8 mask)


class PairDataset(Dataset):
    """The U-Net's training set, composed as torchvision's presets are: pairs decoded from disk,
    then the first of `framings` that takes the item (a paste onto a real photo, a close-up, a
    zoom-out: each draws its share from the item's seed), then the augmentation, then tensors.
    Items are (index, seed) -> (RGB float [3, S, S] in [0, 1], target [1, S, S], weight [1, S, S])."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: int, augment: AugmentConfig | None = None, framings: Sequence = ()) -> None:
        self.pairs, self.size, self.augment, self.framings = pairs, size, augment, list(framings)
        self.transform = build_transform(size, augment)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"PairDataset({len(self.pairs)} pairs, size={self.size}, framings={self.framings}, augment={self.augment})"

    def load(self, index: int) -> Item:
        image_path, mask_path = self.pairs[index]
        image, mask = read_rgb(image_path), read_mask(mask_path)
        if mask.shape[:2] != image.shape[:2]:
            raise UserError(
                f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is {image.shape[1]}x{image.shape[0]}"
            )
        return image, mask

    def finish(self, image: np.ndarray, mask: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.transform.set_random_seed(seed)
        out = self.transform(image=image, mask=mask)
        x = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float() / 255
        return (x, *mask_target(out["mask"]))

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        item = self.load(index)
        for framing in self.framings:
            if (framed := framing(item, index, seed, self)) is not None:
                item = framed
                break
        return self.finish(*item, seed)


class Reframe:
    """A framing: one uniform draw from the item's seed shows it, by their shares, as a close-up of
    its object (`close_up_crop`), zoomed out into a corner of another pair's photo (`zoom_out`),
    or leaves it to the next framing."""

    def __init__(self, close_up: float = 0.0, zoom: float = 0.0) -> None:
        for name, share in (("close-up", close_up), ("zoom-out", zoom)):
            if not 0.0 <= share <= 1.0:
                raise UserError(f"the {name} share must lie in [0, 1], not {share}")
        if close_up + zoom > 1.0:
            raise UserError(f"the close-up and zoom-out shares add up to {close_up + zoom:g}, more than all items")
        self.close_up, self.zoom = close_up, zoom

    def __repr__(self) -> str:
        return f"Reframe(close_up={self.close_up:g}, zoom={self.zoom:g})"

    def __call__(self, item: Item, index: int, seed: int, dataset: PairDataset) -> Item | None:
        image, mask = item
        rng = np.random.default_rng([seed, 0x7A6F6F6D])  # a stream of its own, as MixedDataset's
        u = rng.random()
        if u < self.close_up:
            return close_up_crop(image, mask, rng)
        if u < self.close_up + self.zoom and len(dataset) > 1:
            other = (index + 1 + int(rng.integers(len(dataset) - 1))) % len(dataset)
            canvas, canvas_mask = dataset.load(other)
            box = corner_box(*canvas.shape[:2], rng, CANVAS_FRACTION)  # mostly the other photo's background
            h, w = image.shape[:2]
            canvas = cv2.resize(canvas[box], (w, h), interpolation=cv2.INTER_LINEAR)
            canvas_mask = cv2.resize(canvas_mask[box], (w, h), interpolation=cv2.INTER_NEAREST)
            return zoom_out(image, mask, canvas, canvas_mask, rng.uniform(*ZOOM_SCALES), rng)
        return None


def corner_box(h: int, w: int, rng: np.random.Generator, fraction: tuple[float, float] = (0.35, 0.6)) -> tuple[slice, slice]:
    """A box of `fraction` of the photo's side at one of its corners: the corners of object photos
    are mostly background, the middle mostly the object."""
    frac = rng.uniform(*fraction)
    ch, cw = max(2, int(h * frac)), max(2, int(w * frac))
    y0, x0 = (0, h - ch)[rng.integers(2)], (0, w - cw)[rng.integers(2)]
    return slice(y0, y0 + ch), slice(x0, x0 + cw)


def background_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A corner crop of the photo (`corner_box`), resized to `size`: a real background."""
    return cv2.resize(photo[corner_box(*photo.shape[:2], rng)], (size, size), interpolation=cv2.INTER_LINEAR)


PASTE_SCALES = (0.35, 0.9)


def paste_object(
    background: np.ndarray, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, scales: tuple[float, float] = PASTE_SCALES
) -> tuple[np.ndarray, np.ndarray]:
    """The masked object of (image, mask), rescaled so its longer extent is `scales` (default
    35-90%) of the frame and placed anywhere with at least 60% of it inside (so the frame cuts
    some objects), over `background`. The returned mask is exactly the pasted pixels."""
    size = background.shape[0]
    ys, xs = np.nonzero(mask > 127)
    if len(ys) == 0:
        return background.copy(), np.zeros(background.shape[:2], np.uint8)
    obj, m = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] > 127
    scale = rng.uniform(*scales) * size / max(obj.shape[:2])
    oh, ow = max(1, round(obj.shape[0] * scale)), max(1, round(obj.shape[1] * scale))
    obj = cv2.resize(obj, (ow, oh), interpolation=cv2.INTER_LINEAR)
    m = cv2.resize(m.astype(np.uint8), (ow, oh), interpolation=cv2.INTER_NEAREST).astype(bool)
    top = int(rng.integers(-int(0.4 * oh), size - int(0.6 * oh) + 1))
    left = int(rng.integers(-int(0.4 * ow), size - int(0.6 * ow) + 1))
    y0, x0, y1, x1 = max(0, top), max(0, left), min(size, top + oh), min(size, left + ow)
    out, out_mask = background.copy(), np.zeros((size, size), np.uint8)
    region = m[y0 - top : y1 - top, x0 - left : x1 - left]
    out[y0:y1, x0:x1][region] = obj[y0 - top : y1 - top, x0 - left : x1 - left][region]
    out_mask[y0:y1, x0:x1][region] = 255
    return out, out_mask


class Paste:
    """A framing: with probability `share` (the item seed's first draw) the pair's object pasted
    onto a corner crop of a random real photo (`paste_object`)."""

    def __init__(self, backgrounds: list[Path], size: int, share: float = 0.5, scales: tuple[float, float] = PASTE_SCALES) -> None:
        if not backgrounds:
            raise UserError("no background photos to paste onto")
        if not 0 < scales[0] <= scales[1]:
            raise UserError(f"paste scales must be 0 < LO <= HI, not {scales[0]:g},{scales[1]:g}")
        self.backgrounds, self.size, self.share, self.scales = backgrounds, size, share, tuple(scales)

    def __repr__(self) -> str:
        return f"Paste({len(self.backgrounds)} backgrounds, share={self.share:g}, scales={self.scales})"

    def __call__(self, item: Item, index: int, seed: int, dataset: PairDataset) -> Item | None:
        rng = np.random.default_rng(seed)
        if rng.random() >= self.share:
            return None
        photo = read_rgb(self.backgrounds[int(rng.integers(len(self.backgrounds)))])
        return paste_object(background_crop(photo, self.size, rng), *item, rng, self.scales)


class MixedDataset(Dataset):
    """Items of `primary`, but with probability `ratio` (drawn from the item's seed, so a resumed
    run sees the same batches) a random item of `extra` instead: synthetic pairs with exact masks
    mixed into a student's batches of pseudo-labelled photos at a fixed share."""

    def __init__(self, primary: Dataset, extra: Dataset, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise UserError(f"the mix ratio must lie in [0, 1], not {ratio}")
        self.primary, self.extra, self.ratio = primary, extra, ratio

    def __len__(self) -> int:
        return len(self.primary)

    def __repr__(self) -> str:
        return f"MixedDataset(ratio={self.ratio:g}, primary={self.primary}, extra={self.extra})"

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng([seed, 0x6D6978])  # a stream of its own: the paste / augmentation draws stay those of `seed`
        if rng.random() < self.ratio:
            return self.extra[int(rng.integers(len(self.extra))), seed]
        return self.primary[index, seed]


def split_pairs(pairs: list, val_fraction: float = 0.05, max_val: int = 512) -> tuple[list, list]:
    """Hold out the last pairs (synth order is already random) for validation."""
    n_val = min(max_val, max(1, int(len(pairs) * val_fraction))) if len(pairs) > 1 else 0
    return pairs[: len(pairs) - n_val], pairs[len(pairs) - n_val :]


class OnTheFly:
    """The papers' mode: each step draws fresh accepted pairs from generator + selected direction."""

    def __init__(self, G, synth_cfg, size: int, flip: bool = True) -> None:
        from saliency.synthesis import candidate_batch

        self.G, self.cfg, self.size, self.flip = G, synth_cfg, size, flip
        self._candidate_batch = candidate_batch
        self.h = torch.tensor(synth_cfg.direction, dtype=torch.float32, device=G.device) * synth_cfg.shift

    def batch(self, step: int, n: int, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images, masks, b = [], [], 0
        got = 0
        while got < n:
            result = self._candidate_batch(self.G, self.cfg, stream * 10**9 + step, b, self.h)
            keep = result["keep"].to(result["images"].device)
            images.append(result["images"][keep])
            masks.append(result["masks"][keep])
            got += int(keep.sum())
            b += 1
            if b > 1000:
                raise UserError("on-the-fly sampling accepts almost nothing: check the selection and filters")
        x = (torch.cat(images)[:n] + 1) / 2
        y = torch.cat(masks)[:n]
        if x.shape[-1] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
            y = (torch.nn.functional.interpolate(y, size=(self.size, self.size), mode="bilinear", align_corners=False) > 0.5).float()
        if self.flip:
            flip = torch.rand(n, generator=torch.Generator().manual_seed(step)) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        return x, y, torch.ones_like(y)
