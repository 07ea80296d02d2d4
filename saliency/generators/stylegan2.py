"""StyleGAN2 (Karras et al., CVPR 2020) in the layout of the most used PyTorch port,
rosinality/stylegan2-pytorch (`model.py`, `Generator`; checkpoints' `g_ema`), written here with
plain PyTorch operations, so it runs on any device without compiling CUDA kernels.

A checkpoint loads strictly: every tensor of `g_ema` (the blur kernels and the fixed noise maps
included) has its place here under the same name. The configuration (output size, latent size,
mapping depth, channel multiplier) is read from the checkpoint's own tensors, or given.

- Noise is the checkpoint's fixed noise maps (`noises.noise_i`, the reference's
  `randomize_noise=False`): a latent draws the same image every time, as the pipeline needs.
- Truncation: w = w_avg + psi (w - w_avg), with w_avg the checkpoint's `latent_avg` where it has
  one (convert_weight.py writes it), else the mean of the mapping over 4,096 z drawn with seed 0.
- W space (`--space w`): the stages shift the mapped latent w, as GANSpace, SeFa and
  Melas-Kyriazi et al. do (`mapping` and `synthesize_w`, saliency.generators.base.WSpace).

Output: RGB, nominally in [-1, 1] (StyleGAN2 has no output squashing; `synthesize` clamps, `raw`
does not).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from saliency.errors import UserError
from saliency.generators.backend import GeneratorSpec
from saliency.generators.base import Generator
from saliency.generators.checkpoint import load_checked

BLUR = (1.0, 3.0, 3.0, 1.0)
TRUNCATION_SAMPLES, TRUNCATION_SEED = 4096, 0


def blur_kernel(factor: int = 1) -> torch.Tensor:
    k = torch.tensor(BLUR)
    k = k[None, :] * k[:, None]
    return k / k.sum() * factor**2


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop), filter with `kernel` (per channel, as a
    convolution with the flipped kernel) and keep every `down`-th pixel: the FIR resampling of
    StyleGAN2, the same on both axes."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    x = x[..., max(-p0, 0) : x.shape[-2] - max(-p1, 0), max(-p0, 0) : x.shape[-1] - max(-p1, 0)]
    weight = kernel.flip(0, 1)[None, None].expand(c, 1, *kernel.shape).to(x.dtype)
    x = F.conv2d(x, weight, groups=c)
    return x[..., ::down, ::down]


def leaky_relu_bias(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The port's "fused" activation: leaky ReLU (0.2) of x + bias, times sqrt(2) (variance kept)."""
    return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)), 0.2) * math.sqrt(2)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """A linear layer whose weight is stored at unit scale and scaled at run time (equalised
    learning rate), with the mapping network's learning-rate multiplier folded into both."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(in_dim), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return leaky_relu_bias(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    def __init__(self, pad: tuple[int, int], factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel(factor))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 FIR upsampling of the RGB skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel(2))
        p = 4 - 2
        self.pad = ((p + 1) // 2 + 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled by a style (modulation) and whose output
    channels are renormalised to unit expected variance (demodulation); with `upsample`, a
    stride-2 transposed convolution followed by the blur."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.scale, self.padding, self.demodulate, self.upsample = 1 / math.sqrt(in_ch * kernel**2), kernel // 2, demodulate, upsample
        if upsample:
            p = (4 - 2) - (kernel - 1)
            self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), factor=2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        weight = self.scale * self.weight[0]  # [out, in, k, k]
        style = self.modulation(w)  # [B, in]
        x = x * style[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt((weight[None] * style[:, None, :, None, None]).pow(2).sum(dim=(2, 3, 4)) + 1e-8)  # [B, out]
            out = out * demod[:, :, None, None]
        return out


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class Activation(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_relu_bias(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = Activation(out_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + self.upsample(skip)


class ConstantInput(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))


def channels(resolution: int, channel_multiplier: int, max_channels: int = 512) -> int:
    """Feature maps at each resolution: rosinality's table (512 up to 32 px, then halving from
    256 x multiplier at 64 px; config-f is multiplier 2, config-e 1). `max_channels` below 512
    makes the small generators tests build; no public checkpoint has one."""
    return max_channels if resolution <= 32 else 2 ** (14 - int(math.log2(resolution))) * channel_multiplier


class StyleGAN2Generator(Generator):
    """rosinality's `Generator(size, style_dim, n_mlp, channel_multiplier)`, unconditional."""

    def __init__(
        self,
        size: int = 256,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        truncation: float = 1.0,
        lr_mlp: float = 0.01,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise UserError(f"StyleGAN2's output size is a power of two of at least 8, not {size}")
        if not 0 < truncation <= 1:
            raise UserError(f"--truncation must lie in (0, 1], not {truncation}")
        self.latent_dim = self.w_dim = style_dim
        self.resolution, self.truncation = size, truncation
        self.config = {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, "channel_multiplier": channel_multiplier}
        if max_channels != 512:
            self.config["max_channels"] = max_channels

        def ch(resolution: int) -> int:
            return channels(resolution, channel_multiplier, max_channels)

        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp)])
        self.input = ConstantInput(ch(4))
        self.conv1 = StyledConv(ch(4), ch(4), style_dim)
        self.to_rgb1 = ToRGB(ch(4), style_dim, upsample=False)
        self.convs, self.upsamples, self.to_rgbs, self.noises = nn.ModuleList(), nn.ModuleList(), nn.ModuleList(), nn.Module()
        log_size = int(math.log2(size))
        self.num_layers = (log_size - 2) * 2 + 1
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_ch = ch(4)
        for i in range(3, log_size + 1):
            out_ch = ch(2**i)
            self.convs.append(StyledConv(in_ch, out_ch, style_dim, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, style_dim))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch
        self.n_latent = log_size * 2 - 2
        self.register_buffer("w_avg", torch.zeros(style_dim), persistent=False)
        self.w_avg_known = False

    def set_w_avg(self, w_avg: torch.Tensor | None) -> None:
        """The truncation centre: the checkpoint's `latent_avg`, else the mapping's mean over
        TRUNCATION_SAMPLES z of seed TRUNCATION_SEED."""
        if w_avg is None:
            z = torch.randn(TRUNCATION_SAMPLES, self.w_dim, generator=torch.Generator().manual_seed(TRUNCATION_SEED))
            with torch.no_grad():
                w_avg = self.style(z.to(self.w_avg.device)).mean(0)
        self.w_avg.copy_(w_avg.reshape(-1).to(self.w_avg))
        self.w_avg_known = True

    def mapping(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, style_dim] -> w [B, style_dim], truncated towards w_avg by `truncation`."""
        w = self.style(z)
        if self.truncation < 1:
            if not self.w_avg_known:
                self.set_w_avg(None)
            w = self.w_avg + self.truncation * (w - self.w_avg)
        return w

    def raw(self, w: torch.Tensor) -> torch.Tensor:
        """w [B, style_dim] (the same w at every layer) -> RGB [B, 3, size, size], unclamped."""
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        x = self.input.input.repeat(len(w), 1, 1, 1)
        x = self.conv1(x, w, noise[0])
        skip = self.to_rgb1(x, w)
        for up_conv, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            x = conv(up_conv(x, w, n1), w, n2)
            skip = to_rgb(x, w, skip)
        return skip

    def synthesize_w(self, w: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.raw(w).clamp(-1, 1)

    def synthesize(self, z: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        return self.synthesize_w(self.mapping(z))


def config_of(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """A `g_ema` state dict's configuration, read from its tensors: size from the RGB layers,
    latent size and mapping depth from the mapping network, channel multiplier from the 64 px
    layer's width."""
    n_mlp = sum(1 for k in state if k.startswith("style.") and k.endswith(".weight"))
    if not n_mlp or "input.input" not in state:
        raise UserError("not a StyleGAN2 generator state dict in rosinality's layout (no style.N.weight / input.input)")
    style_dim = state["style.1.weight"].shape[1]
    size = 2 ** (2 + sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.bias", k)))
    multiplier = 2
    if size >= 64:
        width = state["to_rgbs.3.conv.weight"].shape[2]  # the 64 px layer
        multiplier = max(1, width // 256)
    config = {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, "channel_multiplier": multiplier}
    if state["input.input"].shape[1] != 512:
        config["max_channels"] = state["input.input"].shape[1]
    return config


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """(`g_ema` state dict, `latent_avg` or None) of a rosinality .pt file (train.py's, holding
    its argparse options, or convert_weight.py's), or of a bare state dict; loaded with
    weights_only (only argparse's Namespace allowed beside tensors)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"StyleGAN2 weights not found: {path}. Pass a rosinality/stylegan2-pytorch checkpoint (.pt) with --weights; "
            "the public ones are listed in docs/guide.md"
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for a bad pickle
        raise UserError(f"cannot read {path} as a StyleGAN2 checkpoint ({str(e).splitlines()[0][:200]})") from None
    if not isinstance(ckpt, dict):
        raise UserError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict with 'g_ema'")
    state = ckpt.get("g_ema", ckpt)
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt.get("latent_avg"), torch.Tensor) else None
    return state, latent_avg


def load_stylegan2(
    weights: str | Path | None,
    classes: Sequence[int] | None = None,
    truncation: float | None = None,
    **config: int,
) -> StyleGAN2Generator:
    """The generator of a checkpoint, loaded strictly; `config` overrides what its tensors say."""
    if classes:
        raise UserError("StyleGAN2 is unconditional: leave --classes at 'all'")
    if weights is None:
        raise UserError("--generator stylegan2 needs --weights FILE: a rosinality/stylegan2-pytorch checkpoint (.pt); see docs/guide.md")
    state, latent_avg = read_checkpoint(weights)
    G = StyleGAN2Generator(**{**config_of(state), **config}, truncation=1.0 if truncation is None else truncation)
    load_checked(G, state, weights, f"StyleGAN2 {G.config}")
    if latent_avg is not None or G.truncation < 1:
        G.set_w_avg(latent_avg)
    return G


STYLEGAN2 = GeneratorSpec(
    "stylegan2",
    load_stylegan2,
    "StyleGAN2 (rosinality/stylegan2-pytorch checkpoints, g_ema; size, latent and channels read from the file); Z or W space (--space)",
    # every stage at the papers' defaults; directions: the full latent size, whatever the file's
)
