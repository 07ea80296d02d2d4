"""The directions file: K x d directions plus metadata, in safetensors (no pickle, readable anywhere).

Metadata values are strings (a safetensors rule); numbers and lists are stored as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save

from saliency.errors import UserError
from saliency.files import atomic_write, read_safetensors


@dataclass
class DirectionSet:
    directions: torch.Tensor  # [K, d]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def generator(self) -> str:
        return str(self.meta.get("generator", "?"))

    def __len__(self) -> int:
        return self.directions.shape[0]


def save_directions(path: str | Path, directions: torch.Tensor, meta: dict[str, Any]) -> None:
    text_meta = {k: json.dumps(v) for k, v in meta.items()}
    blob = save({"directions": directions.detach().float().cpu().contiguous()}, metadata=text_meta)
    with atomic_write(path, "wb") as f:
        f.write(blob)


def load_directions(path: str | Path) -> DirectionSet:
    """A directions file; a plain tensor file (.pt/.pth, e.g. BigGANsAreWatching's
    bg_direction.pth, shape [d] or [K, d]) is read too, without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"directions file not found: {path}; run `saliency discover` to make one")
    if path.suffix in (".pt", ".pth"):
        from saliency.files import safe_torch_load

        t = safe_torch_load(path, "direction tensor")
        if not isinstance(t, torch.Tensor) or t.ndim not in (1, 2):
            raise UserError(f"{path} holds no [d] or [K, d] tensor of directions")
        return DirectionSet(t.reshape(-1, t.shape[-1]).float(), {"source": str(path)})
    try:
        tensors, raw = read_safetensors(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"cannot read directions file {path}: {e}; regenerate it with `saliency discover`") from None
    if "directions" not in tensors or tensors["directions"].ndim != 2:
        raise UserError(f"{path} holds no K x d 'directions' tensor; is it a directions file?")
    meta = {k: json.loads(v) for k, v in raw.items()}
    return DirectionSet(tensors["directions"], meta)
