"""`saliency self-train`: rounds of pseudo-labelling unlabeled photos and training a student.

`--teacher` (repeatable) starts round 0: a `train-unet` checkpoint (e.g. the U-Net trained on
synthetic pairs), a bench baseline (`wctr`) or `gan` (with `--inverter`); each later round's
teacher is the previous student. Every model, schedule and augmentation flag of `train-unet`
applies to each round's student (`--mix` synthetic pairs into every round's batches). Writes OUT/round-R/{pseudo,unet}/ and OUT/summary.json; the
final student is OUT/round-LAST/unet/last.safetensors. Rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliency.commands.common import add_generator_arguments, device_from_args
from saliency.commands.pseudo_label import add_pseudo_label_arguments, build_teachers, pseudo_label_options
from saliency.commands.train_unet import add_training_arguments, training_config
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--photos", type=Path, required=True, help="folder of unlabeled photos (searched recursively)")
    p.add_argument("--teacher", action="append", required=True, help="round 0's teacher(s): train-unet checkpoint, bench baseline (wctr) or 'gan'; repeatable")
    p.add_argument("--rounds", type=int, default=2, help="pseudo-label / train rounds")
    p.add_argument("--keep-teachers", action="store_true", help="later rounds average the previous student with the given teachers")
    p.add_argument("--from-scratch", action="store_true", help="each student starts from --init or random weights, not from the previous student")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/self-train)")
    add_pseudo_label_arguments(p)
    add_training_arguments(p)


def run(args: argparse.Namespace) -> None:
    from saliency.real_photos.self_training import SelfTrainConfig, run_rounds

    device = device_from_args(args)
    cfg = SelfTrainConfig(photos=str(args.photos), teachers=list(args.teacher), rounds=args.rounds, keep_teachers=args.keep_teachers, from_scratch=args.from_scratch, **pseudo_label_options(args))
    template = training_config(args, device, data=None)

    def make_teacher(name: str):
        return build_teachers(argparse.Namespace(**{**vars(args), "teacher": [name]}), device)[0]

    out = args.out or runs_dir() / "self-train"
    summary = run_rounds(cfg, template, out, device, make_teacher)
    for r in summary["rounds"]:
        print(f"round {r['round']}: {r['kept_photos']} photos kept (sure {r['mean_sure']:.0%}, area {r['mean_area']:.2f}) -> {r['student']}")
