"""Generator backends behind one factory, `build_generator(name, ...)`.

A table names each backend's module and spec (segmentation-models-pytorch's encoder table is
the model); a backend is imported only when it is used, so listing names costs nothing, an
optional backend's package (BigGAN-deep's) is needed only by those who use it, and no backend
imports the registry. A user's own model plugs in as `--generator package.module:factory`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from saliency.errors import UserError
from saliency.generators.backend import GeneratorSpec
from saliency.generators.base import Generator, WSpace
from saliency.paths import shipped_discovery_file

# The offline default of every stage and of `saliency demo`: its weights ship inside the package,
# it draws objects (the benchmarks' domain) and the shipped saliency model comes from it.
DEFAULT_GENERATOR = "objects-64"

# name -> "module:attribute" of its GeneratorSpec
BACKENDS: dict[str, str] = {
    "objects-64": "saliency.generators.objects:OBJECTS_64",
    "objects": "saliency.generators.objects:OBJECTS",
    "dcgan-faces": "saliency.generators.dcgan_faces:DCGAN_FACES",
    "biggan-128": "saliency.generators.biggan:BIGGAN_128",
    "bigbigan": "saliency.generators.biggan:BIGBIGAN",
    "biggan-deep-128": "saliency.generators.biggan_deep:BIGGAN_DEEP_128",
    "biggan-deep-256": "saliency.generators.biggan_deep:BIGGAN_DEEP_256",
    "biggan-deep-512": "saliency.generators.biggan_deep:BIGGAN_DEEP_512",
    "stylegan2": "saliency.generators.stylegan2:STYLEGAN2",
    "planted": "saliency.generators.planted:PLANTED",
    "planted-none": "saliency.generators.planted:PLANTED_NONE",
}


def _load(name: str) -> GeneratorSpec:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def available() -> dict[str, GeneratorSpec]:
    """Every built-in backend's spec (imports them all: for listings, not for use)."""
    return {name: _load(name) for name in BACKENDS}


def spec(name: str) -> GeneratorSpec:
    """The spec of a backend, named alone or as a run labels it ("stylegan2@w": one spec serves
    every latent space of its backend)."""
    name = name.split("@")[0]
    if name in BACKENDS:
        return _load(name)
    if ":" in name:
        return GeneratorSpec(name, _custom_builder(name), "user generator")
    raise UserError(f"unknown generator {name!r}; choose one of {', '.join(sorted(BACKENDS))} or pass your own as package.module:factory")


def latest_or_shipped(generator: str, run_file: Path, key: str, fix: str) -> Path:
    """A stage's input for `generator`: the latest run's `run_file` if there is one, else the file
    the generator ships as its `key` ("directions_file" or "selection_file")."""
    if run_file.is_file():
        return run_file
    shipped = getattr(spec(generator), key)
    if shipped:
        return shipped_discovery_file(shipped)
    raise UserError(f"no {run_file.name} for {generator}: {fix}")


def build_generator(
    name: str,
    weights: str | None = None,
    device: torch.device | str = "cpu",
    classes: Sequence[int] | None = None,
    space: str = "z",
    **kwargs: Any,
) -> Generator:
    """Build, load and freeze a generator on `device`; with `space="w"`, seen from its W space
    (saliency.generators.base.WSpace), where the generator has one."""
    if space not in ("z", "w"):
        raise UserError(f"--space is z or w, not {space!r}")
    g = spec(name).builder(weights=weights, classes=classes, **kwargs)
    if not isinstance(g, Generator):
        raise UserError(f"generator {name!r} did not build a saliency.generators.Generator")
    g.name = name
    g = g.to(device).freeze()
    if space == "w":
        try:
            g = WSpace(g).freeze()
        except ValueError as e:  # no w_dim, mapping, synthesize_w: only StyleGAN-like generators have them
            raise UserError(f"{e}; use --space z") from None
    return g


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
