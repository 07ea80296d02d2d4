"""Opt-in download of the benchmark sets from their official sources (`saliency bench --download`).

Archives are fetched into DATA/datasets/.downloads (atomically, so an interrupted download is
simply fetched again), unpacked (zips, nested zips and tar archives; a plain file such as
Flowers' setid.mat is copied) into a temporary folder, checked, and only then moved to
DATA/datasets/NAME. Checks: the official image and mask counts (of the test split where a set
has one), for ECSSD every file's SHA-256 against `manifests/ecssd.sha256` (made from a copy of the
official release), and the MD5 that Caltech and Oxford publish for CUB's and Flowers' archives.
The other publishers give no checksums: their archives' SHA-256 are recorded on first download
(see saliency.weights). HKU-IS has no direct address (its authors share it through a web page):
its line says where to get it.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from saliency.bench.datasets import is_laid_out, layout, open_dataset
from saliency.errors import UserError
from saliency.paths import datasets_dir
from saliency.weights import download

MANIFESTS = Path(__file__).resolve().parent / "manifests"


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None = None
    md5: str | None = None


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
    "pascal-s": [Archive("http://cbs.ic.gatech.edu/salobj/download/salObj.zip")],
    "cub": [
        Archive("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz", md5="97eceeb196236b17998738112f37df78"),
        Archive("https://data.caltech.edu/records/w9d68-gec53/files/segmentations.tgz", md5="4d47ba1228eae64f2fa547c47bc65255"),
    ],
    "flowers": [
        Archive("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz", md5="52808999861908f626f3c1f4e79d11fa"),
        Archive("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102segmentations.tgz", md5="51375996b6c4f367a4b9f4492d7ecef5"),
        Archive("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat", md5="a5357ecc9cb78c4bef273ce3793fc85c"),
    ],
}

# sets whose publishers give no direct address: where to get them by hand
MANUAL = {
    "hku-is": "its authors share it from https://sites.google.com/site/ligb86/hkuis (HKU-IS.rar: imgs/ and gt/)",
}


def _inside(into: Path, member: str, archive: Path) -> None:
    target = (into / member).resolve()
    if not str(target).startswith(str(into.resolve())):
        raise UserError(f"{archive} holds a path outside its folder: {member}")


def _unpack(archive: Path, into: Path) -> None:
    """A zip (nested zips too) or tar archive unpacked into `into`; any other file copied there."""
    into.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _inside(into, member, archive)
                zf.extractall(into)
        except zipfile.BadZipFile as e:
            raise UserError(f"{archive} is not a valid zip ({e}); delete it and rerun to fetch it again") from None
    elif archive.suffix in (".tgz", ".gz", ".tar") and tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as tf:
                members = [m for m in tf.getmembers() if m.isfile() or m.isdir()]  # no links, devices
                for m in members:
                    _inside(into, m.name, archive)
                tf.extractall(into, members=members)
        except tarfile.TarError as e:
            raise UserError(f"{archive} is not a valid tar archive ({e}); delete it and rerun to fetch it again") from None
    else:
        shutil.copy(archive, into / archive.name)
        return
    for nested in list(into.rglob("*.zip")):
        opened = nested.rename(nested.with_name(nested.name + ".unpacking"))  # out of the next glob's way
        _unpack(opened, nested.parent)
        opened.unlink()


def _find_dir(root: Path, name: str) -> Path:
    hits = [p for p in root.rglob(name) if p.is_dir() and "__MACOSX" not in p.parts]
    if not hits:
        raise UserError(f"the downloaded archives hold no {name}/ folder; the publisher may have changed the layout")
    return min(hits, key=lambda p: len(p.parts))


def _laid_out_root(unpacked: Path, name: str) -> Path | None:
    """The shallowest folder of the unpacked archives that holds the set in its layout."""
    found = [d for d in [unpacked, *unpacked.rglob("*")] if d.is_dir() and "__MACOSX" not in d.parts and is_laid_out(name, d)]
    return min(found, key=lambda d: len(d.parts)) if found else None


def verify(root: Path, name: str, expected: int | None = None, manifest: Path | None = None) -> None:
    expected = layout(name).expected if expected is None else expected
    found = open_dataset(name, root, skip_bad=True)
    if len(found) != expected:
        raise UserError(f"{name}: expected {expected} image/mask pairs, the download holds {len(found)}")
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
    if is_laid_out(name, dest):
        return dest
    if sources is None and name in MANUAL:
        raise UserError(f"{name} cannot be downloaded automatically: {MANUAL[name]}; unpack it to {dest} or pass --root DIR")
    cache = dest.parent / ".downloads"
    with tempfile.TemporaryDirectory(dir=dest.parent if dest.parent.exists() else None, prefix=f".{spec.folder}-") as tmp:
        staging = Path(tmp)
        for archive in sources or SOURCES[name]:
            path = cache / Path(archive.url).name
            if not path.is_file():
                download(archive.url, path, archive.sha256, md5=archive.md5)
            _unpack(path, staging / "unpacked")
        final = _laid_out_root(staging / "unpacked", name)
        if final is None:  # images and masks in different archives' folders: bring them together
            final = staging / "final"
            for part in (spec.images, spec.masks):
                (final / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(_find_dir(staging / "unpacked", Path(part).name)), final / part)
        verify(final, name, expected, manifest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(final), dest)
    return dest
