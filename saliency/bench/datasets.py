"""Benchmark datasets in their official layouts, paired by file stem.

| name | images | masks |
|---|---|---|
| ecssd | images/*.jpg | ground_truth_mask/*.png |
| duts-te | DUTS-TE-Image/*.jpg | DUTS-TE-Mask/*.png |
| dut-omron | DUT-OMRON-image/*.jpg | pixelwiseGT-new-PNG/*.png |

Ground truth is binarised at 128 (soft edges in DUTS-TE; RGB-stored masks are reduced to one
channel). Stray files (.DS_Store, notebook checkpoints, other suffixes) are ignored. A missing
mask, an unreadable file or a size mismatch is an error naming the file, or, with `skip_bad`,
a listed skip: never a silent wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from saliency.errors import UserError
from saliency.paths import datasets_dir

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@dataclass(frozen=True)
class DatasetLayout:
    name: str
    folder: str  # default folder name under a datasets directory
    images: str
    masks: str
    expected: int  # images in the full official set
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")


LAYOUTS = {
    "ecssd": DatasetLayout("ecssd", "ECSSD", "images", "ground_truth_mask", 1000),
    "duts-te": DatasetLayout("duts-te", "DUTS-TE", "DUTS-TE-Image", "DUTS-TE-Mask", 5019),
    "dut-omron": DatasetLayout("dut-omron", "DUT-OMRON", "DUT-OMRON-image", "pixelwiseGT-new-PNG", 5168),
}


def layout(name: str) -> DatasetLayout:
    if name not in LAYOUTS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def candidate_roots(name: str) -> list[Path]:
    """Where a dataset is looked for when --root is not given, in order."""
    folder = layout(name).folder
    return [datasets_dir() / folder, SHARED_DATASETS / folder]


def find_root(name: str, root: str | Path | None = None) -> Path:
    spec = layout(name)
    roots = [Path(root)] if root else candidate_roots(name)
    for r in roots:
        if (r / spec.images).is_dir() and (r / spec.masks).is_dir():
            return r
    where = " or ".join(str(r) for r in roots)
    raise UserError(
        f"{name} not found at {where}: expected {spec.images}/ and {spec.masks}/ inside. "
        f"Put the official release there, pass --root DIR, or add --download where the machine is online"
    )


@dataclass
class Sample:
    stem: str
    image: Path
    mask: Path


@dataclass
class BenchmarkSet:
    name: str
    root: Path
    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)
    skip_bad: bool = False

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[tuple[Sample, np.ndarray, np.ndarray]]:
        """(sample, RGB uint8 image, binary bool mask); bad files raise or are skipped."""
        for s in self.samples:
            try:
                yield s, *load_pair(s)
            except UserError as e:
                if not self.skip_bad:
                    raise
                self.skipped.append(str(e))


def _is_stray(p: Path, suffixes: tuple[str, ...]) -> bool:
    return p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in suffixes


def open_dataset(name: str, root: str | Path | None = None, skip_bad: bool = False, limit: int | None = None) -> BenchmarkSet:
    spec = layout(name)
    root = find_root(name, root)
    images = sorted(p for p in (root / spec.images).iterdir() if not _is_stray(p, spec.image_suffixes))
    masks = {p.stem: p for p in (root / spec.masks).iterdir() if not _is_stray(p, (".png", ".bmp", ".jpg"))}
    samples, skipped = [], []
    for img in images:
        if img.stem in masks:
            samples.append(Sample(img.stem, img, masks[img.stem]))
        elif skip_bad:
            skipped.append(f"no mask for {img} in {root / spec.masks}")
        else:
            raise UserError(f"no mask for {img} in {root / spec.masks} (expected {img.stem}.png); fix the dataset or pass --skip-bad")
    if not samples:
        raise UserError(f"no image/mask pairs in {root}")
    if limit:
        samples = samples[:limit]
    return BenchmarkSet(name, root, samples, skipped, skip_bad)


def load_pair(s: Sample) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"cannot read image {s.image} (corrupt or not an image)")
    mask = cv2.imread(str(s.mask), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise UserError(f"cannot read mask {s.mask} (corrupt or not an image)")
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    if mask.dtype != np.uint8:
        mask = (mask.astype(np.float64) / np.iinfo(mask.dtype).max * 255).astype(np.uint8)
    if mask.shape != image.shape[:2]:
        raise UserError(f"mask {s.mask} is {mask.shape[1]}x{mask.shape[0]} but image {s.image} is {image.shape[1]}x{image.shape[0]}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mask >= 128
