"""U-Net training throughput against the model-only step rate.

`pipeline`: the real loop of `saliency train-unet` over a synth set on disk (decoding,
augmentation, DataLoader workers, optimiser, logging). `model only`: the same model, batch and
size stepping on one batch already in memory. The ratio shows what the data path costs.
Run: `python benchmarks/train_speed.py [--device cuda]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, train_step_img_per_s  # noqa: E402

from saliency.device import pick_device  # noqa: E402
from saliency.generators import build_generator  # noqa: E402
from saliency.pairs import find_pairs  # noqa: E402
from saliency.synthesis import SynthConfig, synthesize  # noqa: E402
from saliency.unet.data import AugmentConfig, PairDataset, split_pairs  # noqa: E402
from saliency.unet.model import new_model  # noqa: E402
from saliency.unet.train import TrainConfig, train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--workers", type=int, default=0, help="loader workers (train-unet uses 0 on CPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = pick_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="train-bench-"))
    try:
        G = build_generator("planted", resolution=64)
        synthesize(
            G,
            SynthConfig(generator="planted", direction=G.planted_direction.tolist(), shift=12.0, n=600, shard_size=300),
            tmp / "data",
            progress=False,
        )
        cfg = TrainConfig.from_preset(
            "2021",
            data=str(tmp / "data"),
            encoder=args.encoder,
            size=args.size,
            batch_size=args.batch,
            steps=args.steps,
            val_every=10**9,
            checkpoint_every=10**9,
            log_every=10**9,
            workers=args.workers,
        )
        tr, va = split_pairs(find_pairs(tmp / "data"))
        source = PairDataset(tr, cfg.size, AugmentConfig())
        val = [next(iter(torch.utils.data.DataLoader(PairDataset(va, cfg.size), batch_size=8)))]
        warm = TrainConfig(**{**cfg.__dict__, "steps": 3})
        train(warm, tmp / "warm", device, source, val, progress=False)
        t = time.perf_counter()
        train(cfg, tmp / "run", device, source, val, progress=False)
        pipeline = args.steps * args.batch / (time.perf_counter() - t)

        torch.manual_seed(0)
        model = new_model(args.encoder, None, args.size).to(device)
        model_only = train_step_img_per_s(model, args.batch, args.size, device, repeats=max(5, args.steps // 2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        {
            "encoder": args.encoder,
            "size": args.size,
            "batch": args.batch,
            "workers": args.workers,
            "pipeline_img_per_s": round(pipeline, 2),
            "model_only_img_per_s": round(model_only, 2),
            "ratio": round(pipeline / model_only, 3),
        }
    ]
    report("train_speed", rows, device, args.out)


if __name__ == "__main__":
    main()
