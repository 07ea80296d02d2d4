"""The on-disk format of image/mask pairs, one module for the stage that writes them (synth,
pseudo-label) and the stage that reads them (train-unet), so neither imports the other.

Layouts read by `find_pairs`:
- a `saliency synth` output: shards/SSSSS/{images,masks}/IIIIIIII.png, a shard counting once
  its shards/SSSSS/done.json exists (written last);
- a `saliency pseudo-label` output: pairs.json listing (photo, mask) with the photos left where
  they are;
- any folder with images/ and masks/ matched by file stem.

WebDataset shards (`synth --format webdataset`): shards/SSSSS.tar holding IIIIIIII.png and
IIIIIIII.mask.png, complete once shards/SSSSS.done.json exists; read from a folder, tar paths,
http(s) URLs or `pipe:` commands (the webdataset library's URL forms, brace patterns included).
Masks are 0 (background) and 255 (object); a pseudo-mask may also say "unsure" (any value in
64..191).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from saliency.errors import UserError
from saliency.files import atomic_write
from saliency.images import is_image_file

# a mask's levels: object above OBJECT_ABOVE, background below BACKGROUND_BELOW, "unsure" between
OBJECT_ABOVE, BACKGROUND_BELOW = 191, 64


def shard_dir(out: Path, shard: int) -> Path:
    return out / "shards" / f"{shard:05d}"


def list_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """All (image, mask) pairs of complete shards under `root`, in index order."""
    pairs = []
    for done in sorted(Path(root).glob("shards/*/done.json")):
        for image in sorted((done.parent / "images").glob("*.png")):
            pairs.append((image, done.parent / "masks" / image.name))
    return pairs


def find_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """Pairs from a synth output (shards/*/images, masks), a `pairs.json` list (pseudo-labelled
    photos, which stay where they are), or a folder with images/ and masks/ (matched by stem)."""
    root = Path(root)
    if (root / "shards").is_dir():
        pairs = list_pairs(root)
    elif (root / "pairs.json").is_file():
        try:
            pairs = [(Path(i), root / m) for i, m in json.loads((root / "pairs.json").read_text())["pairs"]]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{root / 'pairs.json'} is not a pairs list from `saliency pseudo-label`") from None
    elif (root / "images").is_dir() and (root / "masks").is_dir():
        masks = {p.stem: p for p in (root / "masks").iterdir() if is_image_file(p)}
        images = sorted(p for p in (root / "images").iterdir() if is_image_file(p))
        missing = [p.name for p in images if p.stem not in masks]
        if missing:
            raise UserError(f"{len(missing)} image(s) in {root / 'images'} have no mask in {root / 'masks'}, e.g. {missing[0]}")
        pairs = [(p, masks[p.stem]) for p in images]
    else:
        raise UserError(
            f"{root} is neither a `saliency synth` output (shards/), a `saliency pseudo-label` output (pairs.json) nor a folder with images/ and masks/"
        )
    if not pairs:
        raise UserError(f"no image/mask pairs under {root}")
    return pairs


PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # still lossless; level 1 encodes several times faster than the default 3


def write_pair(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    ok = cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), PNG_FAST) and cv2.imwrite(str(mask_path), mask, PNG_FAST)
    if not ok:
        raise OSError(f"could not write {image_path} (disk full or not writable?)")


class TarSink:
    """Collects one shard's encoded pairs and writes them as a WebDataset tar in one piece."""

    def __init__(self, path: Path) -> None:
        self.path, self.samples = path, []

    def submit(self, image: np.ndarray, mask: np.ndarray, key: str) -> None:
        ok_i, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), PNG_FAST)
        ok_m, mask_png = cv2.imencode(".png", mask, PNG_FAST)
        if not (ok_i and ok_m):
            raise OSError(f"could not encode sample {key}")
        self.samples.append({"__key__": key, "png": png.tobytes(), "mask.png": mask_png.tobytes()})

    def close(self) -> None:
        import webdataset as wds

        with atomic_write(self.path, "wb") as f, wds.TarWriter(f, encoder=False, mtime=0) as tar:
            for sample in self.samples:
                tar.write(sample)


def is_stream(data: str | Path) -> bool:
    """A URL, a pipe, a tar (pattern) or a synth output written with --format webdataset."""
    text = str(data)
    if text.startswith("pipe:") or "://" in text or text.endswith(".tar") or ".tar}" in text or "{" in text:
        return True
    return Path(text).is_dir() and any(Path(text).glob("shards/*.tar")) and not any(Path(text).glob("shards/*/done.json"))


def shard_urls(data: str | Path) -> list[str]:
    """The shard list of a stream: a folder's complete tars in order, else the given URL(s)."""
    path = Path(str(data))
    if path.is_dir():
        tars = sorted(p for p in (path / "shards").glob("*.tar") if p.with_suffix(".done.json").exists())
        if not tars:
            raise UserError(f"no complete WebDataset shards (shards/*.tar with their .done.json) under {path}")
        return [str(p) for p in tars]
    from braceexpand import braceexpand

    return list(braceexpand(str(data)))


def raw_samples(urls: list[str]) -> Iterator[dict]:
    import webdataset as wds

    dataset = wds.WebDataset(urls, shardshuffle=False, empty_check=False, nodesplitter=lambda u: u, workersplitter=lambda u: u)
    try:
        for sample in dataset:
            if "png" not in sample or "mask.png" not in sample:
                raise UserError(
                    f"a sample of {sample.get('__url__', urls[0])} lacks png or mask.png: not a `saliency synth --format webdataset` shard"
                )
            yield sample
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read WebDataset shards {urls[0]}{' ...' if len(urls) > 1 else ''}: {e}") from None


def decode(sample: dict) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imdecode(np.frombuffer(sample["png"], np.uint8), cv2.IMREAD_COLOR)
    mask = cv2.imdecode(np.frombuffer(sample["mask.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or mask is None:
        raise UserError(f"sample {sample.get('__key__')} of {sample.get('__url__')} does not decode as PNG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mask


def read_pairs(data: str | Path, limit: int | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(key, RGB image, mask) in stream order, no shuffling."""
    for i, sample in enumerate(raw_samples(shard_urls(data))):
        if limit is not None and i >= limit:
            return
        yield (sample["__key__"], *decode(sample))
