"""The saliency model and its self-describing checkpoint.

A model file is safetensors: the U-Net's weights plus metadata naming the architecture, encoder,
input size and input normalisation, so `bench`, `predict` and `export` need no extra flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save

from saliency.errors import UserError
from saliency.files import atomic_write, read_safetensors
from saliency.generators.checkpoint import load_checked, state_dict_mismatches

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_ENCODER = "resnet18"
# The saliency model that ships with the package (see pretrained/MODEL_CARD.md): what `predict`
# and `bench` use when no model is named.
SHIPPED_MODEL = Path(__file__).parent / "pretrained" / "saliency.safetensors"


def shipped_model() -> Path:
    if not SHIPPED_MODEL.is_file():
        raise UserError(f"this install has no shipped saliency model ({SHIPPED_MODEL}); train one with `saliency train-unet` and pass it")
    return SHIPPED_MODEL


def build_unet(
    encoder: str = DEFAULT_ENCODER, encoder_weights: str | None = None, decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    try:
        return smp.Unet(encoder_name=encoder, encoder_weights=encoder_weights, classes=1, decoder_channels=tuple(decoder_channels))
    except KeyError as e:
        raise UserError(f"unknown smp encoder {encoder!r}: {e}") from None
    except OSError as e:  # pretrained encoder weights need a download
        raise UserError(f"cannot fetch {encoder_weights} weights for encoder {encoder}: {e}. Offline, use --encoder-weights none") from None


class SaliencyModel(torch.nn.Module):
    """U-Net plus its input normalisation: takes RGB in [0, 1], returns logits [B, 1, H, W]."""

    def __init__(self, net: torch.nn.Module, meta: dict[str, Any]) -> None:
        super().__init__()
        self.net, self.meta = net, meta
        self.register_buffer("mean", torch.tensor(meta["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(meta["std"]).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.net((rgb01 - self.mean) / self.std)


def new_model(
    encoder: str = DEFAULT_ENCODER,
    encoder_weights: str | None = None,
    size: int = 128,
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
    **extra: Any,
) -> SaliencyModel:
    meta = {
        "arch": "smp.Unet",
        "encoder": encoder,
        "encoder_weights": encoder_weights,
        "decoder_channels": list(decoder_channels),
        "input_size": size,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "input_range": "RGB in [0, 1], then (x - mean) / std",
        "output": "logits; sigmoid gives the saliency map",
        **extra,
    }
    return SaliencyModel(build_unet(encoder, encoder_weights, decoder_channels), meta)


def save_model(path: str | Path, model: SaliencyModel, half: bool = False, **extra_meta: Any) -> None:
    """`half` stores floating-point tensors as fp16 (half the size, for shipping); loading
    always returns fp32."""
    net = model.module.net if hasattr(model, "module") else model.net
    meta = {**(model.module.meta if hasattr(model, "module") else model.meta), **extra_meta}
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    blob = save(state, metadata={"saliency_model": json.dumps(meta)})
    with atomic_write(path, "wb") as f:
        f.write(blob)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> SaliencyModel:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model checkpoint not found: {path}; train one with `saliency train-unet`")
    try:
        state, metadata = read_safetensors(path)
        raw = metadata.get("saliency_model")
    except (SafetensorError, OSError) as e:
        if _is_torch_pickle(path):
            raise UserError(
                f"{path} is a torch .pt/.pth file, not a saliency model: this project loads safetensors files from "
                "`saliency train-unet` (or `saliency export --fp16`), never pickles; pass such a file"
            ) from None
        raise UserError(f"cannot read model checkpoint {path}: {e}; it is truncated or not a safetensors file") from None
    if raw is None:
        raise UserError(f"{path} has no saliency-model metadata; is it a checkpoint from `saliency train-unet`?")
    meta = json.loads(raw)
    model = new_model(meta["encoder"], None, meta["input_size"], tuple(meta["decoder_channels"]))
    model.meta = meta
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    load_checked(model.net, state, path, f"the {meta['encoder']} U-Net its own metadata describes (the file is damaged or was edited)")
    return model.to(device).eval()


def _is_torch_pickle(path: Path) -> bool:
    """A torch.save file: a zip archive (torch >= 1.6) or a legacy pickle (protocol byte 0x80)."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(2)
    return zipfile.is_zipfile(path) or head[:1] == b"\x80"


def average_models(paths: list[str | Path]) -> SaliencyModel:
    """The uniform weight average of models of one architecture (a "model soup", Wortsman et al.
    2022): students fine-tuned from a common ancestor sit in one basin, so their mean is a model
    that often predicts better than either, at one model's cost. Integer buffers (batch-norm step
    counts) come from the first; metadata too, plus the files averaged."""
    models = [load_model(path) for path in paths]
    first, arch = models[0], ("encoder", "input_size", "decoder_channels")

    def shape(model: SaliencyModel) -> str:
        return ", ".join(f"{key} {model.meta[key]}" for key in arch)

    for path, model in zip(paths[1:], models[1:]):
        if shape(model) != shape(first):
            raise UserError(
                f"cannot average {path} ({shape(model)}) with {paths[0]} ({shape(first)}): weights average only within one architecture"
            )
    states = [m.net.state_dict() for m in models]
    first.net.load_state_dict(
        {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v for k, v in states[0].items()}
    )
    first.meta = {**first.meta, "averaged": [str(path) for path in paths]}
    return first


def initialise_from(model: SaliencyModel, path: str | Path) -> str:
    """Start training from another file's weights: a `saliency train-unet` checkpoint (the whole
    network; same architecture) or a `saliency invert` encoder (its ResNet trunk becomes the
    U-Net's encoder: a network that has seen real photos). Returns which of the two it was."""
    path = Path(path)
    try:
        state, metadata = read_safetensors(path)
    except (SafetensorError, OSError) as e:
        raise UserError(f"cannot read initial weights {path}: {e}") from None
    if "saliency_model" in metadata:
        problems = state_dict_mismatches(model.net, state)
        if problems:
            raise UserError(
                f"{path} is a U-Net of another architecture than this run's ({'; '.join(problems[:3])}); match --encoder and --decoder-channels"
            )
        model.net.load_state_dict(state)
        return "unet"
    if "saliency_encoder" in metadata:
        meta = json.loads(metadata["saliency_encoder"])
        trunk = {k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")}
        if meta.get("arch") != model.meta["encoder"]:
            raise UserError(
                f"{path} holds a {meta.get('arch')} encoder, this U-Net's encoder is {model.meta['encoder']}; pass --encoder {meta.get('arch')}"
            )
        problems = state_dict_mismatches(model.net.encoder, trunk)
        if problems:
            raise UserError(f"{path}'s trunk does not fit the U-Net's {model.meta['encoder']} encoder ({'; '.join(problems[:3])})")
        model.net.encoder.load_state_dict(trunk)
        return "encoder"
    raise UserError(f"{path} is neither a `saliency train-unet` model nor a `saliency invert` encoder")
