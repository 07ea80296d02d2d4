"""Stage 2: find the latent direction that removes or flattens the background.

*Ranking.* Every candidate (unit direction, sign, shift magnitude r) is scored on a fixed batch of
latents by what synthesis would write with it: the masks are made and filtered exactly as
`saliency synth` does, and four signals in [0, 1] are measured over the samples that pass, then
multiplied, so that failing any one sinks the candidate:

- keep 1 - f / u, f the mean |G(z + h) - G(z)| inside the mask and u the mean difference there
  between G(z) and an unrelated sample of the batch: the object is kept. A shift that changes
  everything scores 0, and so does one that paints a new object over the scene: on
  `objects64-gpu12k`, discovered direction 24+ and, left alone, the optimiser from every start
  turn each sample into the same dark blob on white, with perfect-looking masks of an object
  that was never there. A relative form, (b - f) / (b + f) with b the change outside the mask,
  still gave those 0.3; the absolute form gives them about 0;
- shape 1 - (share of mask pixels in the outer 5% band) / (that band's share of the frame):
  objects sit inside the frame. "Everything but the sky" masks run along three edges and score 0;
- flatten 1 - std(background of G(z + h)) / std(background of G(z)): the background turns uniform;
- yield sqrt(share of samples that pass the filters): a clean direction with a low pass rate still
  gives good pairs, only more slowly, so yield weighs less than the other three.

The 2022 edge-consistency term is kept for the optimiser (it holds the object's outline while
the direction moves) but not in the score: at 64 px the shifted images re-texture the object
slightly, and Sobel maps then disagree even for directions whose masks look right (the edge
signal of the hand-polished 16- direction on objects64-gpu12k was 0.16).

*Optimisation* (Melas-Kyriazi et al. 2022): with G frozen, a unit direction is optimised by
gradient ascent on the same signals computed with soft masks (a sigmoid around the rule's
threshold), plus the 2022 radial prior (the border turns light, or dark, more than the centre)
which gives a gradient before any mask exists, and a penalty outside the filters' area range.
`saliency select` starts it from the best discovered candidates of each polarity and from random
directions and ranks every result with the score above.

A best score below `min_score` means no candidate behaves like background removal: selection
says so rather than handing a bad direction to synthesis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from saliency.errors import UserError
from saliency.filters import FilterConfig, apply_filters
from saliency.generators.base import Generator
from saliency.generators.registry import latest_or_shipped
from saliency.masks import DEFAULT_THRESHOLDS, NEEDS_NEGATIVE, border_band, grey, make_masks, mask_statistics
from saliency.paths import runs_dir

SIGNALS = ("keep", "shape", "flatten", "pass_rate")


@dataclass
class MaskSpec:
    rule: str = "intensity"
    threshold: float | None = None
    polarity: str = "light"
    filters: FilterConfig = field(default_factory=FilterConfig)


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
    n = weight.flatten(1).sum(1).clamp_min(1e-6)
    mean = (x * weight).flatten(2).sum(2) / n[:, None]
    var = ((x - mean[..., None, None]) ** 2 * weight).flatten(2).sum(2) / n[:, None]
    return var.clamp_min(1e-12).sqrt().mean(1)


def signal_terms(original: torch.Tensor, shifted: torch.Tensor, fg: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample keep, shape and flatten for masks `fg` in [0, 1] (hard or soft), unclamped so
    that they also serve as the optimiser's objective. Needs a batch of at least two."""
    bg = 1 - fg
    n_fg = fg.flatten(1).sum(1).clamp_min(1e-6)
    change = ((shifted - original).abs().mean(1, keepdim=True) * fg).flatten(1).sum(1) / n_fg
    unrelated = ((original.roll(1, 0) - original).abs().mean(1, keepdim=True) * fg).flatten(1).sum(1) / n_fg
    band = border_band(*fg.shape[-2:], fg.device)
    _, share = mask_statistics(fg)
    return {
        "keep": 1 - change / unrelated.clamp_min(1e-3),
        "shape": 1 - share / band.float().mean(),
        "flatten": 1 - masked_std(shifted, bg) / masked_std(original, bg).clamp_min(1e-6),
    }


def score_shift(original: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor | None, spec: MaskSpec) -> dict[str, Any]:
    """The signals and their product for one candidate over a batch (tensors in [-1, 1])."""
    masks = make_masks(spec.rule, original, positive, negative, spec.threshold, spec.polarity)
    clean, keep, _ = apply_filters(masks, positive, spec.filters)
    area, share = mask_statistics(clean)
    kept = int(keep.sum())
    signals = {k: float(v.clamp(0, 1)[keep].mean()) if kept else 0.0 for k, v in signal_terms(original, positive, clean).items()}
    signals["pass_rate"] = kept / len(keep)
    score = signals["keep"] * signals["shape"] * signals["flatten"] * signals["pass_rate"] ** 0.5
    return {
        "score": score,
        **signals,
        "area": float(area[keep].mean()) if kept else 0.0,
        "border_share": float(share[keep].mean()) if kept else 0.0,
        "masks": clean,
        "passed": keep,
    }


ROW_FIELDS = ("score", *SIGNALS, "area", "border_share")


@torch.no_grad()
def rank_directions(
    G: Generator,
    directions: torch.Tensor,
    shifts: list[float],
    spec: MaskSpec,
    n_samples: int = 32,
    seed: int = 0,
    signs: tuple[int, ...] = (1, -1),
) -> list[dict[str, Any]]:
    """Score every direction x sign x magnitude (directions taken at unit length); rows sorted
    best first (masks not included)."""
    g = torch.Generator().manual_seed(seed)
    z, classes = G.sample_latents(n_samples, g), G.sample_classes(n_samples, g)
    original = G(z, classes)
    rows = []
    for k, d in enumerate(directions.to(z.device)):
        unit = d / d.norm().clamp_min(1e-8)
        for r in shifts:
            plus = G(z + r * unit, classes)
            minus = G(z - r * unit, classes) if -1 in signs or spec.rule in NEEDS_NEGATIVE else None
            for sign in signs:
                pos, neg = (plus, minus) if sign > 0 else (minus, plus)
                s = score_shift(original, pos, neg if spec.rule in NEEDS_NEGATIVE else None, spec)
                rows.append(
                    {"direction": k, "sign": sign, "shift": float(r), "polarity": spec.polarity, **{n: round(s[n], 4) for n in ROW_FIELDS}}
                )
    rows.sort(key=lambda row: -row["score"])
    return rows


def soft_masks(original: torch.Tensor, shifted: torch.Tensor, spec: MaskSpec, temperature: float = 0.015) -> torch.Tensor:
    """Differentiable stand-in for the mask rule: a sigmoid around its threshold. Narrow, because
    a background that just crosses the threshold (0.98 against 0.95 on the planted scenes) must
    count as background: at a width of 0.1 it counted 0.4 foreground and the optimiser learnt to
    change nothing."""
    t = DEFAULT_THRESHOLDS[spec.rule] if spec.threshold is None else spec.threshold
    if spec.rule == "intensity":
        level = (shifted.mean(1, keepdim=True) + 1) / 2
        margin = t - level if spec.polarity == "light" else level - (1 - t)
    elif spec.rule == "lighting":
        margin = (grey(shifted) - grey(original)) / 2
    else:
        raise UserError(f"direction optimisation supports the intensity and lighting rules, not {spec.rule!r}; pass --optimise-steps 0")
    return torch.sigmoid(margin / temperature)


# Weights of the optimiser's objective, set by looking at the results on objects64-gpu12k from
# discovered and random starts (the score's signals alone weigh 1 each): with keep at 1 every
# start ends in the blob that replaces the scene, at 5 the direction stops changing anything
# (no sample passes the filters), at 3 the background turns black or white around the object.
KEEP_WEIGHT = 3.0
EDGE_WEIGHT = 1.0
RADIAL_WEIGHT = 5.0  # the 2022 paper's weight


def objective(original: torch.Tensor, shifted: torch.Tensor, spec: MaskSpec) -> tuple[torch.Tensor, dict[str, float]]:
    """The quantity the optimiser maximises: the score's signals on soft masks (keep weighted
    up), the radial prior, edge consistency around the object, and a penalty for areas outside
    the filters' range."""
    fg = soft_masks(original, shifted, spec)
    area = fg.flatten(1).mean(1)
    cfg = spec.filters
    per_sample = signal_terms(original, shifted, fg)
    terms = {k: v.mean() for k, v in per_sample.items()}
    # "the object is kept" means something only where a background exists: a sample whose mask
    # still covers the frame would count every change as damage and teach "change nothing".
    # The weight is detached so the direction cannot escape the term by spoiling its masks.
    has_background = (1 - (area - cfg.max_area).clamp_min(0) / 0.2).clamp(0, 1).detach()
    terms["keep"] = KEEP_WEIGHT * (has_background * per_sample["keep"]).mean()
    # The radial prior (border lighter, or darker, than the centre) drives a direction towards
    # background removal before masks exist; once a sample has a background it also rewards
    # darkening the object, so it counts only for samples that have none yet.
    level = (grey(shifted) + 1) / 2
    band = border_band(*shifted.shape[-2:], shifted.device, band=0.15)
    radial = level[..., band].mean(-1) - level[..., ~band].mean(-1)  # [B, 1]
    radial = -radial[:, 0] if spec.rule == "intensity" and spec.polarity == "dark" else radial[:, 0]
    terms["radial"] = RADIAL_WEIGHT * ((1 - has_background) * radial).mean()
    terms["edges"] = EDGE_WEIGHT * _correlation(sobel(original), sobel(shifted), F.max_pool2d(fg, 5, 1, 2) + 1e-3).mean()
    terms["area_penalty"] = -((F.relu(area - cfg.max_area) + F.relu(cfg.min_area - area)) * 10).mean()
    total = sum(terms.values())
    return total, {k: round(float(v.detach()), 4) for k, v in terms.items()}


def optimise_direction(
    G: Generator,
    start: torch.Tensor,
    shift: float,
    spec: MaskSpec,
    steps: int = 200,
    lr: float = 2e-2,
    batch: int = 16,
    seed: int = 1,
) -> torch.Tensor:
    """Gradient ascent on `objective` over a unit direction, G frozen. Each sample is shifted by
    its own magnitude in [shift / 2, shift]: a background direction must work along its length,
    and at one fixed magnitude a direction plus any component the generator ignores at exactly
    that length looks the same (on the planted scenes, whose nuisance factors are periodic, the
    optimiser settled on such aliases at |cos| 0.87 to d*). Batches come from a seed stream
    apart from the scoring batch's, so the ranking afterwards is measured on unseen latents."""
    v = (start / start.norm()).detach().clone().float().to(G.device).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))  # settles instead of jittering
    g = torch.Generator().manual_seed(10_000 + seed)
    for _ in range(steps):
        z, classes = G.sample_latents(batch, g), G.sample_classes(batch, g)
        with torch.no_grad():
            original = G(z, classes)
        magnitude = shift * (0.5 + 0.5 * torch.rand(batch, 1, generator=g)).to(z.device)
        shifted = G(z + magnitude * v / v.norm(), classes)
        total, _ = objective(original, shifted, spec)
        opt.zero_grad()
        (-total).backward()
        opt.step()
        schedule.step()
    return (v / v.norm()).detach()


# Selection files: what `saliency select` writes and synth, train-unet --on-the-fly and the GAN
# teacher read.


def default_mask_spec(generator: str | None) -> MaskSpec:
    """The mask rule and filters `generator` ("NAME", "NAME@w", "package.module:factory") declares;
    the papers' defaults for none or a name no longer known."""
    from saliency.generators.backend import MaskDefaults
    from saliency.generators.registry import spec

    try:
        d = spec(generator).mask if generator else MaskDefaults()
    except UserError:
        d = MaskDefaults()
    return MaskSpec(d.rule, d.threshold, d.polarity, FilterConfig(max_area=d.max_area))


def default_selection(generator: str) -> Path:
    """The latest `saliency select` run for this generator, else the selection that ships with it."""
    fix = f"run `saliency select --generator {generator}` first or pass --selection FILE"
    return latest_or_shipped(generator, runs_dir() / f"select-{generator}" / "selection.json", "selection_file", fix)


@dataclass
class Selection:
    """A `saliency select` result: the direction, its shift, how the shifted image becomes a mask,
    and the provenance written beside them (score, signals, directions file, ...), read in one
    place by synth, train-unet --on-the-fly and the GAN teacher. The file is its JSON."""

    vector: list[float]
    shift: float
    rule: str = "intensity"
    threshold: float | None = None
    polarity: str = "light"
    filters: dict[str, Any] = field(default_factory=dict)  # as the file says; missing keys fall back to the generator's defaults
    generator: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    MASK_FIELDS = ("rule", "threshold", "polarity", "filters")

    @classmethod
    def load(cls, path: Path) -> "Selection":
        if not path.is_file():
            raise UserError(f"selection file not found: {path}; run `saliency select` first or pass --selection FILE")
        try:
            data = json.loads(path.read_text())
            known = {k: data[k] for k in ("vector", "shift", "generator", *cls.MASK_FIELDS) if k in data}
            selection = cls(**known, provenance={k: v for k, v in data.items() if k not in known})
            selection.vector = [float(v) for v in selection.vector]
            selection.shift = float(selection.shift)
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path} is not a selection file from `saliency select`") from None
        return selection

    def save(self, path: Path) -> None:
        from saliency.files import write_json

        write_json(path, self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            **self.provenance,
            "shift": self.shift,
            "vector": self.vector,
            **{k: getattr(self, k) for k in self.MASK_FIELDS},
        }

    def mask_spec(self, generator: str | None = None) -> MaskSpec:
        """The mask rule and filters as the file says them, its generator's (else `generator`'s)
        defaults where it is silent: the one reading synth, on-the-fly training and the GAN
        teacher share."""
        filters = default_mask_spec(self.generator or generator).filters.as_dict() | self.filters
        return MaskSpec(self.rule, self.threshold, self.polarity, FilterConfig(**filters))

    def shift_vector(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The latent shift h = shift x direction."""
        return torch.tensor(self.vector, dtype=torch.float32, device=device) * self.shift
