"""Training A and R jointly on a frozen generator, with exact resume.

Every step draws its randomness from a generator seeded by (seed, step), and checkpoints hold
the full optimiser state, so a run resumed from any checkpoint ends bit-identical to one that
never stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from discovery.deformators import build_deformator
from discovery.directions import save_directions
from discovery.reconstructors import build_reconstructor
from saliency.errors import UserError
from saliency.files import safe_torch_load, torch_save, truncate_jsonl, write_json
from saliency.generators.base import Generator
from saliency.resume import changed_settings


@dataclass
class DiscoveryConfig:
    generator: str
    deformator: str = "ortho"
    directions: int | None = None  # None: full latent size
    reconstructor: str = "resnet18"
    shift_range: float = 6.0
    min_shift: float = 0.5
    shift_loss_weight: float = 0.25
    batch_size: int = 32
    lr: float = 1e-4
    steps: int = 100_000
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    acc_window: int = 200
    eval_samples: int = 64  # per direction, for the final per-direction accuracy

    # Fields that may change between a run and its resume without changing the result.
    RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "eval_samples")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiscoveryConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def step_rng(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class Discoverer:
    """The deformator, the reconstructor, their optimisers, and one training step."""

    def __init__(self, G: Generator, cfg: DiscoveryConfig, device: torch.device) -> None:
        self.G, self.cfg, self.device = G, cfg, device
        torch.manual_seed(cfg.seed)  # initial weights
        self.num_directions = cfg.directions or G.latent_dim
        self.deformator = build_deformator(cfg.deformator, G.latent_dim, self.num_directions).to(device)
        self.reconstructor = build_reconstructor(cfg.reconstructor, self.num_directions).to(device)
        self.opt_a = torch.optim.Adam(self.deformator.parameters(), lr=cfg.lr)
        self.opt_r = torch.optim.Adam(self.reconstructor.parameters(), lr=cfg.lr)

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
        logits, eps_hat = self.reconstructor(x0, x1)
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
        z, classes, k, eps = self.sample(step_rng(self.cfg.seed, step), self.cfg.batch_size)
        x0, x1 = self.images(z, classes, k, eps)
        out = self.losses(x0, x1, k, eps)
        self.opt_a.zero_grad(set_to_none=True)
        self.opt_r.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt_a.step()
        self.opt_r.step()
        return {name: float(v.detach()) for name, v in out.items()}

    @torch.no_grad()
    def evaluate(self, seed_offset: int = 10**6) -> dict[str, Any]:
        """Per-direction accuracy on fresh samples, and each direction's effect size at full shift."""
        self.reconstructor.eval()
        K, n = self.num_directions, self.cfg.batch_size
        hits, counts, effect = torch.zeros(K), torch.zeros(K), torch.zeros(K)
        g = step_rng(self.cfg.seed + seed_offset, 0)
        for _ in range(max(1, -(-self.cfg.eval_samples * K // n))):
            z, classes, k, eps = self.sample(g, n)
            x0, x1 = self.images(z, classes, k, eps)
            logits, _ = self.reconstructor(x0, x1)
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


def _check_resumable(saved: dict[str, Any], cfg: DiscoveryConfig, path: Path) -> None:
    diff = changed_settings(saved, cfg)
    if diff:
        raise UserError(
            f"{path} was written with other settings ({'; '.join(diff)}); use another --out directory, or pass --restart to discard it"
        )


def _resume(disc: "Discoverer", cfg: DiscoveryConfig, ckpt_path: Path, log_path: Path, restart: bool) -> tuple[int, list[float]]:
    """(first step, recent accuracies) from the checkpoint, or a fresh start (with `restart`, the
    old checkpoint and log removed)."""
    if ckpt_path.exists() and not restart:
        state = safe_torch_load(ckpt_path, "discovery checkpoint")
        _check_resumable(state["config"], cfg, ckpt_path)
        disc.load_state_dict(state)
        truncate_jsonl(log_path, int(state["step"]))
        return int(state["step"]), list(state["acc_window"])
    if restart:
        for path in (ckpt_path, log_path):
            path.unlink(missing_ok=True)
    return 0, []


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
    stop_after: int | None = None,
    after_init=None,
) -> DiscoveryResult | None:
    """Train (or resume) and write checkpoint.pt, log.jsonl, directions.safetensors, summary.json, grids/.

    `stop_after` abandons the run after that step without saving, as a kill would; it exists
    for tests and returns None. `after_init(discoverer)` may alter the fresh weights (the
    robustness benchmark nudges them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.pt", out / "log.jsonl"
    disc = Discoverer(G, cfg, device)
    if after_init:
        after_init(disc)
    start, window = _resume(disc, cfg, ckpt_path, log_path, restart)

    t0 = time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="discover", disable=not progress)
    with open(log_path, "a") as log:
        for step in bar:
            stats = disc.train_step(step)
            window = (window + [stats["acc"]])[-cfg.acc_window :]
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                acc = sum(window) / len(window)
                bar.set_postfix(acc=f"{acc:.3f}", loss=f"{stats['loss']:.3f}")
                record = {
                    "step": done,
                    **{k: round(v, 5) for k, v in stats.items()},
                    "acc_window": round(acc, 5),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
            if done == stop_after:
                return None
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                torch_save({**disc.state_dict(), "step": done, "config": asdict(cfg), "acc_window": window}, ckpt_path)

    directions_path, summary = _write_directions(disc, cfg, out, window)
    if render_grids:
        from discovery.grids import render_direction_grids

        render_direction_grids(G, disc.deformator.directions().detach().to(device), out / "grids", cfg.shift_range, seed=cfg.seed)
    return DiscoveryResult(out, directions_path, summary)
