"""Training speed of U-Nets with different smp encoders: images/s of one optimiser step on random
data (model only, no data loading), and parameter counts. This is the cost side of choosing an
encoder for a CPU budget; benchmarks/budget_curve.py measures what each learns per step.
Run: `python benchmarks/encoder_speed.py [--encoders resnet18,mobilenet_v2] [--sizes 64,128]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, train_step_img_per_s  # noqa: E402

from saliency.device import pick_device  # noqa: E402
from saliency.unet.model import new_model  # noqa: E402

DECODERS = {"wide": (256, 128, 64, 32, 16), "narrow": (128, 64, 32, 16, 16)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoders", default="resnet18,resnet34,mobilenet_v2,efficientnet-b0,timm-mobilenetv3_large_100")
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--decoders", default="wide,narrow")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    rows = []
    for encoder in args.encoders.split(","):
        for decoder in args.decoders.split(","):
            for size in map(int, args.sizes.split(",")):
                torch.manual_seed(0)
                model = new_model(encoder, None, size, DECODERS[decoder]).to(device)
                rows.append(
                    {
                        "encoder": encoder,
                        "decoder": decoder,
                        "size": size,
                        "params_M": round(sum(q.numel() for q in model.parameters()) / 1e6, 2),
                        "train_img_per_s": round(train_step_img_per_s(model, args.batch, size, device, args.repeats), 2),
                    }
                )
                print(rows[-1], flush=True)
    report("encoder_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
