"""Self-training on a folder of unlabeled photos: label them, train a student, repeat.

Round r: the teachers (round 0: the ones given, after the init model with `init_teaches`; later:
the previous student, plus the given ones with `keep_teachers`) pseudo-label the photos (saliency.real_photos.pseudo_labels: sure pixels only,
surest photos only); a student trains on those real photos, with synthetic pairs mixed into its
batches if the training template says so (`TrainConfig.mix`), starting from the previous student unless `from_scratch`. A U-Net that learnt from
generated scenes sees real textures, clutter and objects cut by the frame this way, which is
what its synthetic data lacked.

Layout of OUT: round-R/pseudo/ (pseudo_labels' output, with pseudo_masks.png to look at) and
round-R/unet/ (train-unet's output). Each round resumes where it stopped; a finished round is
skipped on a rerun.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from saliency.errors import UserError
from saliency.files import write_json
from saliency.pairs import find_pairs
from saliency.real_photos.pseudo_labels import PSEUDO_MASK_FIELDS, PseudoLabelConfig, PseudoMaskSettings, label_photos
from saliency.unet.data import PairDataset, split_pairs
from saliency.unet.presets import training_set
from saliency.unet.train import TrainConfig, train, validation_batches


@dataclass
class SelfTrainConfig(PseudoMaskSettings):
    photos: str = ""
    teachers: list[str] = field(default_factory=list)
    rounds: int = 2
    keep_teachers: bool = False
    from_scratch: bool = False
    init_teaches: bool = False  # round 0's student teacher is the model the students start from (the template's init)


def run_rounds(
    cfg: SelfTrainConfig,
    template: TrainConfig,
    out: str | Path,
    device: torch.device,
    make_teacher: Callable[[str], Callable],
    progress: bool = True,
) -> dict:
    """Every round in turn; returns the summary (also written to OUT/summary.json)."""
    out = Path(out)
    if cfg.init_teaches and not template.init:
        raise UserError("init_teaches: the model the students start from teaches round 0, so an init model is needed (--init FILE)")
    given = [make_teacher(t) for t in cfg.teachers]
    student: str | None = template.init if cfg.init_teaches else None
    rounds = []
    for r in range(cfg.rounds):
        round_dir = out / f"round-{r}"
        names = list(cfg.teachers) if student is None else [student] + (list(cfg.teachers) if cfg.keep_teachers else [])
        teachers = given if student is None else [make_teacher(student)] + (given if cfg.keep_teachers else [])
        pseudo_cfg = PseudoLabelConfig(photos=cfg.photos, teachers=names, **{k: getattr(cfg, k) for k in PSEUDO_MASK_FIELDS})
        labelled = label_photos(pseudo_cfg, teachers, round_dir / "pseudo", progress)
        unet_dir = round_dir / "unet"
        if not (unet_dir / "summary.json").exists():
            pairs = find_pairs(round_dir / "pseudo")
            train_pairs, val_pairs = split_pairs(pairs)
            init = template.init if student is None or cfg.from_scratch else student
            train_cfg = replace(template, data=str(round_dir / "pseudo"), init=init)
            meta = {
                "trained_on": f"self-training round {r}: {len(train_pairs)} of {labelled['kept']} pseudo-labelled photos of {cfg.photos}"
                + (
                    f", with synthetic pairs of {template.mix} as {template.mix_ratio:.0%} of the items"
                    if template.mix and template.mix_ratio > 0
                    else ""
                ),
                "teachers": names,
            }
            train(
                train_cfg,
                unet_dir,
                device,
                training_set(train_cfg, train_pairs),
                validation_batches(PairDataset(val_pairs, train_cfg.size)),
                meta,
                progress=progress,
            )
        student = str(unet_dir / "last.safetensors")
        rounds.append(
            {
                "round": r,
                "teachers": names,
                "kept_photos": labelled["kept"],
                "mean_sure": labelled["mean_sure_kept"],
                "mean_area": labelled["mean_area_kept"],
                "student": student,
                "pseudo_masks_png": str(round_dir / "pseudo" / "pseudo_masks.png"),
                "train": json.loads((unet_dir / "summary.json").read_text())["best_val_iou"],
            }
        )
    summary = {"config": asdict(cfg), "train_config": asdict(template), "rounds": rounds, "student": student}
    write_json(out / "summary.json", summary)
    return summary
