"""Training A and R jointly on a frozen generator, with exact resume, at any scale.

Every step draws its randomness from a generator seeded by (seed, step), and checkpoints hold
the full optimiser state, so a run resumed from any checkpoint ends bit-identical to one that
never stopped.

Scale (what a large generator on a small card needs, GANLatentDiscovery issues 3, 13, 19):
`accumulate` N computes the step's batch in N parts and `torchrun` spreads the parts over
processes, and the update is the whole batch's: the generator, which holds the memory, runs on a
part at a time; the reconstructor sees the whole batch's image pairs (gathered from every
process), so its batch-norm statistics and its gradient are the one-process ones; the image
gradient it hands back drives each part's generator pass to the deformator, whose gradients are
summed over parts and processes. It costs one more generator pass per part (the shifted images
are drawn once without and once with gradient). `reconstructor_size` brings both images down to
that side before the reconstructor (GANLatentDiscovery's `shift_predictor_size`, its author's
advice for StyleGAN2 at 1024 px); `amp` runs the generator and the reconstructor under bf16 or
fp16 autocast (fp16 with a gradient scaler).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from discovery.deformators import build_deformator
from discovery.directions import save_directions
from discovery.reconstructors import build_reconstructor
from saliency.distributed import Distributed
from saliency.errors import UserError
from saliency.files import write_json
from saliency.generators.backend import DiscoverDefaults
from saliency.generators.base import Generator
from saliency.training import TrainingLoop, step_generator


@dataclass(kw_only=True)
class DiscoveryConfig(DiscoverDefaults):
    """A discovery run's settings: the backend-settable ones (deformator, directions, shifts, lr,
    steps, ...: DiscoverDefaults, the paper's values) and the run's own."""

    generator: str
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    acc_window: int = 200
    eval_samples: int = 64  # per direction, for the final per-direction accuracy
    accumulate: int = 1  # the batch computed in this many parts (the same update, less memory)
    reconstructor_size: int | None = None  # images brought down to this side before the reconstructor
    amp: str = "off"  # off | bf16 | fp16: autocast of the generator and the reconstructor

    # Fields that may change between a run and its resume without changing the result (the parts
    # change only the order of float sums).
    RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "eval_samples", "accumulate")


AMP = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Discoverer:
    """The deformator, the reconstructor, their optimisers, and one training step."""

    def __init__(self, G: Generator, cfg: DiscoveryConfig, device: torch.device, ddp: Distributed | None = None) -> None:
        self.G, self.cfg, self.device = G, cfg, device
        self.ddp = ddp or Distributed(device)
        parts = cfg.accumulate * self.ddp.world
        if cfg.accumulate < 1 or cfg.batch_size % parts:
            raise UserError(
                f"--batch-size {cfg.batch_size} does not split into {cfg.accumulate} part(s) on each of {self.ddp.world} process(es); "
                f"use a multiple of {parts}"
            )
        if cfg.amp not in AMP:
            raise UserError(f"--amp is one of {', '.join(AMP)}, not {cfg.amp!r}")
        torch.manual_seed(cfg.seed)  # initial weights
        self.num_directions = cfg.directions or G.latent_dim
        self.deformator = build_deformator(cfg.deformator, G.latent_dim, self.num_directions).to(device)
        self.reconstructor = build_reconstructor(cfg.reconstructor, self.num_directions).to(device)
        self.opt_a = torch.optim.Adam(self.deformator.parameters(), lr=cfg.lr)
        self.opt_r = torch.optim.Adam(self.reconstructor.parameters(), lr=cfg.lr)
        fp16 = cfg.amp == "fp16"
        self.scaler = torch.amp.GradScaler(device.type, enabled=fp16) if fp16 else None

    def autocast(self):
        dtype = AMP[self.cfg.amp]
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """An image as the reconstructor sees it: brought down to `reconstructor_size` if set."""
        size = self.cfg.reconstructor_size
        if size and size < x.shape[-1]:
            return F.interpolate(x, size=(size, size), mode="area")
        return x

    def sample(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Latents, classes, direction indices and shifts (|eps| >= min_shift, sign kept)."""
        z = self.G.sample_latents(n, g)
        classes = self.G.sample_classes(n, g)
        k = torch.randint(self.num_directions, (n,), generator=g)
        eps = (torch.rand(n, generator=g) * 2 - 1) * self.cfg.shift_range
        eps = torch.where(eps < 0, -1.0, 1.0) * eps.abs().clamp_min(self.cfg.min_shift)
        return z, classes, k.to(self.device), eps.to(self.device)

    def images(self, z, classes, k, eps) -> tuple[torch.Tensor, torch.Tensor]:
        """G(z) without gradient, G(z + eps * A e_k) with gradient flowing back to A."""
        with torch.no_grad():
            x0 = self.G(z, classes)
        x1 = self.G(z + self.deformator(k, eps), classes)
        return x0, x1

    def losses(self, x0, x1, k, eps) -> dict[str, torch.Tensor]:
        logits, eps_hat = self.reconstructor(self.prepare(x0), self.prepare(x1))
        if logits.dtype in (torch.float16, torch.bfloat16):  # under --amp: the losses in float32
            logits, eps_hat = logits.float(), eps_hat.float()
        ce = F.cross_entropy(logits, k)
        l1 = (eps_hat - eps).abs().mean()
        return {
            "loss": ce + self.cfg.shift_loss_weight * l1,
            "ce": ce,
            "shift_l1": l1,
            "acc": (logits.argmax(1) == k).float().mean(),
        }

    def train_step(self, step: int) -> dict[str, float]:
        self.deformator.train()
        self.reconstructor.train()
        z, classes, k, eps = self.sample(step_generator(self.cfg.seed, step), self.cfg.batch_size)
        self.opt_a.zero_grad(set_to_none=True)
        self.opt_r.zero_grad(set_to_none=True)
        if self.cfg.accumulate == 1 and self.ddp.world == 1:  # the paper's step: one pass
            with self.autocast():
                x0, x1 = self.images(z, classes, k, eps)
                out = self.losses(x0, x1, k, eps)
            self.backward(out["loss"])
        else:
            out = self.step_in_parts(z, classes, k, eps)
        self.optimise()
        return {name: float(v.detach()) for name, v in out.items()}

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def optimise(self) -> None:
        if self.scaler:
            self.scaler.step(self.opt_a)
            self.scaler.step(self.opt_r)
            self.scaler.update()
        else:
            self.opt_a.step()
            self.opt_r.step()

    def step_in_parts(self, z, classes, k, eps) -> dict[str, torch.Tensor]:
        """The whole batch's gradients, the generator run on one part at a time (this process's
        parts only), in three passes: the image pairs without gradient; the reconstructor on the
        whole batch (gathered from every process), its loss backpropagated to the shifted images;
        each part's shifted images drawn again with gradient and that image gradient pushed
        through the generator to the deformator, whose gradients are summed over processes."""
        n = len(z)
        part = n // (self.cfg.accumulate * self.ddp.world)
        mine = [slice(j * part, (j + 1) * part) for j in range(self.ddp.rank, n // part, self.ddp.world)]

        def cls(rows: slice):
            return None if classes is None else classes[rows]

        with torch.no_grad(), self.autocast():
            pairs = [self.images(z[r], cls(r), k[r], eps[r]) for r in mine]
        x0, x1 = (torch.cat([p[i] for p in pairs]) for i in (0, 1))
        if self.ddp.world > 1:  # rows of part j come from rank j % world, as its j // world-th part
            gathered = [self.ddp.all_gather(x) for x in (x0, x1)]
            x0, x1 = (
                torch.cat(
                    [g[j % self.ddp.world][(j // self.ddp.world) * part : (j // self.ddp.world + 1) * part] for j in range(n // part)]
                )
                for g in gathered
            )
        x1 = x1.detach().requires_grad_(True)
        with self.autocast():
            out = self.losses(x0, x1, k, eps)
        self.backward(out["loss"])
        for r in mine:
            with self.autocast():
                shifted = self.G(z[r] + self.deformator(k[r], eps[r]), cls(r))
            shifted.backward(x1.grad[r].to(shifted.dtype))
        self.ddp.all_reduce_sum([p.grad for p in self.deformator.parameters() if p.grad is not None])
        return out

    @torch.no_grad()
    def evaluate(self, seed_offset: int = 10**6) -> dict[str, Any]:
        """Per-direction accuracy on fresh samples, and each direction's effect size at full shift."""
        self.reconstructor.eval()
        K, n = self.num_directions, self.cfg.batch_size
        hits, counts, effect = torch.zeros(K), torch.zeros(K), torch.zeros(K)
        g = step_generator(self.cfg.seed + seed_offset, 0)
        for _ in range(max(1, -(-self.cfg.eval_samples * K // n))):
            z, classes, k, eps = self.sample(g, n)
            x0, x1 = self.images(z, classes, k, eps)
            logits, _ = self.reconstructor(self.prepare(x0), self.prepare(x1))
            right = (logits.argmax(1) == k).to(hits.dtype).cpu()
            hits.index_add_(0, k.cpu(), right)
            counts.index_add_(0, k.cpu(), torch.ones_like(right))
        D = self.deformator.directions()
        z, classes, _, _ = self.sample(g, n)
        x0 = self.G(z, classes)
        for j in range(K):
            x1 = self.G(z + self.cfg.shift_range * D[j], classes)
            effect[j] = (x1 - x0).abs().mean().cpu()
        acc = hits / counts.clamp_min(1)
        return {
            "accuracy": float(hits.sum() / counts.sum()),
            "per_direction_accuracy": [round(float(a), 4) for a in acc],
            "effect_size": [round(float(e), 4) for e in effect],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "deformator": self.deformator.state_dict(),
            "reconstructor": self.reconstructor.state_dict(),
            "opt_deformator": self.opt_a.state_dict(),
            "opt_reconstructor": self.opt_r.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.deformator.load_state_dict(state["deformator"])
        self.reconstructor.load_state_dict(state["reconstructor"])
        self.opt_a.load_state_dict(state["opt_deformator"])
        self.opt_r.load_state_dict(state["opt_reconstructor"])


@dataclass
class DiscoveryResult:
    out_dir: Path
    directions_path: Path
    summary: dict[str, Any]


def _write_directions(disc: "Discoverer", cfg: DiscoveryConfig, out: Path, window: list[float]) -> tuple[Path, dict]:
    """directions.safetensors (the learned directions with the evaluation) and summary.json."""
    evaluation = disc.evaluate()
    directions = disc.deformator.directions().detach().cpu()
    summary = {
        "generator": cfg.generator,
        "deformator": cfg.deformator,
        "reconstructor": cfg.reconstructor,
        "num_directions": disc.num_directions,
        "latent_dim": disc.G.latent_dim,
        "steps": cfg.steps,
        "train_accuracy_window": round(sum(window) / max(1, len(window)), 4),
        **evaluation,
        "shift_range": cfg.shift_range,
        "shift_loss_weight": cfg.shift_loss_weight,
        "seed": cfg.seed,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
    }
    directions_path = out / "directions.safetensors"
    save_directions(directions_path, directions, summary)
    write_json(out / "summary.json", summary)
    return directions_path, summary


def run_discovery(
    G: Generator,
    cfg: DiscoveryConfig,
    out_dir: str | Path,
    device: torch.device,
    restart: bool = False,
    progress: bool = True,
    render_grids: bool = True,
    ddp: Distributed | None = None,
    discoverer: Discoverer | None = None,
) -> DiscoveryResult | None:
    """Train (or resume) and write checkpoint.pt, log.jsonl, directions.safetensors, summary.json, grids/.

    `discoverer`: one built by the caller (e.g. with altered initial weights); by default a fresh
    one. Under torchrun (`ddp`), every process trains the same weights on its share of each batch
    and the first writes the files; the others return None.
    """
    ddp = ddp or Distributed(device)
    disc = discoverer or Discoverer(G, cfg, device, ddp)
    loop = TrainingLoop(
        out_dir, cfg, name="discover", checkpoint="checkpoint.pt", progress=progress, main=ddp.main, restart_flag="--restart"
    )
    state = loop.resume(disc.load_state_dict, restart)
    window = list(state["acc_window"]) if state else []
    ddp.barrier()
    for step in loop.steps():
        stats = disc.train_step(step)
        window = (window + [stats["acc"]])[-cfg.acc_window :]
        if loop.due(cfg.log_every):
            acc = sum(window) / len(window)
            loop.show(acc=f"{acc:.3f}", loss=f"{stats['loss']:.3f}")
            loop.log(**{k: round(v, 5) for k, v in stats.items()}, acc_window=round(acc, 5))
        if loop.due(cfg.checkpoint_every):
            loop.save({**disc.state_dict(), "acc_window": window})
    ddp.barrier()
    if not ddp.main:
        return None
    out = Path(out_dir)
    directions_path, summary = _write_directions(disc, cfg, out, window)
    if render_grids:
        from discovery.grids import render_direction_grids

        render_direction_grids(G, disc.deformator.directions().detach().to(device), out / "grids", cfg.shift_range, seed=cfg.seed)
    return DiscoveryResult(out, directions_path, summary)
