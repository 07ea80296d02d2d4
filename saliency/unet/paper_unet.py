"""The U-Net the 2021 paper released (BigGANsAreWatching `UNet/`, after milesial/Pytorch-UNet),
so its model can be benched and applied beside ours under one protocol.

Architecture: four max-pool downs (64-128-256-512-512 channels, each a double 3x3 conv with
batch norm and ReLU), four bilinear ups (align_corners=True) with skip concatenation, a 1x1 conv
to two classes. Inference as the paper's `SegmentationInference`: the photo in [-1, 1] at short
side 128, the map is softmax(logits)[1] (= 1 - softmax[0]), resized back to the photo.
Its `u_net_imagenet.pth` (a plain state dict) loads strictly, with weights_only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from saliency.errors import UserError
from saliency.generators.checkpoint import load_checked
from saliency.weights import WeightsSource

RELEASED_UNET = WeightsSource(
    filename="voynov2021-u_net_imagenet.pth",
    url="https://www.dropbox.com/s/3nty6x7fwof7xyv/u_net_imagenet.pth?dl=1",
    sha256=None,
    note="BigGANsAreWatching's README links it (U-Net trained on ImageNet-BigBiGAN embeddings).",
    flag="--model FILE",
)


def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DoubleConv(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.double_conv = double_conv(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c_in, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = DoubleConv(c_in, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PaperUNet(nn.Module):
    """The 2021 paper's U-Net: RGB in [-1, 1] -> two-class logits at the same size."""

    def __init__(self) -> None:
        super().__init__()
        self.inc = DoubleConv(3, 64)
        self.down1, self.down2, self.down3, self.down4 = Down(64, 128), Down(128, 256), Down(256, 512), Down(512, 512)
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 256), Up(512, 128), Up(256, 64), Up(128, 64)
        self.outc = OutConv(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up4(self.up3(self.up2(self.up1(x5, x4), x3), x2), x1)
        return self.outc(x)


def is_paper_unet_state(state: object) -> bool:
    return isinstance(state, dict) and "inc.double_conv.0.weight" in state and "outc.conv.weight" in state


def load_paper_unet(path: str | Path, device: torch.device | str = "cpu") -> PaperUNet:
    """The released U-Net's weights, strictly (a file of another layout is named as such)."""
    from saliency.files import safe_torch_load

    state = safe_torch_load(path, "U-Net state dict")
    if isinstance(state, dict) and "model" in state and is_paper_unet_state(state["model"]):
        state = state["model"]  # train_segmentation.py's checkpoint.pth
    if not is_paper_unet_state(state):
        raise UserError(
            f"{path} is not the 2021 paper's U-Net (BigGANsAreWatching's state dict: inc.*, down1-4.*, up1-4.*, outc.*); "
            "models of this project are the .safetensors files of `saliency train-unet` or `saliency export --fp16`"
        )
    model = PaperUNet()
    load_checked(model, state, path, "the 2021 paper's U-Net")
    return model.to(device).eval()
