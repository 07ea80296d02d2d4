"""An encoder E that inverts a frozen generator (image -> z), and the GAN as a teacher of real photos.

E is a ResNet-18 trunk (torchvision's layout, from scratch, the same layout as smp's `resnet18`
encoder, so that its weights can start a U-Net's encoder: a network that has seen real photos)
with a linear head to z. Each step trains it on two things:
- generated pairs: |E(G(z)) - z|^2 on fresh z, so E(x) lands where G's latents live;
- the unlabeled photos: |G(E(x)) - x|_1 through the frozen G, so E also answers for real photos.

For a photo x, G(E(x)) is the generator's nearest picture of it; shifted along the selected
direction and masked like a synthetic sample, it gives a pseudo-mask of x (the 2021 paper's
E-BigBiGAN uses BigBiGAN's own encoder the same way). `GanTeacher` does that and calls photos
that G reconstructs badly "unsure".

Run outputs (resumable like discovery: per-step seeded randomness, full optimiser state):
inverter.safetensors (weights + metadata), log.jsonl, checkpoint.pt, reconstructions.png,
summary.json (held-out latent error of generated images, reconstruction error of photos).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torchvision
from safetensors import SafetensorError
from safetensors.torch import save
from torch import nn

from saliency.errors import UserError
from saliency.files import atomic_write, read_safetensors, write_json
from saliency.generators.base import Generator
from saliency.images import center_box, center_square, load_photo_bank
from saliency.selection import Selection
from saliency.training import TrainingLoop, step_generator
from saliency.unet.model import IMAGENET_MEAN, IMAGENET_STD


class Inverter(nn.Module):
    """RGB in [0, 1] at the generator's resolution -> z."""

    def __init__(self, latent_dim: int, arch: str = "resnet18") -> None:
        super().__init__()
        if arch != "resnet18":
            raise UserError(f"inverter architecture {arch!r} is not built here; use resnet18")
        self.trunk = torchvision.models.resnet18(weights=None)
        features = self.trunk.fc.in_features
        self.trunk.fc = nn.Identity()
        self.head = nn.Linear(features, latent_dim)
        self.arch, self.latent_dim = arch, latent_dim
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk((rgb01 - self.mean) / self.std))


@dataclass
class InvertConfig:
    generator: str
    photos: str | None = None  # unlabeled photos for the reconstruction term (None: generated pairs only)
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    latent_weight: float = 1.0
    photo_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50

    RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every")


STREAM = 7  # this trainer's step_generator stream (kept from earlier versions)


def save_inverter(path: Path, E: Inverter, meta: dict[str, Any]) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in E.state_dict().items()}
    with atomic_write(path, "wb") as f:
        f.write(save(state, metadata={"saliency_encoder": json.dumps({"arch": E.arch, "latent_dim": E.latent_dim, **meta})}))


def load_inverter(path: str | Path, device: torch.device | str = "cpu") -> tuple[Inverter, dict[str, Any]]:
    path = Path(path)
    try:
        state, metadata = read_safetensors(path)
        meta = json.loads(metadata["saliency_encoder"])
    except FileNotFoundError:
        raise UserError(f"inversion encoder not found: {path}; train one with `saliency invert`") from None
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise UserError(f"{path} is not an encoder written by `saliency invert` ({e})") from None
    E = Inverter(meta["latent_dim"], meta["arch"])
    try:
        E.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{path} does not match its own metadata: {str(e)[:200]}") from None
    return E.to(device).eval(), meta


@torch.no_grad()
def evaluate(E: Inverter, G: Generator, bank: torch.Tensor | None, seed: int, n: int = 256) -> dict[str, float]:
    """Latent error on held-out generated images (relative to |z|^2) and photo reconstruction L1."""
    E.eval()
    g = step_generator(seed + 999, 0, STREAM)
    z = G.sample_latents(n, g)
    z_hat = E((G(z) + 1) / 2)
    result = {"latent_relative_error": float(((z_hat - z) ** 2).sum(1).mean() / (z**2).sum(1).mean())}
    if bank is not None:
        x = bank[torch.randperm(len(bank), generator=g)[:n]].to(z.device).float() / 255
        result["photo_l1"] = float(((G(E(x)) + 1) / 2 - x).abs().mean())
    E.train()
    return result


def train_inverter(G: Generator, cfg: InvertConfig, out: str | Path, device: torch.device, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) E for the frozen G; writes inverter.safetensors and the rest into `out`."""
    torch.manual_seed(cfg.seed)
    E = Inverter(G.latent_dim).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=cfg.lr)

    def load(state: dict[str, Any]) -> None:
        E.load_state_dict(state["encoder"])
        opt.load_state_dict(state["optimizer"])

    loop = TrainingLoop(out, cfg, name="invert", checkpoint="checkpoint.pt", progress=progress)
    loop.resume(load)
    out = loop.out
    bank = load_photo_bank(cfg.photos, G.resolution, progress) if cfg.photos else None
    for step in loop.steps():
        g = step_generator(cfg.seed, step, STREAM)
        z = G.sample_latents(cfg.batch_size, g)
        with torch.no_grad():
            generated = (G(z) + 1) / 2
        terms = {"latent": ((E(generated) - z) ** 2).mean()}
        if bank is not None and cfg.photo_weight:
            x = bank[torch.randint(len(bank), (cfg.batch_size,), generator=g)].to(device).float() / 255
            terms["photo_l1"] = ((G(E(x)) + 1) / 2 - x).abs().mean()
        loss = cfg.latent_weight * terms["latent"] + cfg.photo_weight * terms.get("photo_l1", 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if loop.due(cfg.log_every):
            record = {k: round(float(v.detach()), 5) for k, v in terms.items()}
            loop.log(**record)
            loop.show(**{k: f"{v:.3f}" for k, v in record.items()})
        if loop.due(cfg.checkpoint_every):
            loop.save({"encoder": E.state_dict(), "optimizer": opt.state_dict()})
    metrics = evaluate(E, G, bank, cfg.seed)
    meta = {"generator": cfg.generator, "resolution": G.resolution, "steps": cfg.steps, **{k: round(v, 5) for k, v in metrics.items()}}
    save_inverter(out / "inverter.safetensors", E, meta)
    if bank is not None:
        reconstruction_sheet(E, G, bank, out / "reconstructions.png")
    summary = {**meta, "config": asdict(cfg)}
    write_json(out / "summary.json", summary)
    return summary


@torch.no_grad()
def reconstruction_sheet(E: Inverter, G: Generator, bank: torch.Tensor, path: Path, n: int = 16) -> Path:
    from saliency.viz import image_grid, save_png

    E.eval()
    x = bank[torch.linspace(0, len(bank) - 1, n).long()].to(G.device).float() / 255
    rec = G(E(x))
    rows, labels = [], []
    for s in range(0, n, 8):
        rows += [x[s : s + 8] * 2 - 1, rec[s : s + 8]]
        labels += ["photo", "G(E(photo))"]
    return save_png(image_grid(rows, labels, label_width=90), path)


class GanTeacher:
    """A photo's pseudo-mask from the generator: G(E(x)) shifted along the selected direction and
    masked by the selection's rule, upsampled to the photo. Photos whose reconstruction error is
    above `max_error` get an all-unsure map (0.5)."""

    name = "gan"

    def __init__(self, G: Generator, E: Inverter, selection: Selection, max_error: float = 0.15) -> None:
        self.G, self.E, self.max_error = G, E, max_error
        self.h = selection.shift_vector(G.device)
        mask = selection.mask_spec()
        self.rule, self.threshold, self.polarity, self.min_component = mask.rule, mask.threshold, mask.polarity, mask.filters.min_component
        self.last: dict[str, Any] = {}

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        from saliency.filters import keep_large_components
        from saliency.masks import NEEDS_NEGATIVE, make_masks

        h, w = image.shape[:2]
        x = torch.from_numpy(center_square(image, self.G.resolution)).permute(2, 0, 1)[None].float().to(self.G.device) / 255
        z = self.E(x)
        original, shifted = self.G(z), self.G(z + self.h)
        negative = self.G(z - self.h) if self.rule in NEEDS_NEGATIVE else None
        error = float(((original + 1) / 2 - x).abs().mean())
        self.last = {"reconstruction_l1": error, "reconstruction": original, "shifted": shifted}
        if error > self.max_error:
            return np.full((h, w), 0.5, np.float32)
        mask = keep_large_components(make_masks(self.rule, original, shifted, negative, self.threshold, self.polarity), self.min_component)
        s = min(h, w)  # the mask covers the centred square the encoder saw; outside it: unsure
        soft = np.full((h, w), 0.5, np.float32)
        soft[center_box(h, w)] = cv2.resize(mask[0, 0].cpu().numpy(), (s, s), interpolation=cv2.INTER_LINEAR)
        return soft
