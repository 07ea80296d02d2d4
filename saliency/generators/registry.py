"""Generator backends behind one factory, `build_generator(name, ...)`.

A backend registers a builder and its per-generator defaults (from the papers, or from our own
runs where the papers say nothing), so every stage reads defaults from one place. A user's own
model plugs in as `--generator package.module:factory`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from saliency.errors import UserError
from saliency.generators.base import Generator


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    builder: Callable[..., Generator]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, GeneratorSpec] = {}

# The offline default of every stage and of `saliency demo`: its weights ship inside the package,
# it draws objects (the benchmarks' domain) and the shipped saliency model comes from it.
DEFAULT_GENERATOR = "objects-64"

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


def register(name: str, description: str, **defaults: Any) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    def wrap(builder: Callable[..., Generator]) -> Callable[..., Generator]:
        _REGISTRY[name] = GeneratorSpec(name, builder, description, {**BASE_DEFAULTS, **defaults})
        return builder

    return wrap


def available() -> dict[str, GeneratorSpec]:
    _load_builtin()
    return dict(_REGISTRY)


def spec(name: str) -> GeneratorSpec:
    _load_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return GeneratorSpec(name, _custom_builder(name), "user generator", dict(BASE_DEFAULTS))
    raise UserError(
        f"unknown generator {name!r}; choose one of {', '.join(sorted(_REGISTRY))} "
        "or pass your own as package.module:factory"
    )


def build_generator(
    name: str,
    weights: str | None = None,
    device: torch.device | str = "cpu",
    classes: Sequence[int] | None = None,
    **kwargs: Any,
) -> Generator:
    """Build, load and freeze a generator on `device`."""
    g = spec(name).builder(weights=weights, classes=classes, **kwargs)
    if not isinstance(g, Generator):
        raise UserError(f"generator {name!r} did not build a saliency.generators.Generator")
    g.name = name
    return g.to(device).freeze()


def _custom_builder(target: str) -> Callable[..., Generator]:
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot import generator factory {target!r}: {e}") from None

    def build(weights: str | None = None, classes: Sequence[int] | None = None, **kwargs: Any) -> Generator:
        model = factory(weights=weights, **kwargs) if weights else factory(**kwargs)
        return model if isinstance(model, Generator) else ModuleGenerator(model, classes=classes)

    return build


class ModuleGenerator(Generator):
    """Adapts any `nn.Module` with `latent_dim` and `resolution` attributes (and `n_classes` if conditional)."""

    def __init__(self, module: torch.nn.Module, classes: Sequence[int] | None = None) -> None:
        super().__init__(classes)
        missing = [a for a in ("latent_dim", "resolution") if not hasattr(module, a)]
        if missing:
            raise UserError(f"custom generator module lacks attribute(s) {missing}; set them on the module")
        self.module = module
        self.latent_dim = int(module.latent_dim)
        self.resolution = int(module.resolution)
        self.n_classes = int(getattr(module, "n_classes", 0))

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.module(z, classes) if self.n_classes else self.module(z)


def _load_builtin() -> None:
    # Importing the backends runs their @register decorators.
    from saliency.generators import biggan, biggan_deep, dcgan_faces, objects, planted  # noqa: F401
