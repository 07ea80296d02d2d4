"""The GAN training loop: hinge loss, DiffAugment, EMA generator, exact resume.

Every step's latents, real-image indices and augmentations come from generators seeded by
(seed, step), and checkpoints hold both networks, the EMA copy and both optimisers, so a run
resumed after kill -9 ends bit-identical to one that never stopped (on the same device).
"""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save
from tqdm import tqdm

from saliency.batches import StepBatches
from saliency.ema import update_ema
from saliency.errors import UserError
from saliency.files import atomic_write, safe_torch_load, torch_save, truncate_jsonl, write_json
from saliency.gan.models import Discriminator, ObjectGenerator, diff_augment
from saliency.images import load_photo_bank
from saliency.resume import changed_settings
from saliency.viz import image_grid, save_png


@dataclass
class GANConfig:
    images: str
    resolution: int = 64
    latent_dim: int = 128
    width: int = 64
    batch_size: int = 64
    steps: int = 20000
    lr: float = 2e-4
    beta1: float = 0.5
    ema: float = 0.999
    augment: bool = False
    d_norm: str = "batch"
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 50

    RESUMABLE_CHANGES = ("steps", "sample_every", "checkpoint_every", "log_every")
    # runs saved before --d-norm existed trained a spectral-norm discriminator (the default then)
    FORMER_DEFAULTS = {"d_norm": "spectral"}


def load_images(folder: str | Path, resolution: int, progress: bool = True) -> torch.Tensor:
    """Every image of `folder`, centre-cropped square and resized, as uint8 [N, 3, R, R]."""
    images = load_photo_bank(folder, resolution, progress)
    if len(images) < 2:
        raise UserError(f"{folder} holds {len(images)} image(s); a GAN needs a folder of many photos")
    return images


def _rng(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(((seed * 1_000_003 + step) * 7 + stream) % (2**63))


def standing_stats(
    G: torch.nn.Module, latent_dim: int, device: torch.device, batches: int = 16, batch_size: int = 64, seed: int = 0
) -> torch.nn.Module:
    """A copy of G with batch-norm statistics measured on its own outputs (BigGAN's "standing
    statistics"). The EMA generator's averaged weights do not match the running statistics of the
    trained generator it copies them from; with those, samples come out washed out."""
    G = copy.deepcopy(G)
    for m in G.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
    g = torch.Generator().manual_seed(seed)
    G.train()
    with torch.no_grad():
        for _ in range(batches):
            G(torch.randn(batch_size, latent_dim, generator=g).to(device))
    return G.eval()


def save_generator(path: Path, G: torch.nn.Module, meta: dict[str, Any]) -> None:
    """EMA generator weights in fp16 (small enough to ship) with what is needed to rebuild it."""
    state = {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in G.state_dict().items()}
    with atomic_write(path, "wb") as f:
        f.write(save(state, metadata={"saliency_gan": json.dumps(meta)}))


@dataclass
class GANRun:
    """Generator, discriminator, the generator's moving average and both optimisers: what a
    resumable checkpoint holds and one step changes."""

    G: ObjectGenerator
    D: Discriminator
    G_ema: ObjectGenerator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    PARTS = ("G", "D", "G_ema", "opt_g", "opt_d")

    @classmethod
    def build(cls, cfg: GANConfig, device: torch.device) -> "GANRun":
        torch.manual_seed(cfg.seed)
        G = ObjectGenerator(cfg.latent_dim, cfg.resolution, cfg.width).to(device)
        D = Discriminator(cfg.resolution, cfg.width, cfg.d_norm).to(device)
        G_ema = copy.deepcopy(G).eval()
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        return cls(G, D, G_ema, opt_g, opt_d)

    def restore(self, state_path: Path, cfg: GANConfig) -> tuple[int, float]:
        """(first step, wall seconds of earlier runs), from the last checkpoint if there is one."""
        if not state_path.exists():
            return 0, 0.0
        state = safe_torch_load(state_path, "GAN training state")
        diff = changed_settings(state["config"], cfg)
        if diff:
            raise UserError(f"{state_path} was written with other settings ({'; '.join(diff)}); use another --out or delete it")
        for name in self.PARTS:
            getattr(self, name).load_state_dict(state[name])
        return int(state["step"]), float(state.get("wall_seconds", 0.0))

    def save_state(self, state_path: Path, cfg: GANConfig, done: int, wall_seconds: float) -> None:
        parts = {name: getattr(self, name).state_dict() for name in self.PARTS}
        torch_save({**parts, "step": done, "wall_seconds": wall_seconds, "config": asdict(cfg)}, state_path)

    def step(self, cfg: GANConfig, real: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator and one generator step (hinge loss; DiffAugment with cfg.augment);
        returns (d_loss, g_loss)."""
        device = real.device
        z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=_rng(cfg.seed, step, 0)).to(device)
        aug = (lambda x, s: diff_augment(x, _rng(cfg.seed, step, s))) if cfg.augment else (lambda x, s: x)
        use_amp = device.type == "cuda"
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            fake = self.G(z)
            d_loss = F.relu(1 - self.D(aug(real, 1))).mean() + F.relu(1 + self.D(aug(fake.detach(), 2))).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            g_loss = -self.D(aug(fake, 3)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        update_ema(self.G_ema, self.G, step, cfg.ema)
        return d_loss, g_loss


def train_gan(
    cfg: GANConfig,
    out: str | Path,
    device: torch.device,
    progress: bool = True,
    stop_after: int | None = None,
    time_limit: float | None = None,
) -> dict[str, Any] | None:
    """Train to cfg.steps, or until `time_limit` seconds have passed in this run: then checkpoint
    and export the EMA generator as it stands, so a lease of fixed length ends with a usable
    model and the same command continues it. `stop_after` simulates a crash (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_images(cfg.images, cfg.resolution, progress)
    run = GANRun.build(cfg, device)
    state_path, log_path = out / "train_state.pt", out / "log.jsonl"
    start, wall_before = run.restore(state_path, cfg)
    if start:
        truncate_jsonl(log_path, start)
    batches = StepBatches(len(data), cfg.batch_size, start, cfg.steps, cfg.seed)
    fixed_z = torch.randn(32, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, desc="train-gan", disable=not progress)
    done = start
    with open(log_path, "a") as log:
        for step in range(start, cfg.steps):
            idx = torch.tensor([i for i, _ in batches.batch(step)])
            d_loss, g_loss = run.step(cfg, data[idx].to(device).float() / 127.5 - 1, step)
            done = step + 1
            bar.update(1)
            if done == stop_after:
                return None
            out_of_time = time_limit is not None and time.perf_counter() - t0 > time_limit
            if done % cfg.log_every == 0 or done == cfg.steps:
                losses = {"d_loss": round(d_loss.item(), 4), "g_loss": round(g_loss.item(), 4)}
                log.write(json.dumps({"step": done, **losses, "seconds": round(time.perf_counter() - t0, 1)}) + "\n")
                log.flush()
                bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
            if done % cfg.sample_every == 0 or done == cfg.steps or out_of_time:
                with torch.no_grad():
                    samples = standing_stats(run.G_ema, cfg.latent_dim, device)(fixed_z).float().cpu()
                save_png(image_grid(list(samples.view(4, 8, *samples.shape[1:]))), out / "samples" / f"step_{done:07d}.png")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps or out_of_time:
                run.save_state(state_path, cfg, done, wall_before + time.perf_counter() - t0)
            if out_of_time:
                break
    bar.close()
    return export_generator(out, cfg, run, device, done, len(data), time.perf_counter() - t0, wall_before)


def export_generator(
    out: Path, cfg: GANConfig, run: GANRun, device: torch.device, done: int, images: int, seconds: float, wall_before: float
) -> dict[str, Any]:
    """generator_ema.safetensors (standing batch-norm statistics) and summary.json; the summary."""
    meta = {
        "latent_dim": cfg.latent_dim,
        "resolution": cfg.resolution,
        "width": cfg.width,
        "steps": done,
        "images": str(cfg.images),
        "images_count": images,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)",
        "seconds_this_run": round(seconds, 1),
        "wall_seconds_all_runs": round(wall_before + seconds, 1),  # from the checkpoints, so it counts every resume
    }
    save_generator(out / "generator_ema.safetensors", standing_stats(run.G_ema, cfg.latent_dim, device), meta)
    write_json(out / "summary.json", {**meta, "config": asdict(cfg)})
    return meta
