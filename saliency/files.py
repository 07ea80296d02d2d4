"""Atomic writes, checksums and pickle-free checkpoint loading.

Every artefact the pipeline writes goes through `atomic_write` so that a run killed at any
moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from saliency.errors import UserError

if TYPE_CHECKING:
    import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_partial_writes(targets: list[Path]) -> int:
    """Delete the temporary files that `atomic_write` left beside any of `targets` when a process
    was killed mid-write (kill -9 runs no cleanup). Only these targets' temporaries: another
    process writing other files into the same folder keeps its own. Returns how many went."""
    wanted: dict[Path, set[str]] = {}
    for t in targets:
        wanted.setdefault(t.parent, set()).add(t.name)
    removed = 0
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for tmp in folder.glob(".*.tmp"):
            if tmp.name[1:].rsplit(".", 2)[0] in names:  # ".NAME.RANDOM.tmp" -> NAME
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed += 1
    return removed


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def write_png(path: str | Path, array: np.ndarray) -> None:
    """A PNG (8- or 16-bit, grey or BGR) written atomically; an array PNG cannot hold is named."""
    import cv2

    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise UserError(f"could not encode {path}")
    with atomic_write(path, "wb") as f:
        f.write(buf.tobytes())


def torch_save(obj: Any, path: str | Path) -> None:
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def safe_torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load` that can never run code from the file, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise UserError(
            f"cannot read {what} {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}. "
            "The file is truncated, corrupt, or not a plain tensor checkpoint; "
            "delete it and fetch or regenerate it."
        ) from None


def truncate_jsonl(path: str | Path, last_step: int) -> None:
    """Keep the log lines up to `last_step` (a resumed run rewrites the rest; a torn last line
    from a kill ends the kept part)."""
    path = Path(path)
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] > last_step:
                break
        except (ValueError, KeyError, TypeError):
            break
        keep.append(line)
    with atomic_write(path, "w") as f:
        f.write("".join(line + "\n" for line in keep))


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of a safetensors file, in one pass (raises safetensors' own
    errors or OSError; callers turn them into messages about what the file should have been)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
