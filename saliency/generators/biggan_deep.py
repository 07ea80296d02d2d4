"""`biggan-deep-128`, `-256`, `-512`: BigGAN-deep through the `pytorch-pretrained-biggan` package.

The package's own model class is used (install with `pip install gan-saliency[biggan-deep]`);
this module only wraps it: our weights resolution (cache, checksum, `--weights`), pickle-free
loading, truncated latents, and a fixed class per sample given as a one-hot vector.
Truncation (`--truncation`, default 1.0) scales truncnorm(-2, 2) latents and selects the batch
norm statistics, as the package does.
"""

from __future__ import annotations

from typing import Sequence

import torch

from saliency.errors import UserError
from saliency.files import safe_torch_load
from saliency.generators.backend import DiscoverDefaults, GeneratorSpec, MaskDefaults, SelectDefaults
from saliency.generators.base import Generator
from saliency.generators.checkpoint import load_checked
from saliency.weights import WeightsSource, resolve_weights

_BLOCKS = [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8)]
LAYERS = {
    128: _BLOCKS + [(True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)],
    256: _BLOCKS + [(True, 8, 8), (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)],
    512: _BLOCKS
    + [(True, 8, 8), (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1), (False, 1, 1), (True, 1, 1)],
}
_S3 = "https://s3.amazonaws.com/models.huggingface.co/biggan"


def weights_source(resolution: int) -> WeightsSource:
    return WeightsSource(
        filename=f"biggan-deep-{resolution}-pytorch_model.bin",
        url=f"{_S3}/biggan-deep-{resolution}-pytorch_model.bin",
        sha256=None,
        note="Published by HuggingFace for pytorch-pretrained-BigGAN.",
    )


def _package():
    try:
        from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    except ImportError:
        raise UserError("BigGAN-deep needs the pytorch-pretrained-biggan package: pip install 'gan-saliency[biggan-deep]'") from None
    return BigGAN, BigGANConfig


class BigGANDeepGenerator(Generator):
    n_classes = 1000

    def __init__(self, resolution: int = 128, truncation: float = 1.0, classes: Sequence[int] | None = None) -> None:
        super().__init__(classes)
        if not 0 < truncation <= 1:
            raise UserError(f"--truncation must be in (0, 1], got {truncation}")
        BigGAN, BigGANConfig = _package()
        self.latent_dim, self.resolution, self.truncation = 128, resolution, truncation
        self.model = BigGAN(BigGANConfig(output_dim=resolution, layers=LAYERS[resolution]))

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """truncnorm(-2, 2) * truncation, by redrawing values outside the bounds."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        while (bad := z.abs() > 2).any():
            z[bad] = torch.randn(int(bad.sum()), generator=generator)
        return (z * self.truncation).to(self.device)

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(classes, self.n_classes).to(z.dtype)
        return self.model(z, one_hot, self.truncation)

    def randomize(self) -> None:
        """Usable random weights (tests, benchmarks): initialise the final BN and run one power iteration."""
        with torch.no_grad():
            self.model.generator.bn.weight.fill_(1.0)
            self.model.generator.bn.bias.zero_()
            self.model.train()
            self.model(torch.zeros(1, 128), torch.nn.functional.one_hot(torch.zeros(1, dtype=torch.long), 1000).float(), 1.0)
            self.model.eval()


def _build(resolution: int, weights: str | None, classes: Sequence[int] | None, random_init: bool, truncation: float) -> Generator:
    g = BigGANDeepGenerator(resolution, truncation, classes)
    if random_init:
        g.randomize()
        return g
    g.weights_file = resolve_weights(weights_source(resolution), weights)
    state = safe_torch_load(g.weights_file, f"biggan-deep-{resolution} weights")
    load_checked(g.model, state, g.weights_file, f"biggan-deep-{resolution} (pytorch-pretrained-biggan)")
    return g


def _spec(resolution: int):
    def builder(weights=None, classes=None, random_init=False, truncation=1.0) -> Generator:
        return _build(resolution, weights, classes, random_init, truncation)

    return GeneratorSpec(
        f"biggan-deep-{resolution}",
        builder,
        f"BigGAN-deep {resolution} px (pytorch-pretrained-biggan; ImageNet, 1000 classes)",
        discover=DiscoverDefaults(deformator="ortho", directions=128, reconstructor="resnet18"),
        mask=MaskDefaults(rule="intensity", threshold=0.95),
        select=SelectDefaults(shifts=(6.0, 12.0, 18.0)),
    )


BIGGAN_DEEP_128, BIGGAN_DEEP_256, BIGGAN_DEEP_512 = _spec(128), _spec(256), _spec(512)
