"""The Python API: a saliency model in three lines.

    import saliency
    model = saliency.load()                       # the shipped model; or a file, "wctr", "agree:shipped+wctr"
    cut = model.cutout("photo.jpg")               # RGBA, background transparent, at the photo's size

A photo is a path, a PIL image or a numpy array (H x W x 3 RGB, uint8 or float in [0, 1]; grey
and RGBA are accepted). Maps, masks and cut-outs come back at the photo's full resolution, the
U-Net's map brought there guided by the photo's edges as `saliency predict` writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from saliency.errors import UserError

PhotoLike = Any  # str | Path | PIL.Image.Image | np.ndarray


def as_rgb(photo: PhotoLike) -> np.ndarray:
    """Any accepted photo -> uint8 RGB array [H, W, 3]."""
    if isinstance(photo, (str, Path)):
        from saliency.images import read_rgb

        return read_rgb(Path(photo))
    if hasattr(photo, "convert") and hasattr(photo, "size"):  # a PIL image, without importing PIL
        from saliency.images import pil_to_rgb

        return pil_to_rgb(photo)
    array = np.asarray(photo)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
        raise UserError(f"a photo is an H x W x 3 RGB array (or grey, or RGBA), not one of shape {array.shape}")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if array.min() < 0 or array.max() > 1:
            raise UserError("a float photo must lie in [0, 1]; pass uint8 for 0..255 values")
        return (array * 255).round().astype(np.uint8)
    raise UserError(f"unsupported photo pixel type {array.dtype}; pass uint8 RGB or float in [0, 1]")


class Model:
    """A saliency model: `map`, `mask` and `cutout` of any photo at its own size."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.name: str = predictor.name

    def map(self, photo: PhotoLike) -> np.ndarray:
        """Soft saliency map, float32 [H, W] in [0, 1]."""
        return np.clip(self.predictor(as_rgb(photo)), 0, 1).astype(np.float32)

    def mask(self, photo: PhotoLike, threshold: float = 0.5) -> np.ndarray:
        """Object mask, bool [H, W]: the map above `threshold`."""
        return self.map(photo) > threshold

    def cutout(self, photo: PhotoLike, threshold: float = 0.5) -> np.ndarray:
        """RGBA uint8 [H, W, 4]: the photo with its background transparent."""
        from saliency.cutout import rgba_cutout

        image = as_rgb(photo)
        return rgba_cutout(image, self.map(image), threshold)

    def with_options(self, tta: str = "auto", upsample: str | None = None) -> Model:
        """This model with another test-time augmentation (auto / none / flip) or upsampler
        (guided / bilinear), sharing its weights; a model that is no U-Net has neither."""
        from saliency.predictors import tta_flip

        check_options(tta, upsample)
        if not hasattr(self.predictor, "variant"):
            return self
        flip = tta_flip(tta)
        if flip is None:  # auto: as the file recommends, whatever this model was loaded with
            flip = self.predictor.model.meta.get("tta") == "flip"
        return Model(self.predictor.variant(flip, upsample))

    @property
    def device(self) -> Any:
        """The torch device the model runs on (baselines: the CPU)."""
        import torch

        return getattr(self.predictor, "device", None) or torch.device("cpu")

    def __repr__(self) -> str:
        return f"saliency.Model({self.name!r})"


def load(
    model: str | Path = "shipped",
    device: str = "auto",
    short_side: int | None = None,
    tta: str = "auto",
    upsample: str = "guided",
    refine: str = "none",
) -> Model:
    """A model by name: "shipped" (the label-free model in the package), a `saliency train-unet`
    file, a baseline ("center-prior", "wctr", "mbplus", "mr", "dsr", "hs", ...) or a fusion
    ("agree:shipped+wctr"). `device`: auto, cpu, cuda or cuda:N. U-Nets: `short_side` of their
    input (None: the size the file was trained at), `tta` auto / none / flip (auto: as the file
    recommends), `upsample` guided (edges follow the photo) or bilinear (the benchmarks' protocol).
    `refine`: none, or grabcut (the map grown over the rest of its object, saliency.grabcut)."""
    from saliency.device import pick_device
    from saliency.predictors import make_predictor, refined, tta_flip, upsampler

    check_options(tta, upsample)
    predictor = make_predictor(str(model), pick_device(device, fallback=True), short_side, tta_flip(tta), upsampler(upsample))
    return Model(refined(predictor, refine))


def check_options(tta: str, upsample: str | None) -> None:
    """Refuse a TTA or upsampler name no U-Net knows (None: leave the upsampler as it is)."""
    from saliency.predictors import TTA_CHOICES, UPSAMPLERS

    if tta not in TTA_CHOICES or upsample not in (None, *UPSAMPLERS):
        raise UserError(f"tta is one of {', '.join(TTA_CHOICES)} and upsample one of {', '.join(UPSAMPLERS)}, not {tta!r} / {upsample!r}")
