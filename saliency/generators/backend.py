"""What a generator backend declares about itself: its builder and the defaults every stage
reads for it (from the papers, or from our own runs where the papers say nothing).

Backends import this module, never the registry: the registry finds them by name and imports a
backend only when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from saliency.generators.base import Generator


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    builder: Callable[..., Generator]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


# Defaults every backend starts from: the paper's discovery settings.
BASE_DEFAULTS: dict[str, Any] = {
    "deformator": "ortho",
    "directions": None,  # None: the full latent size
    "reconstructor": "resnet18",
    "shift_range": 6.0,
    "min_shift": 0.5,
    "shift_loss_weight": 0.25,  # the L1 loss on eps next to the cross-entropy on k
    "batch_size": 32,
    "lr": 1e-4,
    "steps": 100_000,
    # selection and synthesis (2020 paper: intensity rule, threshold 0.95, area in (0.05, 0.5))
    "directions_file": None,  # a shipped directions file, relative to the discovery package
    "selection_file": None,  # a shipped `saliency select` result, relative to the discovery package
    "mask_rule": "intensity",
    "mask_threshold": None,  # None: the rule's default
    "mask_polarity": "light",
    "mask_max_area": 0.5,
    "select_shifts": (3.0, 6.0, 9.0, 12.0),
    "min_score": 0.1,
    # direction optimisation in `saliency select`: steps per start, best discovered candidates
    # and random directions per polarity to start from
    "optimise_steps": 150,
    "optimise_starts": 2,
    "optimise_random_starts": 2,
}


def generator_spec(name: str, builder: Callable[..., Generator], description: str, **defaults: Any) -> GeneratorSpec:
    """A backend's spec: its own defaults over the paper's. A key that is no default of any stage
    (a misspelling) is refused here, where the backend is declared, not ignored at run time."""
    unknown = sorted(set(defaults) - set(BASE_DEFAULTS))
    if unknown:
        raise ValueError(f"generator {name!r}: {', '.join(unknown)} is no stage default; known: {', '.join(BASE_DEFAULTS)}")
    return GeneratorSpec(name, builder, description, {**BASE_DEFAULTS, **defaults})
