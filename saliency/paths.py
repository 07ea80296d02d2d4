"""Where datasets, weights and run outputs live on a user's machine.

`SALIENCY_DATA` overrides everything; otherwise a source checkout uses its own `data/` folder
(git-ignored) and an installed package uses `~/.cache/saliency`.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    if env := os.environ.get("SALIENCY_DATA"):
        return Path(env).expanduser()
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "data").is_dir():
        return _CHECKOUT / "data"
    return Path.home() / ".cache" / "saliency"


def weights_dir() -> Path:
    """Cache of generator weights; `SALIENCY_WEIGHTS` overrides it."""
    if env := os.environ.get("SALIENCY_WEIGHTS"):
        return Path(env).expanduser()
    return data_dir() / "weights"


def datasets_dir() -> Path:
    return data_dir() / "datasets"


def runs_dir() -> Path:
    return data_dir() / "runs"
