"""Where datasets, weights and run outputs live on a user's machine.

DATA is `SALIENCY_DATA` if set; otherwise a source checkout's own `data/` folder (git-ignored),
or `~/.cache/saliency` for an installed package. Datasets and weights are caches and live in DATA.
Run outputs are the user's work: DATA/runs when SALIENCY_DATA is set or the command runs inside
the checkout, else `saliency-runs/` in the current folder, so a run started from another
project lands beside it, not in the checkout or a cache.
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


def shared_dir() -> Path:
    """`shared/` beside a source checkout: what a team keeps for every clone (datasets,
    generators, reference manifests)."""
    return _CHECKOUT.parent / "shared"


def shared_datasets_dir() -> Path:
    """Benchmark sets and unlabeled photos kept for every clone (looked in after DATA/datasets)."""
    return shared_dir() / "datasets"


def runs_dir() -> Path:
    """Where a stage writes when no --out is given, and where the next stage looks for it."""
    cwd = Path.cwd().resolve()
    in_checkout = (_CHECKOUT / "pyproject.toml").is_file() and (cwd == _CHECKOUT or _CHECKOUT in cwd.parents)
    if os.environ.get("SALIENCY_DATA") or in_checkout:
        return data_dir() / "runs"
    return cwd / "saliency-runs"


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
