"""Generator backends: `build_generator(name, ...)`; `available()` lists them."""

from saliency.generators.base import Generator
from saliency.generators.registry import GeneratorSpec, available, build_generator, register, spec

__all__ = ["Generator", "GeneratorSpec", "available", "build_generator", "register", "spec"]
