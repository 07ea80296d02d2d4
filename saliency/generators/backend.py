"""What a generator backend declares about itself: its builder and the defaults every stage
reads for it (from the papers, or from our own runs where the papers say nothing).

Backends import this module, never the registry: the registry finds them by name and imports a
backend only when it is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from saliency.generators.base import Generator


@dataclass
class DiscoverDefaults:
    """`saliency discover`'s settings a backend may set: the paper's unless it says otherwise.
    DiscoveryConfig inherits these fields, so each default is written here alone."""

    deformator: str = "ortho"
    directions: int | None = None  # None: the full latent size
    reconstructor: str = "resnet18"
    shift_range: float = 6.0
    min_shift: float = 0.5
    shift_loss_weight: float = 0.25  # the L1 loss on eps next to the cross-entropy on k
    batch_size: int = 32
    lr: float = 1e-4
    steps: int = 100_000


@dataclass(frozen=True)
class MaskDefaults:
    """How a shifted image becomes a mask, where neither a flag nor a selection file says
    (2020 paper: intensity rule, threshold 0.95, area below half the frame)."""

    rule: str = "intensity"
    threshold: float | None = None  # None: the rule's default
    polarity: str = "light"
    max_area: float = 0.5


@dataclass(frozen=True)
class SelectDefaults:
    """`saliency select`: the shifts tried, the lowest score kept, and the direction optimisation
    (steps per start, best discovered candidates and random directions per polarity to start from)."""

    shifts: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    min_score: float = 0.1
    optimise_steps: int = 150
    optimise_starts: int = 2
    optimise_random_starts: int = 2


@dataclass(frozen=True)
class GeneratorSpec:
    """A backend: its builder, each stage's defaults for it, and the files it ships (a directions
    file and a `saliency select` result, relative to the discovery package)."""

    name: str
    builder: Callable[..., Generator]
    description: str
    discover: DiscoverDefaults = field(default_factory=DiscoverDefaults)
    mask: MaskDefaults = field(default_factory=MaskDefaults)
    select: SelectDefaults = field(default_factory=SelectDefaults)
    directions_file: str | None = None
    selection_file: str | None = None

    def defaults(self) -> dict[str, Any]:
        """Every stage's defaults by stage, for listings."""
        return {"discover": asdict(self.discover), "mask": asdict(self.mask), "select": asdict(self.select)} | {
            k: v for k, v in (("directions_file", self.directions_file), ("selection_file", self.selection_file)) if v
        }
