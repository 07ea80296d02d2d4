"""Generator backends: `build_generator(name, ...)`; `available()` lists them."""

from saliency.generators.backend import GeneratorSpec
from saliency.generators.base import Generator
from saliency.generators.registry import available, build_generator, spec

__all__ = ["Generator", "GeneratorSpec", "available", "build_generator", "spec"]
