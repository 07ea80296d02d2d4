"""Generator backends: `build_generator(name, ...)`; `available()` lists them."""

from saliency.generators.base import Generator
from saliency.generators.registry import available, build_generator, spec
from saliency.generators.backend import GeneratorSpec

__all__ = ["Generator", "GeneratorSpec", "available", "build_generator", "spec"]
