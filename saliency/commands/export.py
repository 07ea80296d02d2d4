"""`saliency export`: write a trained model as ONNX (RGB in [0, 1] -> saliency in [0, 1]), or as
an fp16 model file (half the size, loads like any checkpoint: how the shipped model was made).
Given --checkpoint more than once, what is written is the models' uniform weight average.

Batch, height and width are dynamic (height and width must be multiples of 32). The export is
checked against PyTorch on a test batch with onnxruntime when it is installed (`pip install
gan-saliency[onnx]`); a difference above --tolerance is an error.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from saliency.commands.common import positive_float, positive_int
from saliency.errors import UserError
from saliency.predictors import UPSAMPLERS
from saliency.unet.model import SaliencyModel, average_models, load_model, save_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        required=True,
        help="model from `saliency train-unet`, or 'shipped' (the package's); repeat it to write the weight average of several of one architecture (a model soup)",
    )
    p.add_argument("--onnx", type=Path, default=None, help="output .onnx file")
    p.add_argument("--fp16", type=Path, default=None, help="output .safetensors with fp16 weights (same metadata)")
    p.add_argument(
        "--tta",
        choices=("none", "flip"),
        default=None,
        help="with --fp16: record the test-time augmentation `predict` and `bench` use for this model by default (default: keep the checkpoint's)",
    )
    p.add_argument(
        "--upsample",
        choices=UPSAMPLERS,
        default=None,
        help="with --fp16: record how `bench` brings this model's maps to the image's size by default (default: keep the checkpoint's)",
    )
    p.add_argument("--opset", type=positive_int, default=17, help="ONNX opset version")
    p.add_argument("--tolerance", type=positive_float, default=1e-4, help="largest allowed |onnx - torch| on the test batch")


class WithSigmoid(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image))


def load_for_export(checkpoints: list[Path]) -> SaliencyModel:
    from saliency.unet.model import shipped_model

    files = [shipped_model() if str(c) == "shipped" else c for c in checkpoints]
    return load_model(files[0]) if len(files) == 1 else average_models(files)


def export_onnx(net: SaliencyModel, path: Path, opset: int = 17) -> torch.nn.Module:
    model = WithSigmoid(net).eval()
    size = model.model.meta["input_size"]
    example = torch.rand(1, 3, size, size)
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}, "saliency": {0: "batch", 2: "height", 3: "width"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["saliency"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    return model


def check_onnx(model: torch.nn.Module, path: Path, tolerance: float) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    x = torch.rand(2, 3, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    diff = float(abs(got - expected).max())
    if diff > tolerance:
        raise UserError(f"ONNX output differs from PyTorch by {diff:.2e} > {tolerance:.0e}; try another --opset")
    return diff


def export_fp16(model: SaliencyModel, path: Path, tta: str | None = None, upsample: str | None = None) -> float:
    """Writes the half-precision copy (recording `tta` and `upsample` as the model's inference
    defaults, where given); returns the largest map difference it makes on a test batch."""
    recorded = {key: value for key, value in (("tta", tta), ("upsample", upsample)) if value}
    save_model(path, model, half=True, **recorded)
    x = torch.rand(2, 3, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((torch.sigmoid(model(x)) - torch.sigmoid(load_model(path)(x))).abs().max())


def run(args: argparse.Namespace) -> None:
    if args.onnx is None and args.fp16 is None:
        raise UserError("nothing to write: pass --onnx FILE and/or --fp16 FILE")
    model = load_for_export(args.checkpoint)
    if len(args.checkpoint) > 1:
        print(f"exporting the weight average of {len(args.checkpoint)} models: {', '.join(map(str, args.checkpoint))}")
    if args.fp16 is not None:
        diff = export_fp16(model, args.fp16, args.tta, args.upsample)
        print(
            f"wrote {args.fp16} ({args.fp16.stat().st_size / 1e6:.1f} MB); max |fp16 - fp32| map difference {diff:.2e} on a 2x3x96x160 batch"
        )
    if args.onnx is None:
        return
    wrapped = export_onnx(model, args.onnx, args.opset)
    diff = check_onnx(wrapped, args.onnx, args.tolerance)
    check = f"max |onnx - torch| = {diff:.2e} on a 2x3x96x160 batch" if diff is not None else "not checked (onnxruntime not installed)"
    print(f"wrote {args.onnx}; {check}")
