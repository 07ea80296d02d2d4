"""The GAN training loop: hinge loss, DiffAugment, EMA generator, exact resume.

Every step's latents, real-image indices and augmentations come from generators seeded by
(seed, step), and checkpoints hold both networks, the EMA copy and both optimisers, so a run
resumed after kill -9 ends bit-identical to one that never stopped (on the same device).
"""

from __future__ import annotations

import copy
import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save

from saliency.batches import StepBatches
from saliency.ema import update_ema
from saliency.errors import UserError
from saliency.files import atomic_write, write_json
from saliency.gan.models import Discriminator, ObjectGenerator, diff_augment
from saliency.images import load_photo_bank
from saliency.training import TrainingLoop, step_generator
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


LATENTS, REAL_VIEW, FAKE_VIEW, G_VIEW = (k << 28 for k in range(4))  # one step's streams (step_generator)


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

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).state_dict() for name in self.PARTS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.PARTS:
            getattr(self, name).load_state_dict(state[name])

    def step(self, cfg: GANConfig, real: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator and one generator step (hinge loss; DiffAugment with cfg.augment);
        returns (d_loss, g_loss)."""
        device = real.device
        z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=step_generator(cfg.seed, step, LATENTS)).to(device)
        aug = (lambda x, s: diff_augment(x, step_generator(cfg.seed, step, s))) if cfg.augment else (lambda x, s: x)
        use_amp = device.type == "cuda"
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            fake = self.G(z)
            d_loss = F.relu(1 - self.D(aug(real, REAL_VIEW))).mean() + F.relu(1 + self.D(aug(fake.detach(), FAKE_VIEW))).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            g_loss = -self.D(aug(fake, G_VIEW)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        update_ema(self.G_ema, self.G, step, cfg.ema)
        return d_loss, g_loss


def train_gan(
    cfg: GANConfig, out: str | Path, device: torch.device, progress: bool = True, time_limit: float | None = None
) -> dict[str, Any]:
    """Train to cfg.steps, or until `time_limit` seconds have passed in this run: then checkpoint
    and export the EMA generator as it stands, so a lease of fixed length ends with a usable
    model and the same command continues it."""
    data = load_images(cfg.images, cfg.resolution, progress)
    run = GANRun.build(cfg, device)
    loop = TrainingLoop(out, cfg, name="train-gan", progress=progress, time_limit=time_limit)
    state = loop.resume(run.load_state_dict)
    wall_before = float(state.get("wall_seconds", 0.0)) if state else 0.0
    batches = StepBatches(len(data), cfg.batch_size, loop.start, cfg.steps, cfg.seed)
    fixed_z = torch.randn(32, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    done = loop.start
    for step in loop.steps():
        idx = torch.tensor([i for i, _ in batches.batch(step)])
        d_loss, g_loss = run.step(cfg, data[idx].to(device).float() / 127.5 - 1, step)
        done = loop.done
        if loop.due(cfg.log_every):
            loop.log(d_loss=round(d_loss.item(), 4), g_loss=round(g_loss.item(), 4))
            loop.show(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
        if loop.due(cfg.sample_every):
            with torch.no_grad():
                samples = standing_stats(run.G_ema, cfg.latent_dim, device)(fixed_z).float().cpu()
            save_png(image_grid(list(samples.view(4, 8, *samples.shape[1:]))), loop.out / "samples" / f"step_{done:07d}.png")
        if loop.due(cfg.checkpoint_every):
            loop.save({**run.state_dict(), "wall_seconds": wall_before + loop.seconds})
    return export_generator(loop.out, cfg, run, device, done, len(data), loop.seconds, wall_before)


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
