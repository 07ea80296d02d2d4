"""Mask rules: how a shifted image becomes a foreground mask.

All rules take images in [-1, 1], shape [B, 3, H, W], and return float masks [B, 1, H, W] in {0, 1}.
- `intensity` (2020 code): mean RGB mapped to [0, 1]; foreground below `threshold` (the background
  of G(z + h) turns near-white). `polarity="dark"` is the mirror for directions that blacken it.
- `diff` (2020 code): per-image normalised difference of channel means of G(z + h) and G(z - h);
  the background changes most, so foreground is where the normalised change is below `threshold`.
- `lighting` (2021 code): foreground where grey(G(z + h)) > grey(G(z)), grey = .2989 R + .5870 G + .1140 B.
"""

from __future__ import annotations

from typing import Callable

import torch

GREY = (0.2989, 0.5870, 0.1140)
BAND = 0.05  # the outer band whose share of mask pixels says "glued to the frame"


def grey(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GREY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def intensity_mask(shifted: torch.Tensor, threshold: float = 0.95, polarity: str = "light") -> torch.Tensor:
    level = (shifted.mean(1, keepdim=True) + 1) / 2
    if polarity == "light":
        return (level < threshold).float()
    if polarity == "dark":
        return (level > 1 - threshold).float()
    raise ValueError(f"polarity must be 'light' or 'dark', got {polarity!r}")


def diff_mask(positive: torch.Tensor, negative: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    d = (positive.mean(1, keepdim=True) - negative.mean(1, keepdim=True)).abs()
    lo = d.amin(dim=(2, 3), keepdim=True)
    hi = d.amax(dim=(2, 3), keepdim=True)
    return ((d - lo) / (hi - lo).clamp_min(1e-6) < threshold).float()


def lighting_mask(original: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    return (grey(shifted) > grey(original)).float()


# Each rule reads what it needs from (original G(z), G(z + h), G(z - h)); `negative` is only
# computed for rules that need it.
RULES: dict[str, Callable[..., torch.Tensor]] = {
    "intensity": lambda original, positive, negative, threshold, polarity: intensity_mask(positive, threshold, polarity),
    "diff": lambda original, positive, negative, threshold, polarity: diff_mask(positive, negative, threshold),
    "lighting": lambda original, positive, negative, threshold, polarity: lighting_mask(original, positive),
}
NEEDS_NEGATIVE = {"diff"}
DEFAULT_THRESHOLDS = {"intensity": 0.95, "diff": 0.5, "lighting": 0.0}


def make_masks(
    rule: str,
    original: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor | None = None,
    threshold: float | None = None,
    polarity: str = "light",
) -> torch.Tensor:
    if rule not in RULES:
        raise ValueError(f"unknown mask rule {rule!r}; choose one of {sorted(RULES)}")
    if rule in NEEDS_NEGATIVE and negative is None:
        raise ValueError(f"mask rule {rule!r} needs G(z - h)")
    t = DEFAULT_THRESHOLDS[rule] if threshold is None else threshold
    return RULES[rule](original, positive, negative, t, polarity)


def border_band(height: int, width: int, device: torch.device | str = "cpu", band: float = BAND) -> torch.Tensor:
    """[H, W] bool: the outer `band` of the frame on every side."""

    def outer(n: int) -> torch.Tensor:
        c = (torch.arange(n, device=device) + 0.5) / n
        return (c < band) | (c > 1 - band)

    return outer(height)[:, None] | outer(width)[None, :]


def mask_statistics(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mask area and share of mask pixels in the outer 5% band, for [B, 1, H, W] masks."""
    band = border_band(*masks.shape[-2:], masks.device).to(masks.dtype)
    area = masks.flatten(1).mean(1)
    share = (masks[:, 0] * band).flatten(1).sum(1) / masks.flatten(1).sum(1).clamp_min(1e-6)
    return area, share
