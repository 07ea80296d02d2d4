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


def shared_datasets_dir() -> Path:
    """`shared/datasets` beside a source checkout: where a team keeps benchmark sets and unlabeled
    photos for every clone (looked in after DATA/datasets)."""
    return _CHECKOUT.parent / "shared" / "datasets"


def runs_dir() -> Path:
    return data_dir() / "runs"


def shipped_discovery_file(relative: str) -> Path:
    """A file that ships in the `discovery` package's folder (a generator's discovered directions
    and selection), located without importing `discovery`: the generators sit below discovery in
    the pipeline and must not import it."""
    from importlib.util import find_spec

    spec = find_spec("discovery")
    if spec is None or not spec.submodule_search_locations:
        from saliency.errors import UserError

        raise UserError("the `discovery` package is not installed beside `saliency`; reinstall the project (pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / relative
