"""`objects`: a generator trained by `saliency train-gan` (e.g. on unlabeled object photos).

Reads the fp16 safetensors file that `train-gan` writes; its metadata rebuilds the architecture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError

from saliency.errors import UserError
from saliency.files import read_safetensors
from saliency.gan.models import ObjectGenerator
from saliency.generators.backend import DiscoverDefaults, GeneratorSpec
from saliency.generators.base import Generator
from saliency.generators.checkpoint import load_checked
from saliency.paths import weights_dir


class TrainedGenerator(Generator):
    def __init__(self, net: ObjectGenerator, classes: Sequence[int] | None = None) -> None:
        super().__init__(classes)
        self.net, self.latent_dim, self.resolution = net, net.latent_dim, net.resolution

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.net(z)


SHIPPED = Path(__file__).parent / "pretrained" / "objects-64.safetensors"


def load_trained(path: str | Path, missing_hint: str) -> TrainedGenerator:
    try:
        state, metadata = read_safetensors(path)
        meta = json.loads(metadata["saliency_gan"])
    except FileNotFoundError:
        raise UserError(f"no trained generator at {path}: {missing_hint}") from None
    except (SafetensorError, KeyError, OSError, ValueError) as e:
        raise UserError(
            f"cannot read generator {path} ({e}): the file is truncated, corrupt, or not a generator "
            "written by `saliency train-gan`; delete it and fetch it again, or pass the right file with --weights"
        ) from None
    net = ObjectGenerator(meta["latent_dim"], meta["resolution"], meta["width"])
    load_checked(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path, "train-gan generator")
    g = TrainedGenerator(net)
    g.weights_file = Path(path)
    return g


def build_objects(weights: str | None = None, classes: Sequence[int] | None = None, random_init: bool = False) -> Generator:
    if random_init:
        return TrainedGenerator(ObjectGenerator())
    path = weights or weights_dir() / "objects-64.safetensors"
    return load_trained(path, "run `saliency train-gan --images DIR` and pass its generator_ema.safetensors with --weights")


OBJECTS = GeneratorSpec(
    "objects",
    build_objects,
    "a generator trained with `saliency train-gan` (pass its generator_ema.safetensors with --weights)",
    discover=DiscoverDefaults(deformator="linear", directions=32, reconstructor="lenet", lr=3e-4, steps=5000),
)


def build_objects_64(weights: str | None = None, classes: Sequence[int] | None = None, random_init: bool = False) -> Generator:
    if random_init:
        return TrainedGenerator(ObjectGenerator())
    return load_trained(
        weights or SHIPPED,
        "reinstall the package, or retrain it with the command in saliency/generators/pretrained/MODEL_CARD.md and pass --weights",
    )


OBJECTS_64 = GeneratorSpec(
    "objects-64",
    build_objects_64,
    "64x64 object photos: our DCGAN trained by `saliency train-gan` on unlabeled DUTS-TR photos (ships with the package)",
    discover=DiscoverDefaults(deformator="linear", directions=32, reconstructor="lenet", lr=1e-3, steps=2000),
    directions_file="pretrained/objects-64.safetensors",
    selection_file="pretrained/objects-64.selection.json",
)
