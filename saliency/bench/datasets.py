"""Benchmark sets in their official layouts, and any folder of photos and masks.

| name | images | masks | protocol |
|---|---|---|---|
| ecssd | images/*.jpg | ground_truth_mask/*.png | saliency: whole photo |
| duts-te | DUTS-TE-Image/*.jpg | DUTS-TE-Mask/*.png | saliency: whole photo |
| dut-omron | DUT-OMRON-image/*.jpg | pixelwiseGT-new-PNG/*.png | saliency: whole photo |
| hku-is | imgs/*.png | gt/*.png | saliency: whole photo |
| pascal-s | datasets/imgs/pascal/*.jpg | datasets/masks/pascal/*.png | saliency: whole photo, soft masks at 0.5 |
| cub | CUB_200_2011/images/CLASS/*.jpg | segmentations/CLASS/*.png | objects: official test split, centre square crop |
| flowers | jpg/image_N.jpg | segmim/segmim_N.jpg | objects: setid.mat's trnid, centre square crop |

Ground truth is binarised at 128 (soft edges in DUTS-TE, PASCAL-S's and CUB's annotator
averages; RGB-stored masks are reduced to one channel). CUB and Flowers follow the code of the
papers that report them (Melas-Kyriazi et al. 2022, `src/config/segment.yaml` and
`datasets/real_dataset.py`: photo and mask centre-cropped to a square, mask > 0.5; Flowers'
split and mask rule as ReDO's code (Chen et al. 2019), which the GAN papers follow: its test
images are setid.mat's `trnid` (1,020), and a pixel of the colour-coded segmim image is
background where its red or green is 0 or its blue 254). Stray files (.DS_Store, notebook
checkpoints, other suffixes) are ignored. A missing mask, an unreadable file or a size mismatch
is an error naming the file, or, with `skip_bad`, a listed skip: never a silent wrong number.

`open_folder(images, masks)` benches any labelled folder: photos and masks paired by their path
under each folder without the suffix (so nested folders that mirror each other pair up), else by
file stem where the stem is unique; what stays unpaired is listed, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from saliency.errors import UserError
from saliency.images import center_box, try_read_rgb
from saliency.paths import datasets_dir, shared_datasets_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".gif")


@dataclass
class Sample:
    stem: str
    image: Path
    mask: Path


@dataclass(frozen=True)
class DatasetLayout:
    name: str
    folder: str  # default folder name under a datasets directory
    images: str
    masks: str
    expected: int  # images in the full official set (its test split where it has one)
    protocol: str = "saliency: the whole photo, ground truth >= 128"
    crop: bool = False  # centre square crop of photo and mask before predicting (CUB, Flowers)
    pairs: Callable[[Path], tuple[list[Sample], list[str]]] | None = None  # (samples, unpaired) where stems do not pair
    mask_rule: Callable[[np.ndarray], np.ndarray] | None = None  # decoded mask (any channels) -> bool object


def _cub_pairs(root: Path) -> tuple[list[Sample], list[str]]:
    """CUB-200-2011's official test split (train_test_split.txt: is_training_image 0, 5,794
    photos) with the masks of its separate segmentations release."""
    base = root / "CUB_200_2011"
    try:
        paths = dict(line.split(maxsplit=1) for line in (base / "images.txt").read_text().splitlines() if line.strip())
        split = dict(line.split() for line in (base / "train_test_split.txt").read_text().splitlines() if line.strip())
    except (OSError, ValueError) as e:
        raise UserError(f"cub: cannot read {base / 'images.txt'} and train_test_split.txt ({e}); unpack CUB_200_2011.tgz there") from None
    samples, unpaired = [], []
    for image_id, rel in sorted(paths.items(), key=lambda kv: int(kv[0])):
        if split.get(image_id) != "0":
            continue
        mask = root / "segmentations" / Path(rel).with_suffix(".png")
        if mask.is_file():
            samples.append(Sample(Path(rel).stem, base / "images" / rel, mask))
        else:
            unpaired.append(f"no mask for {base / 'images' / rel} (expected {mask})")
    return samples, unpaired


def _flowers_pairs(root: Path) -> tuple[list[Sample], list[str]]:
    """Flowers-102's images listed in setid.mat's `trnid` (ReDO's test split, 1,020 photos)."""
    from scipy.io import loadmat

    try:
        ids = loadmat(str(root / "setid.mat"))["trnid"].ravel()
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"flowers: cannot read the split from {root / 'setid.mat'} ({e}); download setid.mat beside jpg/") from None
    samples, unpaired = [], []
    for i in sorted(int(i) for i in ids):
        image, mask = root / "jpg" / f"image_{i:05d}.jpg", root / "segmim" / f"segmim_{i:05d}.jpg"
        if image.is_file() and mask.is_file():
            samples.append(Sample(image.stem, image, mask))
        else:
            unpaired.append(f"image {i}: {image if not image.is_file() else mask} missing")
    return samples, unpaired


def flowers_object(mask: np.ndarray) -> np.ndarray:
    """ReDO's rule for a segmim image (RGB): background where red or green is 0 or blue is 254
    (the painted background is blue), object elsewhere."""
    if mask.ndim != 3:
        raise UserError("a Flowers-102 segmim mask is a colour image; this one is grey")
    r, g, b = mask[..., 0], mask[..., 1], mask[..., 2]
    return ~((r == 0) | (g == 0) | (b == 254))


SALIENCY_SOFT = "saliency: the whole photo, soft masks (annotator agreement) binarised at 128"
OBJECTS = "objects: photo and mask centre-cropped to a square (the GAN papers' code), ground truth > 0.5"

LAYOUTS = {
    "ecssd": DatasetLayout("ecssd", "ECSSD", "images", "ground_truth_mask", 1000),
    "duts-te": DatasetLayout("duts-te", "DUTS-TE", "DUTS-TE-Image", "DUTS-TE-Mask", 5019),
    "dut-omron": DatasetLayout("dut-omron", "DUT-OMRON", "DUT-OMRON-image", "pixelwiseGT-new-PNG", 5168),
    "hku-is": DatasetLayout("hku-is", "HKU-IS", "imgs", "gt", 4447),
    "pascal-s": DatasetLayout("pascal-s", "PASCAL-S", "datasets/imgs/pascal", "datasets/masks/pascal", 850, SALIENCY_SOFT),
    "cub": DatasetLayout(
        "cub", "CUB-200-2011", "CUB_200_2011/images", "segmentations", 5794, OBJECTS + "; official test split", True, _cub_pairs
    ),
    "flowers": DatasetLayout(
        "flowers",
        "Flowers-102",
        "jpg",
        "segmim",
        1020,
        OBJECTS + "; setid.mat's trnid (ReDO's test split), background = red or green 0 or blue 254",
        True,
        _flowers_pairs,
        flowers_object,
    ),
}
# the saliency sets of the papers' tables: what `saliency demo` benches
PAPER_SALIENCY_SETS = ("ecssd", "duts-te", "dut-omron")


def layout(name: str) -> DatasetLayout:
    if name not in LAYOUTS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def candidate_roots(name: str) -> list[Path]:
    """Where a dataset is looked for when --root is not given, in order."""
    folder = layout(name).folder
    return [datasets_dir() / folder, shared_datasets_dir() / folder]


def is_laid_out(name: str, root: Path) -> bool:
    spec = layout(name)
    return (root / spec.images).is_dir() and (root / spec.masks).is_dir()


def is_present(name: str) -> bool:
    """The set is in one of its default places."""
    return any(is_laid_out(name, r) for r in candidate_roots(name))


def find_root(name: str, root: str | Path | None = None) -> Path:
    spec = layout(name)
    roots = [Path(root)] if root else candidate_roots(name)
    for r in roots:
        if is_laid_out(name, r):
            return r
    where = " or ".join(str(r) for r in roots)
    raise UserError(
        f"{name} not found at {where}: expected {spec.images}/ and {spec.masks}/ inside. "
        f"Put the official release there, pass --root DIR, or add --download where the machine is online"
    )


@dataclass
class BenchmarkSet:
    name: str
    root: Path
    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)
    skip_bad: bool = False
    unpaired: list[str] = field(default_factory=list)  # files left out because nothing pairs with them
    protocol: str = LAYOUTS["ecssd"].protocol
    threshold: int = 128  # ground truth >= this is object
    crop: bool = False
    mask_rule: Callable[[np.ndarray], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[tuple[Sample, np.ndarray, np.ndarray]]:
        """(sample, RGB uint8 image, binary bool mask); bad files raise or are skipped."""
        for s in self.samples:
            try:
                yield s, *load_pair(s, self.threshold, self.crop, self.mask_rule)
            except UserError as e:
                if not self.skip_bad:
                    raise
                self.skipped.append(str(e))


def _files(folder: Path, suffixes: tuple[str, ...], recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.is_file() and p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def open_dataset(name: str, root: str | Path | None = None, skip_bad: bool = False, limit: int | None = None) -> BenchmarkSet:
    spec = layout(name)
    root = find_root(name, root)
    if spec.pairs:
        samples, missing = spec.pairs(root)
    else:
        masks = {p.stem: p for p in _files(root / spec.masks, (".png", ".bmp", ".jpg"))}
        samples, missing = [], []
        for img in _files(root / spec.images, (".jpg", ".jpeg", ".png", ".bmp")):
            if img.stem in masks:
                samples.append(Sample(img.stem, img, masks[img.stem]))
            else:
                missing.append(f"no mask for {img} in {root / spec.masks} (expected {img.stem}.png)")
    if missing and not skip_bad:
        raise UserError(f"{missing[0]}; fix the dataset or pass --skip-bad" + (f" ({len(missing)} such files)" if len(missing) > 1 else ""))
    if not samples:
        raise UserError(f"no image/mask pairs in {root}")
    return BenchmarkSet(
        name, root, samples[:limit], list(missing), skip_bad, protocol=spec.protocol, crop=spec.crop, mask_rule=spec.mask_rule
    )


def open_folder(
    images: str | Path, masks: str | Path, name: str | None = None, threshold: int = 128, skip_bad: bool = False, limit: int | None = None
) -> BenchmarkSet:
    """Any folder of photos and one of masks (nested folders allowed, any image suffixes), paired
    by relative path without the suffix, then by unique file stem; the rest is listed in
    `unpaired`. No pair at all is an error."""
    images, masks = Path(images), Path(masks)
    for folder, flag in ((images, "--images"), (masks, "--masks")):
        if not folder.is_dir():
            raise UserError(f"{flag} {folder} is not a folder")
    if not 0 < threshold <= 255:
        raise UserError(f"--mask-threshold {threshold}: a mask value from 1 to 255 (object at or above it)")
    photo_files, mask_files = _files(images, IMAGE_SUFFIXES, True), _files(masks, MASK_SUFFIXES, True)

    def key(p: Path, folder: Path) -> str:
        return p.relative_to(folder).with_suffix("").as_posix()

    left = {key(m, masks): m for m in mask_files}
    pairs = {p: left.pop(key(p, images)) for p in photo_files if key(p, images) in left}
    by_stem: dict[str, list[Path]] = {}
    for p in photo_files:
        if p not in pairs:
            by_stem.setdefault(p.stem, []).append(p)
    mask_stems: dict[str, list[str]] = {}
    for k, m in left.items():
        mask_stems.setdefault(m.stem, []).append(k)
    for stem, found in by_stem.items():
        if len(found) == 1 and len(mask_stems.get(stem, [])) == 1:
            pairs[found[0]] = left.pop(mask_stems[stem][0])
    unpaired = [f"no mask for {p}" for p in photo_files if p not in pairs] + [f"no photo for mask {m}" for m in left.values()]
    if not pairs:
        raise UserError(
            f"no photo in {images} pairs with a mask in {masks} ({len(photo_files)} photos, {len(mask_files)} masks): "
            "a photo and its mask share a file name (any suffix), or the same path under each folder"
        )
    samples = [Sample(key(p, images), p, m) for p, m in sorted(pairs.items())]
    return BenchmarkSet(
        name or images.name,
        images,
        samples[:limit],
        skip_bad=skip_bad,
        unpaired=unpaired,
        protocol=f"your folder: the whole photo, ground truth >= {threshold}",
        threshold=threshold,
    )


def load_pair(
    s: Sample, threshold: int = 128, crop: bool = False, mask_rule: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    image, why = try_read_rgb(s.image)
    if image is None:
        raise UserError(f"cannot read image {s.image} ({why})")
    mask = cv2.imread(str(s.mask), cv2.IMREAD_COLOR if mask_rule else cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise UserError(f"cannot read mask {s.mask} (corrupt or not an image)")
    if mask_rule:
        gt = mask_rule(np.ascontiguousarray(mask[..., ::-1]))
    else:
        if mask.ndim == 3:
            mask = mask[..., :3].max(axis=2)
        if mask.dtype != np.uint8:
            mask = (mask.astype(np.float64) / np.iinfo(mask.dtype).max * 255).astype(np.uint8)
        gt = mask >= threshold
    if gt.shape != image.shape[:2]:
        raise UserError(f"mask {s.mask} is {gt.shape[1]}x{gt.shape[0]} but image {s.image} is {image.shape[1]}x{image.shape[0]}")
    box = center_box(*image.shape[:2])
    return (image[box], gt[box]) if crop else (image, gt)
