"""Opt-in download of the benchmark sets from their official sources (`saliency bench --download`).

Archives are fetched into DATA/datasets/.downloads (atomically, so an interrupted download is
simply fetched again), unpacked (nested zips too) into a temporary folder, checked, and only
then moved to DATA/datasets/NAME. Checks: the official image and mask counts, and for ECSSD every
file's SHA-256 against `manifests/ecssd.sha256` (made from a copy of the official release). The
DUTS-TE and DUT-OMRON publishers give no checksums: their archives' SHA-256 are recorded on first
download (see saliency.weights).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from saliency.bench.datasets import layout
from saliency.errors import UserError
from saliency.paths import datasets_dir
from saliency.weights import download

MANIFESTS = Path(__file__).resolve().parent / "manifests"


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None = None


SOURCES: dict[str, list[Archive]] = {
    "ecssd": [
        Archive("http://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/data/ECSSD/images.zip"),
        Archive("http://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/data/ECSSD/ground_truth_mask.zip"),
    ],
    "duts-te": [Archive("http://saliencydetection.net/duts/download/DUTS-TE.zip")],
    "dut-omron": [
        Archive("http://saliencydetection.net/dut-omron/download/DUT-OMRON-image.zip"),
        Archive("http://saliencydetection.net/dut-omron/download/DUT-OMRON-gt-pixelwise.zip.zip"),
    ],
}


def _unzip_all(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (into / member).resolve()
                if not str(target).startswith(str(into.resolve())):
                    raise UserError(f"{archive} holds a path outside its folder: {member}")
            zf.extractall(into)
    except zipfile.BadZipFile as e:
        raise UserError(f"{archive} is not a valid zip ({e}); delete it and rerun to fetch it again") from None
    for nested in list(into.rglob("*.zip")):
        opened = nested.rename(nested.with_name(nested.name + ".unpacking"))  # out of the next glob's way
        _unzip_all(opened, nested.parent)
        opened.unlink()


def _find_dir(root: Path, name: str) -> Path:
    hits = [p for p in root.rglob(name) if p.is_dir() and "__MACOSX" not in p.parts]
    if not hits:
        raise UserError(f"the downloaded archives hold no {name}/ folder; the publisher may have changed the layout")
    return min(hits, key=lambda p: len(p.parts))


def verify(root: Path, name: str, expected: int | None = None, manifest: Path | None = None) -> None:
    spec = layout(name)
    expected = spec.expected if expected is None else expected
    images = [p for p in (root / spec.images).iterdir() if p.is_file() and not p.name.startswith(".")]
    masks = [p for p in (root / spec.masks).iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(images) != expected or len(masks) != expected:
        raise UserError(f"{name}: expected {expected} images and masks, the download holds {len(images)} and {len(masks)}")
    manifest = manifest if manifest is not None else MANIFESTS / f"{name}.sha256"
    if manifest.is_file():
        bad = []
        for line in manifest.read_text().splitlines():
            digest, rel = line.split(maxsplit=1)
            path = root / rel
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                bad.append(rel)
        if bad:
            raise UserError(
                f"{name}: {len(bad)} file(s) differ from {manifest.name}, e.g. {bad[0]}; the download is not the official release"
            )


def download_dataset(
    name: str, dest: Path | None = None, sources: list[Archive] | None = None, expected: int | None = None, manifest: Path | None = None
) -> Path:
    spec = layout(name)
    dest = dest or datasets_dir() / spec.folder
    if (dest / spec.images).is_dir() and (dest / spec.masks).is_dir():
        return dest
    cache = dest.parent / ".downloads"
    with tempfile.TemporaryDirectory(dir=dest.parent if dest.parent.exists() else None, prefix=f".{spec.folder}-") as tmp:
        staging = Path(tmp)
        for archive in sources or SOURCES[name]:
            path = cache / Path(archive.url).name
            if not path.is_file():
                download(archive.url, path, archive.sha256)
            _unzip_all(path, staging / "unpacked")
        final = staging / "final"
        final.mkdir()
        shutil.move(str(_find_dir(staging / "unpacked", spec.images)), final / spec.images)
        shutil.move(str(_find_dir(staging / "unpacked", spec.masks)), final / spec.masks)
        verify(final, name, expected, manifest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        final.rename(dest)
    return dest
