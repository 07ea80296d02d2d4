"""`dcgan-faces`: the 64x64 DCGAN face generator shipped in the MIT-licensed PyPI wheel
`gan-face-generate` (trained on DigiFace1M).

Only its weights are used. They are fetched by downloading the wheel from PyPI and extracting
`gan_face_generate/weights.tar` after checking both checksums, so none of the wheel's own
dependencies (wandb, ...) is installed. The architecture is the PyTorch DCGAN tutorial's,
rebuilt here with the same state-dict keys.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from saliency.files import safe_torch_load
from saliency.generators.backend import DiscoverDefaults, GeneratorSpec, MaskDefaults, SelectDefaults
from saliency.generators.base import Generator
from saliency.generators.checkpoint import load_checked
from saliency.weights import WeightsSource, resolve_weights

WEIGHTS = WeightsSource(
    filename="dcgan-faces-weights.tar",
    url=(
        "https://files.pythonhosted.org/packages/95/04/bb51d207d2c5d34ea80ba7c0e4734b879466810700a9e81fa540d13e4eb2/"
        "gan_face_generate-1.1.1-py3-none-any.whl"
    ),
    sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
    member="gan_face_generate/weights.tar",
    member_sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    note=(
        "By hand: `pip download --no-deps gan-face-generate==1.1.1`, unzip the wheel and pass gan_face_generate/weights.tar with --weights."
    ),
)


def _up(c_in: int, c_out: int, first: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 1, 0, bias=False) if first else nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(True)]


class DCGANGenerator(Generator):
    """DCGAN generator: z (as a 1x1 map) -> 4 -> 8 -> 16 -> 32 -> 64 px, tanh output."""

    def __init__(self, latent_dim: int = 100, width: int = 64, classes: Sequence[int] | None = None) -> None:
        super().__init__(classes)
        self.latent_dim, self.resolution = latent_dim, 64
        w = width
        self.main = nn.Sequential(
            *_up(latent_dim, w * 8, first=True),
            *_up(w * 8, w * 4),
            *_up(w * 4, w * 2),
            *_up(w * 2, w),
            nn.ConvTranspose2d(w, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.main(z[:, :, None, None])


def load_dcgan_weights(model: nn.Module, path) -> None:
    ckpt = safe_torch_load(path, "dcgan-faces weights")
    state = ckpt.get("netG_state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    load_checked(model, state, path, "dcgan-faces (DCGAN 64x64, z=100)")


def build_dcgan_faces(weights: str | None = None, classes: Sequence[int] | None = None, random_init: bool = False) -> Generator:
    model = DCGANGenerator()
    if not random_init:
        model.weights_file = resolve_weights(WEIGHTS, weights)
        load_dcgan_weights(model, model.weights_file)
    return model


DCGAN_FACES = GeneratorSpec(
    "dcgan-faces",
    build_dcgan_faces,
    "64x64 DCGAN faces (PyPI gan-face-generate weights, MIT); offline, fetched from PyPI on first use",
    discover=DiscoverDefaults(deformator="linear", directions=32, reconstructor="lenet", lr=3e-4, steps=5000),
    # faces fill most of a 64 px face crop, so the papers' 0.5 area cap would reject them all
    mask=MaskDefaults(max_area=0.85),
    select=SelectDefaults(min_score=0.05),
    directions_file="pretrained/dcgan-faces.safetensors",
)
