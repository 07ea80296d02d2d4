"""`saliency self-train`: rounds of pseudo-labelling unlabeled photos and training a student.

`--teacher` (repeatable) starts round 0: a `train-unet` checkpoint (e.g. the U-Net trained on
synthetic pairs), a bench baseline (`wctr`) or `gan` (with `--inverter`); each later round's
teacher is the previous student.

`--recipe shipped` is the recipe that made the shipped model, from the shipped model: the
students start from it, and it teaches round 0 beside wCtr, MB+, MR and HS (later rounds: the
previous student beside them), fused by agreement, refined, with per-pixel confidence and solid
masks; each student trains 1,000 steps with an EMA, zoom-out compositions and degradation (the
shipped model's rounds also mixed in the 128 px GAN's pairs: add --mix PAIRS --backgrounds PHOTOS
--paste 1.0 --paste-scale 0.1,0.9 for that). On your own unlabeled photos it adapts the model to their domain. A recipe sets every flag you leave at
its default: any flag you give overrides it. Every model, schedule and augmentation flag of `train-unet`
applies to each round's student (`--mix` synthetic pairs into every round's batches). Writes OUT/round-R/{pseudo,unet}/ and OUT/summary.json; the
final student is OUT/round-LAST/unet/last.safetensors. Rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliency.commands.common import add_generator_arguments, device_from_args, positive_int
from saliency.commands.pseudo_label import add_pseudo_label_arguments, pseudo_label_options, teacher_factory
from saliency.commands.train_unet import add_training_arguments, training_config
from saliency.paths import runs_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--photos", type=Path, required=True, help="folder of unlabeled photos (searched recursively)")
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default=None,
        help="preset of every flag you leave out: 'shipped' is the recipe that made the shipped model (its teachers and the "
        "classical ones fuse, a student starts from it), adapting it to --photos",
    )
    p.add_argument(
        "--teacher",
        action="append",
        default=None,
        help="round 0's teacher(s): train-unet checkpoint, bench baseline (wctr) or 'gan'; repeatable",
    )
    p.add_argument(
        "--init-teaches",
        action="store_true",
        help="the --init model teaches round 0 beside --teacher, as each student teaches the round after it",
    )
    p.add_argument("--rounds", type=positive_int, default=2, help="pseudo-label / train rounds")
    p.add_argument("--keep-teachers", action="store_true", help="later rounds average the previous student with the given teachers")
    p.add_argument(
        "--from-scratch", action="store_true", help="each student starts from --init or random weights, not from the previous student"
    )
    p.add_argument("--out", type=Path, default=None, help="run directory (default: DATA/runs/self-train)")
    add_pseudo_label_arguments(p)
    add_training_arguments(p)


# Each recipe: flag destinations -> values, applied as the flags' defaults ("shipped" as --init:
# the package's model file).
RECIPES = {
    "shipped": {
        "teacher": ["wctr", "mbplus", "mr", "hs"],
        "init": "shipped",
        "init_teaches": True,
        "keep_teachers": True,
        "rounds": 1,
        "fusion": "agree",
        "refine": True,
        "confidence": True,
        "rank": "agreement",
        "fill_holes": True,
        "encoder": "resnet18",
        "decoder_channels": "128,64,32,16,16",
        "size": 128,
        "batch_size": 16,
        "steps": 1000,
        "milestones": "700",
        "lr": 5e-4,
        "degrade": True,
        "ema": 0.999,
        "zoom_out": 0.3,
    },
}


def preset(args: argparse.Namespace) -> dict:
    """The recipe's flag values (saliency.cli applies them as defaults, so every flag given keeps
    its value). --teacher appends, so teachers given replace the recipe's instead of adding to them."""
    if not args.recipe:
        return {}
    recipe = dict(RECIPES[args.recipe])
    if args.teacher is not None:
        recipe.pop("teacher", None)
    return recipe


def run(args: argparse.Namespace) -> None:
    from saliency.errors import UserError
    from saliency.real_photos.self_training import SelfTrainConfig, run_rounds

    if args.init is not None and str(args.init) == "shipped":
        from saliency.unet.model import shipped_model

        args.init = shipped_model()
    if not args.teacher:
        raise UserError("name the teachers (--teacher, repeatable) or a recipe (--recipe shipped)")
    device = device_from_args(args)
    cfg = SelfTrainConfig(
        photos=str(args.photos),
        teachers=list(args.teacher),
        rounds=args.rounds,
        keep_teachers=args.keep_teachers,
        from_scratch=args.from_scratch,
        init_teaches=args.init_teaches,
        **pseudo_label_options(args),
    )
    template = training_config(args, device, data=None)
    out = args.out or runs_dir() / "self-train"
    summary = run_rounds(cfg, template, out, device, teacher_factory(args, device))
    for r in summary["rounds"]:
        print(
            f"round {r['round']}: {r['kept_photos']} photos kept (sure {r['mean_sure']:.0%}, area {r['mean_area']:.2f}) -> {r['student']}"
        )
