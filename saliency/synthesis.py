"""Stage 3: write N accepted image/mask pairs to disk, deterministic and resumable.

Layout of OUT (plain PNGs, inspectable with any viewer):

    manifest.json                      settings, counts, acceptance and rejection rates
    shards/P-SSSSS/images/IIIIIIII.png generator output, lossless
    shards/P-SSSSS/masks/IIIIIIII.png  0/255 mask
    shards/P-SSSSS/done.json           written last: the shard is complete

Candidate batch b of part P draws its latents from a generator seeded by (seed, P, b), so the
stream of accepted samples is a pure function of the settings. A shard is complete only once its
done.json exists; it records the cursor (batch, offset) where the next shard starts, so a run
killed at any moment deletes the unfinished shard and regenerates it bit-for-bit. Parts
(`--shard i --num-shards n`) draw disjoint streams and split N between them.
"""

from __future__ import annotations

import json
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from saliency.errors import UserError
from saliency.files import write_json
from saliency.filters import FilterConfig, apply_filters
from saliency.generators.base import Generator
from saliency.masks import NEEDS_NEGATIVE, make_masks, mask_statistics
from saliency.resume import changed_settings
from saliency.viz import to_uint8


@dataclass
class SynthConfig:
    generator: str
    direction: list[float]  # the latent shift h = shift * direction (direction unit length, sign folded in)
    shift: float
    n: int
    rule: str = "intensity"
    threshold: float | None = None
    polarity: str = "light"
    filters: dict[str, Any] = field(default_factory=lambda: FilterConfig().as_dict())
    seed: int = 0
    batch_size: int = 64
    shard_size: int = 1000
    part: int = 0
    num_parts: int = 1
    weights_sha256: str | None = None
    classes: list[int] | None = None
    # latents near real photos (the 2021 paper's E-BigBiGAN): z = E(photo) + noise * N(0, I)
    latent_photos: str | None = None
    inverter_sha256: str | None = None
    latent_noise: float = 0.0

    # Settings that may change between a run and its resume.
    RESUMABLE_CHANGES = ("n",)

    def part_size(self) -> int:
        base, extra = divmod(self.n, self.num_parts)
        return base + (1 if self.part < extra else 0)


def batch_rng(cfg: SynthConfig, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed(((cfg.seed * 1_000_003 + cfg.part) * 1_000_003 + batch) % (2**63))


@torch.no_grad()
def photo_latents(E, photos: str, resolution: int, batch: int = 128, progress: bool = True) -> torch.Tensor:
    """E(x) for every photo of the folder, in file order: the latent bank of `latent_photos`."""
    from saliency.inversion import load_photo_bank

    bank = load_photo_bank(photos, resolution, progress)
    device = next(E.parameters()).device
    return torch.cat([E(bank[i : i + batch].to(device).float() / 255).cpu() for i in range(0, len(bank), batch)])


@torch.no_grad()
def candidate_batch(G: Generator, cfg: SynthConfig, batch: int, h: torch.Tensor, latent_bank: torch.Tensor | None = None) -> dict[str, Any]:
    """Generate one candidate batch and judge it: images, clean masks, keep flags, verdicts."""
    g = batch_rng(cfg, batch)
    z, classes = G.sample_latents(cfg.batch_size, g), G.sample_classes(cfg.batch_size, g)
    if latent_bank is not None:  # near a real photo: E(x) plus noise (z already holds the noise)
        z = latent_bank[torch.randint(len(latent_bank), (cfg.batch_size,), generator=g)].to(z.device) + cfg.latent_noise * z
    latents = [z, z + h] + ([z - h] if cfg.rule in NEEDS_NEGATIVE else [])
    cls = None if classes is None else classes.repeat(len(latents))
    images = G(torch.cat(latents), cls).chunk(len(latents))  # all forwards of the batch at once
    original, positive = images[0], images[1]
    negative = images[2] if len(images) > 2 else None
    masks = make_masks(cfg.rule, original, positive, negative, cfg.threshold, cfg.polarity)
    clean, keep, verdicts = apply_filters(masks, positive, FilterConfig(**cfg.filters))
    return {"images": original, "masks": clean, "keep": keep.cpu(), "verdicts": {k: v.cpu() for k, v in verdicts.items()}, "classes": classes}


PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # still lossless; level 1 encodes several times faster than the default 3


def _write_pair(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    ok = cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), PNG_FAST) and cv2.imwrite(str(mask_path), mask, PNG_FAST)
    if not ok:
        raise OSError(f"could not write {image_path} (disk full or not writable?)")


class ShardWriter:
    """Encodes and writes PNGs on worker threads while the generator produces the next batch."""

    def __init__(self, workers: int = 2, max_pending: int = 512) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.pending: deque[Future] = deque()
        self.max_pending = max_pending

    def submit(self, *args: Any) -> None:
        self.pending.append(self.pool.submit(_write_pair, *args))
        while len(self.pending) > self.max_pending:
            self.pending.popleft().result()

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def shard_dir(out: Path, part: int, shard: int) -> Path:
    return out / "shards" / f"{part}-{shard:05d}"


def manifest_path(out: Path, cfg: SynthConfig) -> Path:
    return out / ("manifest.json" if cfg.num_parts == 1 else f"manifest-part-{cfg.part}-of-{cfg.num_parts}.json")


def _check_settings(out: Path, cfg: SynthConfig) -> None:
    path = manifest_path(out, cfg)
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())["config"]
    except (ValueError, KeyError):
        raise UserError(f"{path} is not a synth manifest; remove it or choose another --out") from None
    diff = changed_settings(saved, cfg)
    if diff:
        raise UserError(f"{out} holds samples made with other settings ({'; '.join(diff)}); use another --out or remove it")


def _resume_state(out: Path, cfg: SynthConfig) -> dict[str, Any]:
    """Cursor and counts after the last complete shard; unfinished shards are removed, and so
    is a short final shard when N has grown, so that the layout equals an uninterrupted run's."""
    state = {"shard": 0, "batch": 0, "offset": 0, "accepted": 0, "candidates": 0, "passed": 0, "counted_batches": 0, "rejected": {}, "area_sum": 0.0, "border_share_sum": 0.0}
    shard = 0
    while (done := shard_dir(out, cfg.part, shard) / "done.json").exists():
        info = json.loads(done.read_text())
        if info["count"] < cfg.shard_size and info["totals"]["accepted"] < cfg.part_size():
            done.unlink()  # reopen it: the run now goes further
            break
        state = {**state, "shard": shard + 1, **info["cursor"], **info["totals"]}
        shard += 1
    for stale in sorted((out / "shards").glob(f"{cfg.part}-*")) if (out / "shards").exists() else []:
        if not (stale / "done.json").exists():
            shutil.rmtree(stale)
    return state


def synthesize(G: Generator, cfg: SynthConfig, out: str | Path, progress: bool = True, stop_after_shards: int | None = None, latent_bank: torch.Tensor | None = None) -> dict[str, Any]:
    """Write this part's share of N accepted pairs into `out`; returns the manifest.
    `latent_bank`: E(x) of `cfg.latent_photos` when latents are drawn near real photos."""
    if (latent_bank is None) != (cfg.latent_photos is None):
        raise ValueError("latent_photos and latent_bank go together")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, cfg)
    target = cfg.part_size()
    state = _resume_state(out, cfg)
    write_json(manifest_path(out, cfg), {"config": asdict(cfg), "complete": False})
    h = torch.tensor(cfg.direction, dtype=torch.float32, device=G.device) * cfg.shift
    writer = ShardWriter()
    bar = tqdm(total=target, initial=min(state["accepted"], target), desc="synth", unit="pair", disable=not progress)
    rejected: dict[str, int] = dict(state["rejected"])
    shard, batch, offset = state["shard"], state["batch"], state["offset"]
    accepted, candidates, passed, counted = state["accepted"], state["candidates"], state["passed"], state["counted_batches"]
    area_sum, border_share_sum = state["area_sum"], state["border_share_sum"]
    in_shard: list[int] = []
    shard_classes: list[int] = []
    try:
        while accepted < target:
            result = candidate_batch(G, cfg, batch, h, latent_bank)
            if batch >= counted:  # each candidate batch counts once, also across resumes
                candidates += cfg.batch_size
                passed += int(result["keep"].sum())
                for name, ok in result["verdicts"].items():
                    rejected[name] = rejected.get(name, 0) + int((~ok).sum())
                counted = batch + 1
            if passed == 0 and candidates >= 50 * cfg.batch_size:
                raise UserError(
                    f"none of {candidates} candidates passed the filters ({', '.join(f'{k} rejected {v}' for k, v in rejected.items())}); "
                    "check the selection (`saliency select`), the mask rule or the filter bounds"
                )
            kept = torch.nonzero(result["keep"]).flatten().tolist()
            images, masks = to_uint8(result["images"]), to_uint8(result["masks"] * 2 - 1)[..., 0]
            areas, shares = (v.tolist() for v in mask_statistics(result["masks"]))
            position = offset
            while position < len(kept) and accepted < target:
                directory = shard_dir(out, cfg.part, shard)
                if not in_shard:
                    (directory / "images").mkdir(parents=True, exist_ok=True)
                    (directory / "masks").mkdir(parents=True, exist_ok=True)
                i, name = kept[position], f"{cfg.part}{accepted:08d}" if cfg.num_parts > 1 else f"{accepted:08d}"
                writer.submit(images[i], masks[i], directory / "images" / f"{name}.png", directory / "masks" / f"{name}.png")
                in_shard.append(accepted)
                area_sum, border_share_sum = area_sum + areas[i], border_share_sum + shares[i]
                if result["classes"] is not None:
                    shard_classes.append(int(result["classes"][i]))
                accepted += 1
                position += 1
                bar.update(1)
                if len(in_shard) == cfg.shard_size or accepted == target:
                    next_cursor = {"batch": batch, "offset": position} if position < len(kept) else {"batch": batch + 1, "offset": 0}
                    writer.drain()
                    totals = {"accepted": accepted, "candidates": candidates, "passed": passed, "counted_batches": counted, "rejected": rejected,
                              "area_sum": area_sum, "border_share_sum": border_share_sum}
                    write_json(directory / "done.json", {"count": len(in_shard), "first": in_shard[0], "classes": shard_classes or None, "cursor": next_cursor, "totals": totals})
                    shard, in_shard, shard_classes = shard + 1, [], []
                    if stop_after_shards is not None and shard >= stop_after_shards:
                        return {}
            bar.set_postfix(acceptance=f"{passed / max(1, candidates):.2f}")
            batch, offset = batch + 1, 0
    except OSError as e:
        raise UserError(f"writing samples to {out} failed: {e}. Free disk space and rerun the same command to resume") from None
    finally:
        writer.close()
        bar.close()
    manifest = {
        "config": asdict(cfg),
        "complete": True,
        "count": accepted,
        "candidates": candidates,
        "acceptance_rate": round(passed / max(1, candidates), 4),
        "rejection_rate": {k: round(v / max(1, candidates), 4) for k, v in rejected.items()},
        # what the masks look like: objects cover 24% of an ECSSD image on average and seldom the frame
        "mean_mask_area": round(area_sum / max(1, accepted), 4),
        "mask_border_share": round(border_share_sum / max(1, accepted), 4),
    }
    write_json(manifest_path(out, cfg), manifest)
    return manifest


def list_pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """All (image, mask) pairs of complete shards under `root`, in index order."""
    pairs = []
    for done in sorted(Path(root).glob("shards/*/done.json")):
        for image in sorted((done.parent / "images").glob("*.png")):
            pairs.append((image, done.parent / "masks" / image.name))
    return pairs


def contact_sheet(root: str | Path, path: str | Path, count: int = 32, per_row: int = 8) -> Path:
    """Image / mask / cut-out rows of the first pairs, for a person to look at."""
    from saliency.viz import image_grid, save_png

    pairs = list_pairs(root)[:count]
    if not pairs:
        raise UserError(f"no complete shards under {root}")
    rows, labels = [], []
    for start in range(0, len(pairs), per_row):
        chunk = pairs[start : start + per_row]
        imgs = torch.stack([torch.from_numpy(cv2.cvtColor(cv2.imread(str(i)), cv2.COLOR_BGR2RGB)).permute(2, 0, 1) for i, _ in chunk]).float() / 127.5 - 1
        msks = torch.stack([torch.from_numpy(cv2.imread(str(m), cv2.IMREAD_GRAYSCALE))[None] for _, m in chunk]).float() / 255
        rows += [imgs, msks * 2 - 1, imgs * msks + (1 - msks)]
        labels += ["image", "mask", "cut-out"]
    return save_png(image_grid(rows, labels), path)
