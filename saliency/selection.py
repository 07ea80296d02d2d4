"""Stage 2: rank latent directions by how well they remove or flatten the background.

The paper chose the direction by eye. Here every candidate (direction k, sign, magnitude r) is
scored on a fixed batch of latents by four signals in [0, 1], multiplied so that failing any one
sinks the candidate:

- border dominance  B / (B + C): mean |G(z + h) - G(z)| in the border band (outer 15%) against
  the centre box (middle 30%); the background lives at the border, the object in the centre;
- flattening  1 - std(background of G(z + h)) / std(background of G(z)), the background being
  where the mask is not (images with under 5% background count 0): the background turns uniform;
- edge keeping: correlation of Sobel edge maps of G(z) and G(z + h) inside the mask: the
  object's outline survives (Melas-Kyriazi et al. 2022 use the same cue);
- pass rate: share of samples whose mask passes the synthesis filters (area, histogram).

A best score below `min_score` means no candidate behaves like background removal: selection
says so rather than handing a bad direction to synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from saliency.filters import FilterConfig, apply_filters
from saliency.generators.base import Generator
from saliency.masks import NEEDS_NEGATIVE, grey, make_masks

SIGNALS = ("border", "flatten", "edges", "pass_rate")


@dataclass
class MaskSpec:
    rule: str = "intensity"
    threshold: float | None = None
    polarity: str = "light"
    filters: FilterConfig = field(default_factory=FilterConfig)


def region_masks(size: int, device: torch.device, border: float = 0.15, centre: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(size, device=device) + 0.5) / size
    outer = (coords < border) | (coords > 1 - border)
    inner = (coords > 0.5 - centre / 2) & (coords < 0.5 + centre / 2)
    return outer[:, None] | outer[None, :], inner[:, None] & inner[None, :]


def sobel(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], device=x.device, dtype=x.dtype)
    kernels = torch.stack([k, k.T])[:, None]
    g = F.conv2d(F.pad(grey(x), (1, 1, 1, 1), mode="replicate"), kernels)
    return g.pow(2).sum(1, keepdim=True).add(1e-8).sqrt()


def _correlation(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted Pearson correlation per sample of [B, 1, H, W] maps."""
    w = weight / weight.flatten(1).sum(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    ma, mb = (a * w).flatten(1).sum(1), (b * w).flatten(1).sum(1)
    da, db = a - ma.view(-1, 1, 1, 1), b - mb.view(-1, 1, 1, 1)
    cov = (w * da * db).flatten(1).sum(1)
    va, vb = (w * da * da).flatten(1).sum(1), (w * db * db).flatten(1).sum(1)
    return cov / (va * vb).sqrt().clamp_min(1e-8)


def masked_std(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-image colour standard deviation over the weighted pixels, averaged over channels."""
    n = weight.flatten(1).sum(1).clamp_min(1)
    mean = (x * weight).flatten(2).sum(2) / n[:, None]
    var = ((x - mean[..., None, None]) ** 2 * weight).flatten(2).sum(2) / n[:, None]
    return var.sqrt().mean(1)


def score_shift(original: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor | None, spec: MaskSpec) -> dict[str, Any]:
    """The four signals and their product for one candidate over a batch (tensors in [-1, 1])."""
    outer, inner = region_masks(original.shape[-1], original.device)
    change = (positive - original).abs().mean(1)  # [B, H, W]
    b, c = change[:, outer].mean(1), change[:, inner].mean(1)
    border = (b / (b + c + 1e-6)).mean()
    masks = make_masks(spec.rule, original, positive, negative, spec.threshold, spec.polarity)
    clean, keep, verdicts = apply_filters(masks, positive, spec.filters)
    background = 1 - clean
    has_background = background.flatten(1).mean(1) >= 0.05
    flat = (1 - masked_std(positive, background) / masked_std(original, background).clamp_min(1e-6)).clamp(0, 1)
    flatten = torch.where(has_background, flat, torch.zeros_like(flat)).mean()
    weight = F.max_pool2d(clean, 5, stride=1, padding=2)  # the object and its outline
    edges = _correlation(sobel(original), sobel(positive), weight + 1e-3).clamp(0, 1).mean()
    pass_rate = keep.float().mean()
    signals = {"border": border, "flatten": flatten, "edges": edges, "pass_rate": pass_rate}
    score = torch.stack(list(signals.values())).prod()
    return {"score": float(score), **{k: float(v) for k, v in signals.items()}, "masks": clean, "keep": keep}


@torch.no_grad()
def rank_directions(
    G: Generator,
    directions: torch.Tensor,
    shifts: list[float],
    spec: MaskSpec,
    n_samples: int = 32,
    seed: int = 0,
    normalize: bool = True,
) -> list[dict[str, Any]]:
    """Score every direction x sign x magnitude; rows sorted best first (masks not included)."""
    g = torch.Generator().manual_seed(seed)
    z, classes = G.sample_latents(n_samples, g), G.sample_classes(n_samples, g)
    original = G(z, classes)
    rows = []
    for k, d in enumerate(directions.to(z.device)):
        unit = d / d.norm().clamp_min(1e-8) if normalize else d
        for r in shifts:
            plus, minus = G(z + r * unit, classes), G(z - r * unit, classes)
            for sign, pos, neg in ((1, plus, minus), (-1, minus, plus)):
                s = score_shift(original, pos, neg if spec.rule in NEEDS_NEGATIVE else None, spec)
                rows.append({"direction": k, "sign": sign, "shift": float(r), **{n: round(s[n], 4) for n in ("score", *SIGNALS)}})
    rows.sort(key=lambda row: -row["score"])
    return rows


def refine_direction(
    G: Generator,
    direction: torch.Tensor,
    shift: float,
    steps: int,
    lr: float = 5e-3,
    batch: int = 16,
    seed: int = 0,
) -> torch.Tensor:
    """Gradient ascent on a differentiable form of the score, G frozen, direction kept at unit
    length: border dominance, flattening of the border band (the mask is not differentiable,
    so the border stands in for the background) and edge keeping in the centre."""
    v = (direction / direction.norm()).detach().clone().to(G.device).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        z, classes = G.sample_latents(batch, g), G.sample_classes(batch, g)
        with torch.no_grad():
            original = G(z, classes)
        unit = v / v.norm()
        positive = G(z + shift * unit, classes)
        outer, inner = region_masks(original.shape[-1], original.device)
        change = (positive - original).abs().mean(1)
        b, c = change[:, outer].mean(1), change[:, inner].mean(1)
        border = (b / (b + c + 1e-6)).mean()
        flatten = (1 - positive[:, :, outer].std(2).mean(1) / original[:, :, outer].std(2).mean(1).clamp_min(1e-6)).mean()
        centre = torch.zeros_like(change[:1])[:, None]
        centre[..., inner] = 1
        edges = _correlation(sobel(original), sobel(positive), centre.expand(len(z), -1, -1, -1)).mean()
        loss = -(border + flatten + edges)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (v / v.norm()).detach()
