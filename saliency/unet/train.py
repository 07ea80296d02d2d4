"""One readable training loop for the U-Net, single process or DDP under torchrun.

Presets are the papers' schedules; every knob is also a flag. Rank 0 alone writes: the JSONL
log, train_state.pt (resume), best.safetensors (best validation IoU), last.safetensors, and
curves.png. A run killed at any moment and restarted with the same command resumes from the
last train_state.pt and finishes at the same step count.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from saliency.distributed import Distributed
from saliency.ema import update_ema
from saliency.errors import UserError
from saliency.files import write_json
from saliency.metrics import per_image_iou
from saliency.training import TrainingLoop, step_generator
from saliency.unet.model import SaliencyModel, new_model, save_model

PRESETS: dict[str, dict[str, Any]] = {
    # Voynov & Babenko 2020 (segmentation/ code): lr 5e-3, x0.2 every 4k steps, 15k steps, batch 128
    "2020": {"lr": 5e-3, "milestones": [4000, 8000, 12000], "gamma": 0.2, "steps": 15000, "batch_size": 128},
    # BigGANsAreWatching 2021: lr 1e-3, x0.2 at 8k, 12k steps, batch 95
    "2021": {"lr": 1e-3, "milestones": [8000], "gamma": 0.2, "steps": 12000, "batch_size": 95},
}


@dataclass
class TrainConfig:
    data: str | None = None  # synth output or folder of pairs; None with on_the_fly
    on_the_fly: bool = False
    encoder: str = "resnet18"
    encoder_weights: str | None = None
    decoder_channels: list[int] = field(default_factory=lambda: [256, 128, 64, 32, 16])
    size: int = 128
    preset: str = "2021"
    lr: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [8000])
    gamma: float = 0.2
    steps: int = 12000
    batch_size: int = 95
    dice_weight: float = 0.0
    soft_targets: bool = False  # learn the pseudo-mask's confidence as a soft target instead of weighting a hard one by it
    flip: bool = True
    crop: bool = True
    color: bool = True
    degrade: bool = False
    backgrounds: str | None = None  # folder of real photos to paste synthetic objects onto
    paste: float = 0.0  # share of synthetic items that are pasted composites
    paste_scale: list[float] = field(default_factory=lambda: [0.35, 0.9])  # a pasted object's longer extent, as a share of the frame
    mix: str | None = None  # synthetic pairs mixed into `data`'s (pseudo-labelled photos) at mix_ratio
    mix_ratio: float = 0.0  # share of training items drawn from `mix`
    close_up: float = 0.0  # share of `data`'s items shown as a close-up of their mask's object
    zoom_out: float = 0.0  # share of `data`'s items scaled down into another item's photo (small objects in wide frames)
    init: str | None = None  # U-Net checkpoint, or inversion encoder (its trunk initialises the U-Net's encoder)
    seed: int = 0
    val_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 50
    snapshot_every: int = 0  # keep the weights every N steps (snapshots/step-NNNNNN.safetensors), for budget curves
    workers: int = 0
    amp: bool = True
    ema: float = 0.0  # > 0: validate and save an EMA of the weights with this decay (mean teacher); 0: the live weights
    consistency: float = (
        0.0  # > 0 (with ema): the student sees a photometrically perturbed view and also learns the EMA's map of the plain one
    )

    RESUMABLE_CHANGES = ("steps", "val_every", "checkpoint_every", "log_every", "snapshot_every", "workers")
    FORMER_DEFAULTS = {"paste_scale": [0.35, 0.9]}  # a field with a default factory: what runs saved before it existed did

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> "TrainConfig":
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        names = {f.name for f in fields(cls)}
        return cls(preset=preset, **{k: v for k, v in values.items() if k in names})


def _quiet_worker(_: int) -> None:
    """One OpenCV thread per loader worker: the workers already run in parallel."""
    import cv2

    cv2.setNumThreads(1)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    p = torch.sigmoid(logits)
    if weight is not None:  # unsure pixels count for neither side
        p, target = p * weight, target * weight
    inter = (p * target).flatten(1).sum(1)
    return (1 - (2 * inter + 1) / (p.flatten(1).sum(1) + target.flatten(1).sum(1) + 1)).mean()


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """BCE averaged over the pixels that carry a label (weight 1); unsure pixels (0) add nothing."""
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum().clamp_min(1)


def soft_target(target: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hard target, confidence) -> (0.5 +- confidence / 2, weight 1 everywhere): the student
    learns how sure the teachers were (Hinton et al. 2015's soft targets) instead of only where
    they were sure; an "unsure" pixel becomes a 0.5 target. Exact masks (confidence 1) are unchanged."""
    return 0.5 + (target - 0.5) * weight, torch.ones_like(weight)


STRONG_VIEW = 0x5C0  # the perturbed views' step_generator stream (kept from earlier versions)


def strong_view(x: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """A photometric perturbation of a batch of RGB [0, 1] images (colour, contrast, brightness,
    noise, blur), drawn from (seed, step) so a resumed run sees the same views; the geometry is
    untouched, so a map of the plain image is a target for the perturbed one."""
    g = step_generator(seed, step, STRONG_VIEW)
    b = x.shape[0]

    def factor(spread: float) -> torch.Tensor:
        return (1 + (torch.rand(b, 1, 1, 1, generator=g) - 0.5) * 2 * spread).to(x.device)

    grey = x.mean(1, keepdim=True)
    y = grey + (x - grey) * factor(0.5)  # saturation
    mean = y.mean((1, 2, 3), keepdim=True)
    y = (y - mean) * factor(0.4) + mean  # contrast
    y = y * factor(0.3)  # brightness
    y = y + torch.randn(x.shape, generator=g).to(x.device) * (torch.rand(b, 1, 1, 1, generator=g) * 0.06).to(x.device)
    blur = (torch.rand(b, generator=g) < 0.5).to(x.device)
    blurred = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1)
    return torch.where(blur[:, None, None, None], blurred, y).clamp(0, 1)


def consistency_loss(student_logits: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
    """BCE of the student's map of a perturbed view against the mean teacher's map of the plain
    view, each pixel weighted by the teacher's certainty |2p - 1| (Tarvainen & Valpola 2017;
    FixMatch's weak/strong split): the student learns from a second teacher whose errors are not
    the contrast teachers' shared ones, and nothing where that teacher is unsure."""
    weight = (2 * teacher_map - 1).abs()
    return F.binary_cross_entropy_with_logits(student_logits, teacher_map, weight=weight, reduction="sum") / weight.sum().clamp_min(1)


def weights_checksum(model: torch.nn.Module) -> str:
    """SHA-256 of the learned parameters. (Batch-norm running statistics are not compared: DDP
    re-broadcasts rank 0's before every forward, and rank 0 alone saves the model.)"""
    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def validate(model: SaliencyModel, batches: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> dict[str, float]:
    model.eval()
    losses, ious = [], []
    for x, y, w in batches:
        x, y, w = x.to(device), y.to(device), w.to(device)
        logits = model(x)
        losses.append(float(weighted_bce(logits, y, w)))
        ious += per_image_iou(torch.sigmoid(logits), y).tolist()
    model.train()
    return {"val_loss": sum(losses) / len(losses), "val_iou": sum(ious) / len(ious)}


def plot_curves(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_iou" in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    a.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val loss")
    a.set_xlabel("step"), a.set_yscale("log"), a.legend()
    b.plot([r["step"] for r in val], [r["val_iou"] for r in val], "o-", color="C2")
    b.set_xlabel("step"), b.set_ylabel("validation IoU (per image, @0.5)")
    fig.tight_layout()
    from saliency.files import atomic_write

    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


@dataclass
class Optimisation:
    """The network, its moving average, optimiser, schedule and loss scaler: what a resumable
    checkpoint holds and one training step changes."""

    model: SaliencyModel
    average: SaliencyModel | None  # the EMA (mean teacher), validated and saved instead of the live weights
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.MultiStepLR
    scaler: torch.amp.GradScaler
    use_amp: bool

    @classmethod
    def build(cls, cfg: TrainConfig, device: torch.device, model_meta: dict[str, Any] | None) -> "Optimisation":
        torch.manual_seed(cfg.seed)
        model = new_model(cfg.encoder, cfg.encoder_weights, cfg.size, tuple(cfg.decoder_channels), **(model_meta or {}))
        if cfg.init:
            from saliency.unet.model import initialise_from

            initialise_from(model, cfg.init)
        model = model.to(device)
        average = copy.deepcopy(model).eval() if cfg.ema else None
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg.milestones, gamma=cfg.gamma)
        use_amp = cfg.amp and device.type == "cuda"
        return cls(model, average, opt, sched, torch.amp.GradScaler("cuda", enabled=use_amp), use_amp)

    @property
    def kept(self) -> SaliencyModel:
        """The weights validated and saved."""
        return self.average if self.average is not None else self.model

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.net.load_state_dict(state["model"])
        if self.average is not None:
            self.average.net.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])

    def state_dict(self) -> dict[str, Any]:
        extra = {"ema": self.average.net.state_dict()} if self.average is not None else {}
        return {"model": self.model.net.state_dict(), **extra, "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict()}

    def step(self, net: torch.nn.Module, cfg: TrainConfig, batch: tuple[torch.Tensor, ...], step: int) -> torch.Tensor:
        """One optimiser step on a batch (x, target, weight); returns the loss."""
        x, y, w = batch
        if cfg.soft_targets:
            y, w = soft_target(y, w)
        with torch.autocast(x.device.type, dtype=torch.float16, enabled=self.use_amp):
            if cfg.consistency:
                with torch.no_grad():
                    teacher_map = torch.sigmoid(self.average(x).float())
                x = strong_view(x, cfg.seed, step)
            logits = net(x)
            loss = weighted_bce(logits.float(), y, w)
            if cfg.consistency:
                loss = loss + cfg.consistency * consistency_loss(logits.float(), teacher_map)
            if cfg.dice_weight:
                loss = loss + cfg.dice_weight * soft_dice_loss(logits.float(), y, w)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if self.average is not None:
            update_ema(self.average, self.model, step, cfg.ema)
        return loss


def batch_source(source: Any, cfg: TrainConfig, start: int, ddp: Distributed, device: torch.device):
    """step -> this rank's batch: a dataset of files through a DataLoader (decoding ahead on
    workers, StepBatches' order), or a sampler that draws batches itself (OnTheFly)."""
    if isinstance(source, torch.utils.data.Dataset):
        from saliency.batches import StepBatches

        sampler = StepBatches(len(source), cfg.batch_size, start, cfg.steps, cfg.seed, ddp.rank, ddp.world)
        loader = torch.utils.data.DataLoader(
            source, batch_sampler=sampler, num_workers=cfg.workers, pin_memory=device.type == "cuda", worker_init_fn=_quiet_worker
        )
        batches = iter(loader)
        return lambda step: next(batches)
    per_rank = cfg.batch_size // ddp.world
    return lambda step: source.batch(step, per_rank, stream=ddp.rank)


def write_summary(out: Path, cfg: TrainConfig, best: dict[str, Any], world: int, checksums: list[str]) -> dict[str, Any]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_iou" in r]
    summary = {
        "steps": cfg.steps,
        "first_val_iou": vals[0]["val_iou"] if vals else None,
        "best_val_iou": best["val_iou"],
        "best_step": best["step"],
        "final_val_iou": vals[-1]["val_iou"] if vals else None,
        "world_size": world,
        "rank_weight_checksums": checksums,
        "config": asdict(cfg),
    }
    write_json(out / "summary.json", summary)
    return summary


def train(
    cfg: TrainConfig,
    out: str | Path,
    device: torch.device,
    source: Any,
    val_source: Any,
    model_meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any] | None:
    """`source`: a PairDataset, or an OnTheFly sampler. `val_source`: a list of (x, y) batches."""
    if cfg.consistency and not cfg.ema:
        raise UserError("consistency learns from the mean teacher: pass --ema (e.g. 0.999) with --consistency")
    ddp = Distributed(device)
    device = ddp.device
    run = Optimisation.build(cfg, device, model_meta)
    loop = TrainingLoop(out, cfg, name="train-unet", progress=progress, main=ddp.main)
    state = loop.resume(run.load_state_dict)
    best = state["best"] if state else {"val_iou": -1.0, "step": 0}
    ddp.barrier()
    net = ddp.wrap(run.model)
    next_batch = batch_source(source, cfg, loop.start, ddp, device)
    seen = 0
    try:
        for step in loop.steps():
            batch = tuple(t.to(device, non_blocking=True) for t in next_batch(step))
            loss = run.step(net, cfg, batch, step)
            seen += len(batch[0]) * ddp.world
            if ddp.main:
                best = after_step(loop, run, val_source, device, loss, seen / loop.seconds, best)
        checksums = ddp.gather(weights_checksum(run.model))
        summary = None
        if ddp.main:
            save_model(loop.out / "last.safetensors", run.kept, step=cfg.steps, **({"ema": cfg.ema} if cfg.ema else {}))
            summary = write_summary(loop.out, cfg, best, ddp.world, checksums)
        ddp.barrier()
        return summary
    finally:
        ddp.close()


def after_step(
    loop: TrainingLoop, run: Optimisation, val_source: Any, device: torch.device, loss: torch.Tensor, rate: float, best: dict[str, Any]
) -> dict[str, Any]:
    """Rank 0's bookkeeping after a step: the log line, validation (and the best model),
    snapshots and the resumable checkpoint, each at its interval; returns the best so far."""
    cfg, out, done = loop.cfg, loop.out, loop.done
    if loop.due(cfg.log_every):
        loop.log(loss=round(loss.item(), 5), lr=run.sched.get_last_lr()[0], images_per_s=round(rate, 2))
        loop.show(loss=f"{loss.item():.4f}", img_s=f"{rate:.1f}")
    if loop.due(cfg.val_every):
        metrics = validate(run.kept, val_source, device)
        loop.log(**{k: round(v, 5) for k, v in metrics.items()})
        if metrics["val_iou"] > best["val_iou"]:
            best = {"val_iou": metrics["val_iou"], "step": done}
            save_model(out / "best.safetensors", run.kept, step=done, val_iou=round(metrics["val_iou"], 5))
        plot_curves(out / "log.jsonl", out / "curves.png")
    if cfg.snapshot_every and done % cfg.snapshot_every == 0:
        save_model(out / "snapshots" / f"step-{done:06d}.safetensors", run.kept, step=done)
    if loop.due(cfg.checkpoint_every):
        loop.save({**run.state_dict(), "best": best})
    return best


def validation_batches(val_set) -> list:
    loader = torch.utils.data.DataLoader(val_set, batch_size=min(64, len(val_set)))
    return list(loader)
