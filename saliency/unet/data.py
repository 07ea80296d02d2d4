"""Training data for the U-Net: synth shards or any folder of image/mask pairs, and the papers'
on-the-fly mode that draws accepted pairs straight from generator + selected direction.

Batches are a pure function of (seed, step): step s takes global positions s*B .. s*B+B-1 of an
endless sequence of per-epoch permutations, and each sample's augmentation is seeded by its
position. A resumed run therefore sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from saliency.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def find_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """Pairs from a synth output (shards/*/images, masks) or a folder with images/ and masks/ (matched by stem)."""
    root = Path(root)
    if (root / "shards").is_dir():
        from saliency.synthesis import list_pairs

        pairs = list_pairs(root)
    elif (root / "images").is_dir() and (root / "masks").is_dir():
        masks = {p.stem: p for p in (root / "masks").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        missing = [p.name for p in images if p.stem not in masks]
        if missing:
            raise UserError(f"{len(missing)} image(s) in {root / 'images'} have no mask in {root / 'masks'}, e.g. {missing[0]}")
        pairs = [(p, masks[p.stem]) for p in images]
    else:
        raise UserError(f"{root} is neither a `saliency synth` output (shards/) nor a folder with images/ and masks/")
    if not pairs:
        raise UserError(f"no image/mask pairs under {root}")
    return pairs


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"cannot read image {path} (missing or corrupt); replace or remove it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise UserError(f"cannot read mask {path} (missing or corrupt); replace or remove it")
    if m.ndim == 3:  # some published masks are stored as RGB(A)
        m = m[..., :3].max(axis=2)
    return m


@dataclass
class AugmentConfig:
    flip: bool = True
    crop: bool = True  # random scale/crop
    color: bool = True  # colour jitter


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
    return A.Compose(ops)


class PairDataset(Dataset):
    """Items are (index, augmentation seed) -> (RGB float [3, S, S] in [0, 1], mask float [1, S, S])."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: int, augment: AugmentConfig | None = None) -> None:
        self.pairs, self.size = pairs, size
        self.transform = build_transform(size, augment)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        image_path, mask_path = self.pairs[index]
        image, mask = read_rgb(image_path), read_mask(mask_path)
        if mask.shape[:2] != image.shape[:2]:
            raise UserError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is {image.shape[1]}x{image.shape[0]}")
        self.transform.set_random_seed(seed)
        out = self.transform(image=image, mask=(mask > 127).astype(np.uint8))
        x = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float() / 255
        y = torch.from_numpy(np.ascontiguousarray(out["mask"]))[None].float()
        return x, y


class StepBatches:
    """Batch sampler: the index lists of steps start..steps-1 (this rank's share of each global batch)."""

    def __init__(self, n: int, batch_size: int, start: int, steps: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.start, self.steps, self.seed = n, batch_size, start, steps, seed
        self.rank, self.world = rank, world
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))}
        return self._perms[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        items = []
        for j in range(self.rank, self.batch_size, self.world):
            q = step * self.batch_size + j
            items.append((int(self._perm(q // self.n)[q % self.n]), (self.seed * 1_000_003 + q) % (2**32)))
        return items

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return self.steps - self.start


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

    def batch(self, step: int, n: int, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        images, masks, b = [], [], 0
        got = 0
        while got < n:
            result = self._candidate_batch(self.G, self.cfg, (stream * 10**9) + step * 1000 + b, self.h)
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
        return x, y
