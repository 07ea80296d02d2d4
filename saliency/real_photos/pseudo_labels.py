"""Pseudo-masks for a folder of unlabeled photos, from one or more teachers.

A teacher is anything `saliency bench` can run (a `train-unet` checkpoint, `wctr`, `mbplus`, `mr`,
...) or the generator itself through an inversion encoder (`gan`, see saliency.real_photos.inversion).
Their soft maps are fused per photo (`fusion`: averaged, or weighted by each teacher's agreement
with the others, saliency.classical.fusion), optionally refined on the photo's edges
(saliency.real_photos.refine), or grown over the rest of the object they light (`grow`: GrabCut
seeded by the map, saliency.grabcut); a pixel is object where the fused map is above `0.5 + margin`, background below
`0.5 - margin`, and "unsure" (128, no loss in training) between. With `adaptive`, the band is
centred on the map's own adaptive threshold instead (twice its mean, Achanta et al. 2009, at most
0.5) and scaled with it: a teacher whose maps are cautious (the object only faintly above the
background) still hands its student whole objects rather than their surest cores. Photos whose share of sure
pixels is lowest, or whose object covers almost nothing or almost everything, are dropped; the
`keep` share with the surest maps (with `rank="agreement"`: sure share x teacher agreement) is
written as a pairs list that `train-unet --data` reads. With `confidence`, the hard band becomes a
ramp: each pixel's loss weight rises from 0 at the threshold to 1 at the band's edge, written
into the mask's levels (saliency.real_photos.refine.encode_confidence).

Output (resumable photo by photo; a rerun skips what is written):

    masks/STEM.png      0 / 128 / 255 pseudo-mask at the photo's size (with confidence: 0..63 / 192..255)
    stats.jsonl         per photo: sure share (mean loss weight), object area, teacher agreement
    pairs.json          (photo, mask) of the kept photos
    pseudo_masks.png    photo | teacher map (fused, then refined) | pseudo-mask for 16 photos
    summary.json        settings and counts
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from py_sod_metrics.utils import get_adaptive_threshold  # the field's 2 x mean, as bench's adaptive F uses it
from tqdm import tqdm

from saliency.classical.fusion import agreement, fuse
from saliency.errors import UserError
from saliency.files import atomic_write, write_json, write_png
from saliency.grabcut import grow
from saliency.images import list_photos, read_rgb
from saliency.pairs import OBJECT_ABOVE
from saliency.real_photos.refine import encode_confidence, refine
from saliency.resume import changed_settings
from saliency.unet.data import mask_target

UNSURE = 128


@dataclass
class PseudoMaskSettings:
    """How teachers' maps become pseudo-masks and which photos are kept: the settings that
    `pseudo-label`'s flags, PseudoLabelConfig and self-training's rounds share (defaults written
    here once)."""

    margin: float = 0.2  # sure object above 0.5 + margin, sure background below 0.5 - margin
    adaptive: bool = False  # band centred on min(2 x map mean, 0.5) and scaled by centre / 0.5
    keep: float = 0.7  # share of photos kept, surest first
    limit: int | None = None  # first N photos only
    fusion: str = "mean"  # mean | agree (saliency.classical.fusion)
    refine: bool = False  # guided filter on the photo before thresholding
    confidence: bool = False  # per-pixel loss weight ramp instead of a hard sure/unsure band
    rank: str = "sure"  # sure | agreement (sure share x teacher agreement)
    fill_holes: bool = False  # background enclosed by object becomes object: solid subjects
    grow: bool = False  # GrabCut seeded by the fused map, averaged with it: whole objects (saliency.grabcut)


# the settings a caller passes through to a pseudo-mask run (the CLI's flags, self-training's rounds)
PSEUDO_MASK_FIELDS = tuple(f.name for f in fields(PseudoMaskSettings))


@dataclass
class PseudoLabelConfig(PseudoMaskSettings):
    photos: str = ""
    teachers: list[str] = field(default_factory=list)
    min_area: float = 0.02
    max_area: float = 0.8

    RESUMABLE_CHANGES = ("keep", "min_area", "max_area", "rank")


ADAPTIVE_FLOOR = 0.1  # a near-empty map must not turn its faintest pixels into object


def pseudo_mask(soft: np.ndarray, margin: float, adaptive: bool = False, confidence: bool = False) -> np.ndarray:
    """Soft map in [0, 1] -> uint8 mask of 0 (background), 128 (unsure), 255 (object); with
    `confidence`, object / background at the centre and a confidence |soft - centre| / half band."""
    centre = max(float(get_adaptive_threshold(soft, max_value=0.5)), ADAPTIVE_FLOOR) if adaptive else 0.5
    half_band = margin * centre / 0.5
    if confidence:
        return encode_confidence(soft >= centre, np.abs(soft - centre) / max(half_band, 1e-6))
    out = np.full(soft.shape, UNSURE, np.uint8)
    out[soft >= centre + half_band] = 255
    out[soft <= centre - half_band] = 0
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A pseudo-mask with every region enclosed by its object (background or unsure, not reaching
    the frame through non-object pixels) made sure object: contrast teachers light a subject's
    edges and most contrasted parts and leave its uniform inside (a face, a cat's fur) dark, while
    a salient object is solid. A gap open to the background (a C's opening) stays as it is."""
    from scipy.ndimage import binary_fill_holes

    obj = mask > OBJECT_ABOVE
    out = mask.copy()
    out[binary_fill_holes(obj) & ~obj] = 255
    return out


def select_photos(stats: list[dict], cfg: PseudoLabelConfig) -> list[dict]:
    """The `keep` share of plausible photos with the most sure pixels (times the teachers'
    agreement with `rank="agreement"`)."""
    plausible = [s for s in stats if cfg.min_area <= s["area"] <= cfg.max_area]
    score = (lambda s: s["sure"] * s.get("agreement", 1.0)) if cfg.rank == "agreement" else (lambda s: s["sure"])
    plausible.sort(key=lambda s: (-score(s), s["stem"]))
    return sorted(plausible[: round(cfg.keep * len(stats))], key=lambda s: s["stem"])


def _read_rows(path: Path) -> dict[str, dict]:
    stats = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:  # absent, or a part file merged and removed by the part that finished last
        return stats
    for line in lines:
        try:
            row = json.loads(line)
            stats[row["stem"]] = row
        except (ValueError, KeyError):
            break  # a torn last line from a kill
    return stats


def _read_stats(out: Path) -> dict[str, dict]:
    """Every photo's row so far: the parts' files first, then stats.jsonl (which the last part
    to finish writes, merged, before it removes the parts' files)."""
    stats: dict[str, dict] = {}
    for part in sorted(out.glob("stats.part-*.jsonl")):
        stats.update(_read_rows(part))
    stats.update(_read_rows(out / "stats.jsonl"))
    return stats


def _check_settings(out: Path, cfg: PseudoLabelConfig) -> None:
    path = out / "summary.json"
    if path.exists():
        diff = changed_settings(json.loads(path.read_text())["config"], cfg)
        if diff:
            raise UserError(f"{out} holds pseudo-masks made with other settings ({'; '.join(diff)}); use another --out or remove it")


def label_photos(
    cfg: PseudoLabelConfig,
    teachers: list[Callable[[np.ndarray], np.ndarray]],
    out: str | Path,
    progress: bool = True,
    shard: int = 0,
    num_shards: int = 1,
) -> dict:
    """Write pseudo-masks for every photo (skipping those already written) and the kept pairs.
    With `num_shards` > 1 this process takes photos shard, shard + num_shards, ... and logs its
    rows to its own stats.part file; the part that finds every photo done writes the kept pairs,
    the picture and the merged stats, exactly as one process would."""
    out = Path(out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    _check_settings(out, cfg)
    photos = list_photos(cfg.photos)[: cfg.limit]
    if len({p.stem for p in photos}) != len(photos):
        raise UserError(f"{cfg.photos} holds photos with the same file stem in different folders; pseudo-masks are named by stem")
    if not (out / "summary.json").exists() or json.loads((out / "summary.json").read_text()).get("complete"):
        write_json(out / "summary.json", {"config": asdict(cfg), "complete": False})
    log_path = out / ("stats.jsonl" if num_shards == 1 else f"stats.part-{shard}-of-{num_shards}.jsonl")
    mine = photos[shard::num_shards]
    stats = _read_stats(out)
    with open(log_path, "w") as f:  # rewrite without a torn tail
        f.writelines(json.dumps(stats[p.stem]) + "\n" for p in (photos if num_shards == 1 else mine) if p.stem in stats)

    def label(image: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        maps = [t(image) for t in teachers]
        fused = soft = fuse(maps, cfg.fusion)
        if cfg.grow:
            soft = grow(soft, image)
        if cfg.refine:
            soft = refine(soft, image)
        mask = pseudo_mask(soft, cfg.margin, cfg.adaptive, cfg.confidence)
        return maps, fused, soft, fill_holes(mask) if cfg.fill_holes else mask

    def sheet_row(image: np.ndarray, fused: np.ndarray, soft: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
        return (image, fused, soft, mask) if cfg.refine or cfg.grow else (image, soft, mask)

    pictured = {p.stem for p in photos[:16]}  # the picture's photos: kept when labelled here, labelled at the end otherwise
    sheet: dict[str, tuple[np.ndarray, ...]] = {}
    todo = [p for p in mine if not (p.stem in stats and (out / "masks" / f"{p.stem}.png").exists())]
    with open(log_path, "a") as log:
        for photo in tqdm(todo, desc="pseudo-label", disable=not progress):
            image = read_rgb(photo)
            maps, fused, soft, mask = label(image)
            if photo.stem in pictured:
                sheet[photo.stem] = sheet_row(image, fused, soft, mask)
            write_png(out / "masks" / f"{photo.stem}.png", mask)
            _, weight = mask_target(mask)
            row = {
                "stem": photo.stem,
                "photo": str(photo.resolve()),
                "sure": round(float(weight.mean()), 4),
                "area": round(float((mask > OBJECT_ABOVE).mean()), 4),
                "agreement": round(agreement(maps), 4),
            }
            stats[photo.stem] = row
            log.write(json.dumps(row) + "\n")
            log.flush()
    stats = _read_stats(out) if num_shards > 1 else stats
    missing = sum(p.stem not in stats for p in photos)
    if missing:
        print(f"part {shard} of {num_shards} done; {missing} photo(s) wait for the other parts (the last part to finish writes pairs.json)")
        return {"config": asdict(cfg), "complete": False, "photos": len(photos), "missing": missing}
    rows = [stats[p.stem] for p in photos]
    with atomic_write(out / "stats.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    for part in out.glob("stats.part-*.jsonl"):
        part.unlink(missing_ok=True)
    kept = select_photos(rows, cfg)
    write_json(out / "pairs.json", {"pairs": [[s["photo"], f"masks/{s['stem']}.png"] for s in kept]})
    after = " + ".join(name for name, on in (("grown", cfg.grow), ("refined", cfg.refine)) if on)
    labels = ["photo", *(["teachers fused", after] if after else ["teacher"]), "pseudo-mask"]
    for photo in photos[:16]:  # the same picture whichever process or run labelled these photos
        if photo.stem not in sheet:
            image = read_rgb(photo)
            sheet[photo.stem] = sheet_row(image, *label(image)[1:])
    contact_sheet([sheet[p.stem] for p in photos[:16]], out / "pseudo_masks.png", labels)
    summary = {
        "config": asdict(cfg),
        "complete": True,
        "photos": len(rows),
        "kept": len(kept),
        "mean_sure_kept": round(float(np.mean([s["sure"] for s in kept])), 4) if kept else 0.0,
        "mean_area_kept": round(float(np.mean([s["area"] for s in kept])), 4) if kept else 0.0,
    }
    write_json(out / "summary.json", summary)
    return summary


def contact_sheet(rows: list[tuple[np.ndarray, ...]], path: Path, labels: list[str], size: int = 96) -> Path:
    """Photo, teacher map (before and after refinement) and pseudo-mask (grey = unsure, darker
    greys = less confident) for each photo, for a person to judge; one column of `labels` each."""
    from saliency.viz import image_grid, save_png

    def tile(a: np.ndarray) -> torch.Tensor:
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
        t = torch.from_numpy(np.asarray(a, np.float32))
        t = t / 127.5 - 1 if a.dtype == np.uint8 else t * 2 - 1
        return t.permute(2, 0, 1) if t.ndim == 3 else t[None]

    grid, row_labels = [], []
    for start in range(0, len(rows), 8):
        chunk = rows[start : start + 8]
        grid += [torch.stack([tile(r[k]) for r in chunk]) for k in range(len(labels))]
        row_labels += labels
    return save_png(image_grid(grid, row_labels, label_width=100), path)
