"""Every model by name: things that turn an RGB image into a soft saliency map at the image's own
size. `bench` measures them, `predict` and the Python API apply them, `pseudo-label` teaches with them.

- a U-Net checkpoint from `saliency train-unet` (the papers' protocol: resize so the short side is
  128, predict, resize the soft map back; with flip test-time augmentation, and the map brought
  back guided by the photo's edges as `saliency predict` does, where asked or where the
  checkpoint recommends it);
- `center-prior`: an isotropic Gaussian at the image centre (sigma = 0.25 of each side), the
  reference row every table needs;
- `spectral-residual`: Hou & Zhang, CVPR 2007, a classical unsupervised method (grey image at
  64 px wide, log-amplitude spectrum minus its 3x3 local mean, back with the original phase,
  squared, Gaussian-smoothed), implemented here from the paper;
- `wctr`: Zhu et al., CVPR 2014 (saliency optimisation from robust background detection), the
  classical row of the papers' tables (saliency.classical.wctr);
- `mbplus`: Zhang et al., ICCV 2015 (minimum barrier saliency, saliency.classical.mbplus);
- `mr`: Yang et al., CVPR 2013 (graph-based manifold ranking, saliency.classical.manifold_ranking);
- `dsr`: Li et al., ICCV 2013 (dense and sparse reconstruction, saliency.classical.dsr);
- `hs`: Yan et al., CVPR 2013 (hierarchical saliency, saliency.classical.hierarchical);
- a fusion of any of these, `mean:A+B+...` or `agree:A+B+...` (saliency.classical.fusion).

Classical methods are listed lazily (name -> "module:class", imported on use), as smp lists its
encoders: adding one is a module and a line here. Each runs on the photo brought down to 400 px
on its long side when larger (AtMostSide), its map resized back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from saliency.classical.maps import min_max
from saliency.cutout import guided_upsample

CLASSICAL = {
    "wctr": "saliency.classical.wctr:WCtr",
    "mbplus": "saliency.classical.mbplus:MBPlus",
    "mr": "saliency.classical.manifold_ranking:ManifoldRanking",
    "dsr": "saliency.classical.dsr:DSR",
    "hs": "saliency.classical.hierarchical:HS",
}
BASELINES = ("center-prior", "spectral-residual", *CLASSICAL)


class Predictor(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


class CenterPrior:
    name = "center-prior"

    def __init__(self, sigma: float = 0.25) -> None:
        self.sigma = sigma

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        y = (np.arange(h) + 0.5) / h - 0.5
        x = (np.arange(w) + 0.5) / w - 0.5
        return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * self.sigma**2)).astype(np.float32)


class SpectralResidual:
    name = "spectral-residual"

    def __init__(self, width: int = 64, blur_sigma: float = 2.5) -> None:
        self.width, self.blur_sigma = width, blur_sigma

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small_h = max(8, round(h * self.width / w))
        grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (self.width, small_h), interpolation=cv2.INTER_AREA).astype(np.float64)
        spectrum = np.fft.fft2(grey)
        log_amp = np.log(np.abs(spectrum) + 1e-9)
        residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
        sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
        sal = cv2.GaussianBlur(sal, (0, 0), self.blur_sigma)
        return min_max(cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


class AtMostSide:
    """A classical method run on the photo brought down to `max_side` on its long side, its map
    resized back. Their cost grows with the pixels (wCtr's superpixels are ~600 px each and its
    matrices quadratic in their count; HS's first layer follows the watershed), so a phone photo
    would take minutes and gigabytes; and their constants were set on the ~400 px photos of the
    papers' sets (ECSSD's longest side is 400, so its rows are unchanged)."""

    def __init__(self, inner: Predictor, max_side: int = 400) -> None:
        self.inner, self.max_side, self.name = inner, max_side, inner.name

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if max(h, w) <= self.max_side:
            return self.inner(image)
        scale = self.max_side / max(h, w)
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return cv2.resize(self.inner(small), (w, h), interpolation=cv2.INTER_LINEAR)


REFINERS = ("none", "grabcut")
REFINE_HELP = (
    "after the model: none, or grabcut (GrabCut seeded where the map is sure, at 128 px, averaged with the map: "
    "grows the map over the rest of an object it lights only in part; about 25 ms more a photo on a CPU)"
)


class Grown:
    """Any predictor's map grown over the rest of its object by GrabCut seeded where the map is
    sure (saliency.grabcut): `refine="grabcut"` in `saliency.load`, `--refine grabcut` in predict
    and bench."""

    def __init__(self, inner: Predictor) -> None:
        self.inner, self.name = inner, inner.name + "+grabcut"
        self.device, self.short_side = getattr(inner, "device", None), getattr(inner, "short_side", None)  # as the model runs

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from saliency.grabcut import grow

        return grow(np.clip(self.inner(image), 0, 1), image)


def refined(predictor: Predictor, refine: str) -> Predictor:
    """`predictor` followed by the refiner named by a --refine flag."""
    if refine not in REFINERS:
        from saliency.errors import UserError

        raise UserError(f"refine is one of {', '.join(REFINERS)}, not {refine!r}")
    return Grown(predictor) if refine == "grabcut" else predictor


def model_name(checkpoint: Path) -> str:
    """A checkpoint's name in tables: its path under the runs folder without the suffix
    (`demo-objects-64/unet/best`, `st-gan/round-0/unet/last`), else its own name and folder."""
    from saliency.paths import runs_dir

    path = checkpoint.resolve().with_suffix("")
    try:
        return str(path.relative_to(runs_dir().resolve()))
    except ValueError:
        return path.name if path.name not in ("best", "last") else f"{path.parent.name}/{path.name}"


TTA_CHOICES = ("auto", "none", "flip")
TTA_HELP = "U-Net test-time augmentation: auto (as the checkpoint recommends; the shipped model: flip), none (the papers' single pass) or flip (average with the mirror image's map)"


def tta_flip(choice: str) -> bool | None:
    """A --tta flag's value -> UNetPredictor's `flip` (None: the checkpoint's own recommendation)."""
    return {"auto": None, "none": False, "flip": True}[choice]


UPSAMPLERS = ("bilinear", "guided")
UPSAMPLE_CHOICES = ("auto", *UPSAMPLERS)
UPSAMPLE_HELP = (
    "U-Net map to the image's size: auto (as the checkpoint recommends, else bilinear), bilinear (the papers' "
    "protocol: a plain resize) or guided (its edges snapped onto the photo's, as `saliency predict` delivers it)"
)


def upsampler(choice: str) -> str | None:
    """An --upsample flag's value -> UNetPredictor's `upsample` (None: the checkpoint's own recommendation)."""
    return None if choice == "auto" else choice


class UNetPredictor:
    """A `saliency train-unet` checkpoint under the papers' inference protocol."""

    def __init__(
        self,
        checkpoint: str | Path,
        device: torch.device,
        short_side: int | None = None,
        flip: bool | None = None,
        name: str | None = None,
        upsample: str | None = None,
    ) -> None:
        """`short_side` None: the size the model was trained at (metadata "input_size": a model
        that learnt objects at 64 px must see photos at 64 px, not twice that);
        `flip` None: as the checkpoint recommends (metadata "tta", set by `saliency export --tta`);
        `upsample` (bilinear or guided) None: likewise (metadata "upsample", else bilinear);
        `name` for tables (default: from the path), marked "+flip" / "+guided" when so run."""
        from saliency.unet.model import load_model

        self.model = load_model(checkpoint, device)
        self.flip = self.model.meta.get("tta") == "flip" if flip is None else flip
        self.upsample = self.model.meta.get("upsample", "bilinear") if upsample is None else upsample
        if self.upsample not in UPSAMPLERS:
            from saliency.errors import UserError

            raise UserError(
                f"{checkpoint}: upsampling {self.upsample!r} is not one of {', '.join(UPSAMPLERS)}; pass --upsample bilinear or guided, "
                "or re-export the file with `saliency export --fp16 OUT --upsample bilinear|guided`"
            )
        self.device, self.short_side = device, short_side or int(self.model.meta.get("input_size", 128))
        self.base_name = name or model_name(Path(checkpoint))

    @property
    def name(self) -> str:
        return self.base_name + ("+flip" if self.flip else "") + ("+guided" if self.upsample == "guided" else "")

    def variant(self, flip: bool | None = None, upsample: str | None = None) -> UNetPredictor:
        """The same network run another way (None: as now): a server's per-request options
        without a second copy of the weights."""
        other = copy.copy(self)
        other.flip = self.flip if flip is None else flip
        other.upsample = self.upsample if upsample is None else upsample
        return other

    @torch.no_grad()
    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1] at any size -> soft maps [B, 1, H, W] (padded to /32 inside);
        with `flip`, the mean of the maps of the image and of its mirror image (test-time
        augmentation: the model was trained on both, and their disagreements average out)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % 32, (-w) % 32

        def maps(images: torch.Tensor) -> torch.Tensor:
            padded = F.pad(images, (0, pw, 0, ph), mode="replicate") if ph or pw else images
            return torch.sigmoid(self.model(padded.to(self.device)))[..., :h, :w].float()

        if self.flip:  # the mirror is padded on its own right side and cut before flipping back
            return ((maps(x) + maps(x.flip(-1)).flip(-1)) / 2).cpu()
        return maps(x).cpu()

    def at_model_size(self, image: np.ndarray) -> np.ndarray:
        """The soft map at the size the model saw (short side `short_side`), for an upsampler of
        the caller's choice (`saliency predict` follows the photo's edges)."""
        h, w = image.shape[:2]
        scale = self.short_side / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return self.batch(x)[0, 0].numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The map at the image's size: resized back bilinearly (the papers' protocol) or guided by
        the photo's edges (saliency.cutout: what `predict` writes)."""
        small = self.at_model_size(image)
        if self.upsample == "guided":
            return guided_upsample(small, image)
        return F.interpolate(torch.from_numpy(small)[None, None], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()


class PaperUNetPredictor(UNetPredictor):
    """The 2021 paper's released U-Net (saliency.unet.paper_unet) under its own inference: the
    photo in [-1, 1] at short side 128, the map softmax(logits)[1]; resized back, flipped and
    named as our U-Nets are (UNetPredictor)."""

    def __init__(
        self,
        path: str | Path,
        device: torch.device,
        short_side: int | None = None,
        flip: bool | None = None,
        upsample: str | None = None,
        name: str | None = None,
    ) -> None:
        from saliency.unet.paper_unet import load_paper_unet

        self.model, self.device = load_paper_unet(path, device), device
        self.short_side, self.flip, self.upsample = short_side or 128, bool(flip), upsample or "bilinear"
        self.base_name = name or model_name(Path(path))

    @torch.no_grad()
    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1] -> softmax(logits)[1] [B, 1, H, W] (any size: the ups pad)."""

        def maps(images: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.model(images.to(self.device) * 2 - 1), dim=1)[:, 1:].float()

        return ((maps(x) + maps(x.flip(-1)).flip(-1)) / 2 if self.flip else maps(x)).cpu()


def make_predictor(
    name: str, device: torch.device, short_side: int | None = None, flip: bool | None = None, upsample: str | None = None
) -> Predictor:
    """A predictor by name: a baseline, 'shipped', a checkpoint path, or a fusion `RULE:A+B`;
    `short_side`: U-Nets' input short side (None: each the size its file says it was trained at);
    `flip`: U-Nets average their maps of the image and its mirror image; `upsample`: how U-Net
    maps reach the image's size (None, both: as each checkpoint recommends)."""
    from saliency.errors import UserError

    if name == "center-prior":
        return CenterPrior()
    if name == "spectral-residual":
        return SpectralResidual()
    if name in CLASSICAL:
        import importlib

        module, cls = CLASSICAL[name].split(":")
        return AtMostSide(getattr(importlib.import_module(module), cls)())
    rule, _, members = name.partition(":")
    if members and not Path(name).exists():
        from saliency.classical.fusion import FUSION_RULES, Fused

        if rule not in FUSION_RULES:
            raise UserError(
                f"--model {name!r}: fusion rule {rule!r} is not one of {', '.join(FUSION_RULES)} (write e.g. agree:wctr+mbplus+mr)"
            )
        return Fused([make_predictor(m, device, short_side, flip, upsample) for m in members.split("+")], rule)

    if name == "shipped":
        from saliency.unet.model import shipped_model

        return UNetPredictor(shipped_model(), device, short_side, flip, name="shipped", upsample=upsample)
    if name == "voynov2021-unet":
        from saliency.unet.paper_unet import RELEASED_UNET
        from saliency.weights import resolve_weights

        return PaperUNetPredictor(resolve_weights(RELEASED_UNET), device, short_side, flip, upsample, name=name)
    if Path(name).suffix in (".pt", ".pth") and Path(name).is_file():  # our models are safetensors; a torch file is the paper's U-Net
        return PaperUNetPredictor(name, device, short_side, flip, upsample)
    if not Path(name).exists():
        raise UserError(f"model {name!r}: no such file, and not 'shipped', 'voynov2021-unet' nor a baseline ({', '.join(BASELINES)})")
    return UNetPredictor(name, device, short_side, flip, upsample=upsample)
