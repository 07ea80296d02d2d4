"""`biggan-128` and `bigbigan`: the BigGAN-PyTorch generator, rebuilt with identical state-dict
names, order and shapes so the published files load with `strict=True`.

- `biggan-128`: BigGAN-PyTorch's 128 px release (`G_ema.pth`, BigGAN_ch96_bs256x8, 138k), as
  shipped in GANLatentDiscovery's `pretrained_biggan.tar`; BN eps 1e-5, SN eps 1e-6.
- `bigbigan`: BigBiGAN's generator ported into the same layout (`BigBiGAN_x1.pth`, from
  BigGANsAreWatching); unconditional (class 0; its 1000 embedding rows are identical), BN and SN
  eps 1e-4. Files without the logging-only `*.sv0` buffers, or with gamma stored as [1], load too.

Architecture (resolution 128, width 96): z of 120 split into 6 chunks of 20; chunk 0 feeds a
spectrally normalised linear layer to a 1536x4x4 map; five up-sampling residual blocks, each
batch-normalised conditionally on [class embedding (128), its z chunk (20)]; self-attention at
64 px; BN-ReLU-conv to RGB and tanh. In eval mode spectral norm runs one power iteration from
the stored u0 without updating it, and batch norm uses the stored statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from saliency.errors import UserError
from saliency.files import safe_torch_load
from saliency.generators.backend import DiscoverDefaults, GeneratorSpec, MaskDefaults, SelectDefaults
from saliency.generators.base import Generator
from saliency.generators.checkpoint import load_checked
from saliency.weights import WeightsSource, resolve_weights


class SpectralNorm:
    """Mixin: divides the weight by its largest singular value, estimated from buffer u0."""

    def _init_sn(self, eps: float) -> None:
        self.sn_eps = eps
        self.register_buffer("u0", torch.randn(1, self.weight.shape[0]))
        self.register_buffer("sv0", torch.ones(1))

    def sn_weight(self) -> torch.Tensor:
        w = self.weight.view(self.weight.shape[0], -1)
        v = F.normalize(self.u0 @ w, eps=self.sn_eps)
        u = F.normalize(v @ w.t(), eps=self.sn_eps)
        if self.training:
            with torch.no_grad():
                self.u0.copy_(u)
        sigma = (v @ w.t() @ u.t()).squeeze()
        if self.training:
            with torch.no_grad():
                self.sv0.fill_(float(sigma))
        return self.weight / sigma


class SNConv2d(nn.Conv2d, SpectralNorm):
    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, padding: int = 1, bias: bool = True, eps: float = 1e-6) -> None:
        nn.Conv2d.__init__(self, c_in, c_out, kernel_size, padding=padding, bias=bias)
        self._init_sn(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, SpectralNorm):
    def __init__(self, n_in: int, n_out: int, bias: bool = True, eps: float = 1e-6) -> None:
        nn.Linear.__init__(self, n_in, n_out, bias=bias)
        self._init_sn(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain (1 + g(y)) and bias b(y) are spectrally normalised linear maps of y."""

    def __init__(self, channels: int, cond: int, eps: float, sn_eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.gain = SNLinear(cond, channels, bias=False, eps=sn_eps)
        self.bias = SNLinear(cond, channels, bias=False, eps=sn_eps)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, 0.1, self.eps)
        return out * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class BatchNorm(nn.Module):
    """Plain batch norm with BigGAN-PyTorch's parameter names (gain, bias, stored_mean, stored_var)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training, 0.1, self.eps)


class UpBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv residual block with a 1x1 up-sampled shortcut."""

    def __init__(self, c_in: int, c_out: int, cond: int, bn_eps: float, sn_eps: float) -> None:
        super().__init__()
        self.conv1 = SNConv2d(c_in, c_out, eps=sn_eps)
        self.conv2 = SNConv2d(c_out, c_out, eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, kernel_size=1, padding=0, eps=sn_eps)
        self.bn1 = ConditionalBatchNorm(c_in, cond, bn_eps, sn_eps)
        self.bn2 = ConditionalBatchNorm(c_out, cond, bn_eps, sn_eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class SelfAttention(nn.Module):
    def __init__(self, ch: int, sn_eps: float) -> None:
        super().__init__()
        self.ch = ch
        self.gamma = nn.Parameter(torch.tensor(0.0))
        self.theta = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.phi = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.g = SNConv2d(ch, ch // 2, 1, 0, bias=False, eps=sn_eps)
        self.o = SNConv2d(ch // 2, ch, 1, 0, bias=False, eps=sn_eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).view(b, self.ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, self.ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, self.ch // 2, h * w // 4)
        attention = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)
        return self.gamma * self.o((g @ attention.transpose(1, 2)).view(b, self.ch // 2, h, w)) + x


class BigGANGenerator(Generator):
    """BigGAN-PyTorch `Generator` at 128 px (G_ch 96, hier z, shared embedding, attention at 64)."""

    def __init__(
        self,
        bn_eps: float = 1e-5,
        sn_eps: float = 1e-6,
        width: int = 96,
        n_classes: int = 1000,
        shared_dim: int = 128,
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__(classes)
        self.latent_dim, self.resolution, self.n_classes = 120, 128, n_classes
        chans = [16 * width, 16 * width, 8 * width, 4 * width, 2 * width, width]
        self.chunk = self.latent_dim // 6
        cond = shared_dim + self.chunk
        self.shared = nn.Embedding(n_classes, shared_dim)
        self.linear = SNLinear(self.chunk, chans[0] * 4 * 4, eps=sn_eps)
        self.blocks = nn.ModuleList()
        for i in range(5):
            block = [UpBlock(chans[i], chans[i + 1], cond, bn_eps, sn_eps)]
            if 4 * 2 ** (i + 1) == 64:
                block.append(SelfAttention(chans[i + 1], sn_eps))
            self.blocks.append(nn.ModuleList(block))
        self.output_layer = nn.Sequential(BatchNorm(width), nn.ReLU(inplace=False), SNConv2d(width, 3, eps=sn_eps))

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        y = self.shared(classes)
        chunks = torch.split(z, self.chunk, dim=1)
        h = self.linear(chunks[0]).view(z.shape[0], -1, 4, 4)
        for blocklist, chunk in zip(self.blocks, chunks[1:]):
            cond = torch.cat([y, chunk], dim=1)
            for block in blocklist:
                h = block(h, cond)
        return torch.tanh(self.output_layer(h))


class BigBiGANGenerator(BigGANGenerator):
    """BigBiGAN in the BigGAN-PyTorch layout: unconditional, always class 0."""

    n_classes = 0

    def __init__(self, classes: Sequence[int] | None = None, width: int = 96) -> None:
        super().__init__(bn_eps=1e-4, sn_eps=1e-4, width=width, classes=None)
        self.n_classes = 0

    def sample_classes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        return None

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return super().synthesize(z, torch.zeros(z.shape[0], dtype=torch.long, device=z.device))


def _state_from_file(path, arch: str) -> dict[str, torch.Tensor]:
    state = safe_torch_load(path, f"{arch} weights")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a state dict; expected {arch} weights")
    return state


def load_biggan_weights(model: BigGANGenerator, path, arch: str, tolerate_missing_sv0: bool = False) -> None:
    state = dict(_state_from_file(path, arch))
    if tolerate_missing_sv0:
        own = model.state_dict()
        for k, v in own.items():
            if k.endswith(".sv0") and k not in state:
                state[k] = torch.ones_like(v)  # logging-only buffer, never used in forward
            if k.endswith("gamma") and k in state and state[k].shape != v.shape and state[k].numel() == 1:
                state[k] = state[k].reshape(v.shape)
    load_checked(model, state, path, arch)


BIGGAN_WEIGHTS = WeightsSource(
    filename="biggan-128-G_ema.pth",
    url="https://www.dropbox.com/s/zte4oein08ajsij/pretrained_biggan.tar?dl=1",
    sha256=None,
    member="pretrained/generators/BigGAN/G_ema.pth",
    note="GANLatentDiscovery's pretrained_biggan.tar holds it as pretrained/generators/BigGAN/G_ema.pth.",
)
BIGBIGAN_WEIGHTS = WeightsSource(
    filename="BigBiGAN_x1.pth",
    url="https://www.dropbox.com/s/9w2i45h455k3b4p/BigBiGAN_x1.pth?dl=1",
    sha256=None,
    note="BigGANsAreWatching's download_all.sh fetches it; its background direction is bg_direction.pth.",
)

# The 2021 paper's background direction for BigBiGAN (its download_all.sh; a 120-d tensor).
BG_DIRECTION = WeightsSource(
    filename="bigbigan-bg_direction.pth",
    url="https://www.dropbox.com/s/np74kmkohkbx76t/bg_direction.pth?dl=1",
    sha256=None,
    note="It is the 2021 paper's bg_direction.pth (BigGANsAreWatching's download_all.sh); --discover finds a direction instead.",
    flag="--bg-direction FILE",
)


def published_bg_direction(path: str | None = None) -> Path:
    """The 2021 paper's bg_direction.pth: `path` if given, else the cache, else a download (its
    SHA-256 recorded on first use); absent and not fetched, one line naming the file, its address
    and the ways out."""
    return resolve_weights(BG_DIRECTION, path)


def build_biggan_128(weights: str | None = None, classes: Sequence[int] | None = None, random_init: bool = False) -> Generator:
    model = BigGANGenerator(classes=classes)
    if not random_init:
        model.weights_file = resolve_weights(BIGGAN_WEIGHTS, weights)
        load_biggan_weights(model, model.weights_file, "biggan-128 (BigGAN-PyTorch G_ema.pth)")
    return model


BIGGAN_128 = GeneratorSpec(
    "biggan-128",
    build_biggan_128,
    "BigGAN-128 (BigGAN-PyTorch G_ema.pth, ImageNet, 1000 classes); Voynov & Babenko 2020",
    discover=DiscoverDefaults(deformator="ortho", directions=120, reconstructor="resnet18", lr=1e-4, steps=100_000),
    mask=MaskDefaults(rule="intensity", threshold=0.95),
    select=SelectDefaults(shifts=(10.0, 18.0, 26.0), min_score=0.1),
)


def build_bigbigan(weights: str | None = None, classes: Sequence[int] | None = None, random_init: bool = False) -> Generator:
    model = BigBiGANGenerator()
    if not random_init:
        model.weights_file = resolve_weights(BIGBIGAN_WEIGHTS, weights)
        load_biggan_weights(model, model.weights_file, "bigbigan (BigBiGAN_x1.pth)", tolerate_missing_sv0=True)
    return model


BIGBIGAN = GeneratorSpec(
    "bigbigan",
    build_bigbigan,
    "BigBiGAN generator in the BigGAN-PyTorch layout (unconditional); Voynov et al. 2021",
    discover=DiscoverDefaults(deformator="ortho", directions=120, reconstructor="resnet18"),
    mask=MaskDefaults(rule="lighting"),
    select=SelectDefaults(shifts=(3.0, 5.0, 7.0), min_score=0.1),
)
