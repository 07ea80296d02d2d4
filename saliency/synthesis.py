"""Stage 3: write N accepted image/mask pairs to disk, deterministic, resumable, parallel.

Layout of OUT (plain PNGs, inspectable with any viewer):

    manifest.json                    settings, counts, acceptance and rejection rates, mask statistics
    shards/SSSSS/images/IIIIIIII.png generator output, lossless
    shards/SSSSS/masks/IIIIIIII.png  0/255 mask
    shards/SSSSS/done.json           written last: the shard is complete

or, with `format="webdataset"`, one tar per shard, shards/SSSSS.tar holding IIIIIIII.png and
IIIIIIII.mask.png (written whole, then renamed into place), and shards/SSSSS.done.json; the
decoded pairs are identical to the PNG layout's. `train-unet --data` streams such shards from
disk, http(s) or any `pipe:` command (the webdataset library's URLs).

Shard k holds pairs k * shard_size ... and draws its candidate batches from generators seeded by
(seed, k, b): every shard is a pure function of the settings and of nothing another shard did.
So a run killed at any moment removes its unfinished shards and rewrites them bit for bit, and
any number of processes can share the work: process p of n writes shards p, p + n, ...
(`--shard p --num-shards n`, or torchrun's / SLURM's rank and world size), and their union is
exactly what one process writes. Whichever process completes the last shard merges the
manifest.
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
import torch
from tqdm import tqdm

from saliency.errors import UserError
from saliency.files import write_json
from saliency.filters import FilterConfig, apply_filters
from saliency.generators.base import Generator
from saliency.masks import NEEDS_NEGATIVE, make_masks, mask_statistics
from saliency.pairs import TarSink, list_pairs, read_pairs, shard_dir, write_pair
from saliency.resume import changed_settings
from saliency.training import interruption_point
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
    part: int = 0  # which shards this process writes: those with index % num_parts == part
    num_parts: int = 1
    weights_sha256: str | None = None
    classes: list[int] | None = None
    # latents near real photos (the 2021 paper's E-BigBiGAN): z = E(photo) + noise * N(0, I)
    latent_photos: str | None = None
    inverter_sha256: str | None = None
    latent_noise: float = 0.0
    stream: str = "per-shard"
    format: str = "png"  # or "webdataset": shards/SSSSS.tar (KEY.png, KEY.mask.png) for streaming from storage

    # Settings that may change between a run and its resume: N, and who writes which shard.
    RESUMABLE_CHANGES = ("n", "part", "num_parts")
    # Runs saved before shards had streams of their own drew one stream per part.
    FORMER_DEFAULTS = {"stream": "per-part"}

    def shard_count(self) -> int:
        return -(-self.n // self.shard_size)

    def shard_length(self, shard: int) -> int:
        return min(self.shard_size, self.n - shard * self.shard_size)

    def my_shards(self) -> list[int]:
        return [k for k in range(self.shard_count()) if k % self.num_parts == self.part]

    def shared(self) -> dict[str, Any]:
        """The settings that define the dataset (not who wrote which shard)."""
        return {k: v for k, v in asdict(self).items() if k not in ("part", "num_parts")}


def batch_rng(cfg: SynthConfig, shard: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed(((cfg.seed * 1_000_003 + shard) * 1_000_003 + batch) % (2**63))


@torch.no_grad()
def photo_latents(E, photos: str, resolution: int, batch: int = 128, progress: bool = True) -> torch.Tensor:
    """E(x) for every photo of the folder, in file order: the latent bank of `latent_photos`."""
    from saliency.images import load_photo_bank

    bank = load_photo_bank(photos, resolution, progress)
    device = next(E.parameters()).device
    return torch.cat([E(bank[i : i + batch].to(device).float() / 255).cpu() for i in range(0, len(bank), batch)])


@torch.no_grad()
def candidate_batch(
    G: Generator, cfg: SynthConfig, shard: int, batch: int, h: torch.Tensor, latent_bank: torch.Tensor | None = None
) -> dict[str, Any]:
    """Generate candidate batch `batch` of shard `shard` and judge it: images, clean masks, keep
    flags, verdicts."""
    g = batch_rng(cfg, shard, batch)
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
    return {
        "images": original,
        "masks": clean,
        "keep": keep.cpu(),
        "verdicts": {k: v.cpu() for k, v in verdicts.items()},
        "classes": classes,
    }


class ShardWriter:
    """Encodes and writes PNGs on worker threads while the generator produces the next batch."""

    def __init__(self, workers: int = 2, max_pending: int = 512) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.pending: deque[Future] = deque()
        self.max_pending = max_pending

    def submit(self, *args: Any) -> None:
        self.pending.append(self.pool.submit(write_pair, *args))
        while len(self.pending) > self.max_pending:
            self.pending.popleft().result()

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def done_path(out: Path, cfg: SynthConfig, shard: int) -> Path:
    return shard_dir(out, shard) / "done.json" if cfg.format == "png" else out / "shards" / f"{shard:05d}.done.json"


def part_manifest_path(out: Path, cfg: SynthConfig) -> Path:
    return out / f"manifest-part-{cfg.part}-of-{cfg.num_parts}.json"


def _check_settings(out: Path, cfg: SynthConfig) -> None:
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())["config"]
    except (ValueError, KeyError):
        raise UserError(f"{path} is not a synth manifest; remove it or choose another --out") from None
    diff = changed_settings(saved, cfg)
    if diff:
        raise UserError(f"{out} holds samples made with other settings ({'; '.join(diff)}); use another --out or remove it")


def _shard_done(out: Path, cfg: SynthConfig, shard: int) -> dict[str, Any] | None:
    """The shard's done.json if it is complete at the length this N asks of it."""
    done = done_path(out, cfg, shard)
    if not done.exists():
        return None
    info = json.loads(done.read_text())
    return info if info["count"] == cfg.shard_length(shard) else None


def _clear_stale(out: Path, cfg: SynthConfig) -> None:
    """Remove this process's unfinished shards (a kill leaves them), shards whose length N has
    changed, and shards beyond N: the layout then equals an uninterrupted run's."""
    if not (out / "shards").is_dir():
        return
    mine = set(cfg.my_shards())
    for entry in sorted((out / "shards").iterdir()):
        name = entry.name.split(".")[0]
        if not name.isdigit():
            continue
        k = int(name)
        if k >= cfg.shard_count() or (k in mine and _shard_done(out, cfg, k) is None):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def write_shard(
    G: Generator,
    cfg: SynthConfig,
    shard: int,
    h: torch.Tensor,
    out: Path,
    writer: ShardWriter,
    bar,
    latent_bank: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Draw candidate batches of shard `shard` until it holds its pairs; write them and done.json."""
    directory = shard_dir(out, shard)
    tar = TarSink(out / "shards" / f"{shard:05d}.tar") if cfg.format == "webdataset" else None
    if tar is None:
        (directory / "images").mkdir(parents=True, exist_ok=True)
        (directory / "masks").mkdir(parents=True, exist_ok=True)
    length, first = cfg.shard_length(shard), shard * cfg.shard_size
    info: dict[str, Any] = {
        "count": 0,
        "first": first,
        "candidates": 0,
        "passed": 0,
        "rejected": {},
        "area_sum": 0.0,
        "border_share_sum": 0.0,
        "classes": [],
    }
    batch = 0
    while info["count"] < length:
        result = candidate_batch(G, cfg, shard, batch, h, latent_bank)
        info["candidates"] += cfg.batch_size
        info["passed"] += int(result["keep"].sum())
        for name, ok in result["verdicts"].items():
            info["rejected"][name] = info["rejected"].get(name, 0) + int((~ok).sum())
        if info["passed"] == 0 and info["candidates"] >= 50 * cfg.batch_size:
            raise UserError(
                f"none of {info['candidates']} candidates passed the filters ({', '.join(f'{k} rejected {v}' for k, v in info['rejected'].items())}); "
                "check the selection (`saliency select`), the mask rule or the filter bounds"
            )
        images, masks = to_uint8(result["images"]), to_uint8(result["masks"] * 2 - 1)[..., 0]
        areas, shares = (v.tolist() for v in mask_statistics(result["masks"]))
        for i in torch.nonzero(result["keep"]).flatten().tolist()[: length - info["count"]]:
            key = f"{first + info['count']:08d}"
            if tar is None:
                writer.submit(images[i], masks[i], directory / "images" / f"{key}.png", directory / "masks" / f"{key}.png")
            else:
                tar.submit(images[i], masks[i], key)
            info["area_sum"] += areas[i]
            info["border_share_sum"] += shares[i]
            if result["classes"] is not None:
                info["classes"].append(int(result["classes"][i]))
            info["count"] += 1
            bar.update(1)
        batch += 1
    writer.drain()
    if tar is not None:
        tar.close()
    info["classes"] = info["classes"] or None
    write_json(done_path(out, cfg, shard), info)
    return info


def merged_manifest(out: Path, cfg: SynthConfig) -> dict[str, Any] | None:
    """The manifest over every shard, or None while some shard is unfinished."""
    infos = [_shard_done(out, cfg, k) for k in range(cfg.shard_count())]
    if any(i is None for i in infos):
        return None
    count, candidates, passed = sum(i["count"] for i in infos), sum(i["candidates"] for i in infos), sum(i["passed"] for i in infos)
    rejected: dict[str, int] = {}
    for i in infos:
        for k, v in i["rejected"].items():
            rejected[k] = rejected.get(k, 0) + v
    return {
        "config": cfg.shared(),
        "complete": True,
        "count": count,
        "shards": len(infos),
        "candidates": candidates,
        "acceptance_rate": round(passed / max(1, candidates), 4),
        "rejection_rate": {k: round(v / max(1, candidates), 4) for k, v in rejected.items()},
        # what the masks look like: objects cover 24% of an ECSSD image on average and seldom the frame
        "mean_mask_area": round(sum(i["area_sum"] for i in infos) / max(1, count), 4),
        "mask_border_share": round(sum(i["border_share_sum"] for i in infos) / max(1, count), 4),
    }


def synthesize(
    G: Generator,
    cfg: SynthConfig,
    out: str | Path,
    progress: bool = True,
    latent_bank: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Write this process's shards of the N pairs into `out`. Returns the merged manifest once
    every shard is complete (whoever finishes last writes it), else this part's progress.
    `latent_bank`: E(x) of `cfg.latent_photos` when latents are drawn near real photos."""
    if (latent_bank is None) != (cfg.latent_photos is None):
        raise ValueError("latent_photos and latent_bank go together")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, cfg)
    _clear_stale(out, cfg)
    if not (out / "manifest.json").exists() or json.loads((out / "manifest.json").read_text()).get("config") != cfg.shared():
        write_json(out / "manifest.json", {"config": cfg.shared(), "complete": False})
    h = torch.tensor(cfg.direction, dtype=torch.float32, device=G.device) * cfg.shift
    todo = [k for k in cfg.my_shards() if _shard_done(out, cfg, k) is None]
    target = sum(cfg.shard_length(k) for k in cfg.my_shards())
    writer = ShardWriter()
    bar = tqdm(total=target, initial=target - sum(cfg.shard_length(k) for k in todo), desc="synth", unit="pair", disable=not progress)
    try:
        for written, k in enumerate(todo):
            info = write_shard(G, cfg, k, h, out, writer, bar, latent_bank)
            bar.set_postfix(acceptance=f"{info['passed'] / max(1, info['candidates']):.2f}")
            interruption_point("synth", written + 1)  # tests: after this many shards of this call, as a kill
    except OSError as e:
        raise UserError(f"writing samples to {out} failed: {e}. Free disk space and rerun the same command to resume") from None
    finally:
        writer.close()
        bar.close()
    if cfg.num_parts > 1:
        write_json(
            part_manifest_path(out, cfg),
            {"config": cfg.shared(), "part": cfg.part, "num_parts": cfg.num_parts, "complete": True, "shards": cfg.my_shards()},
        )
    manifest = merged_manifest(out, cfg)
    if manifest is None:
        return {"complete": False, "part": cfg.part, "num_parts": cfg.num_parts, "count": target}
    write_json(out / "manifest.json", manifest)
    return manifest


def contact_sheet(root: str | Path, path: str | Path, count: int = 32, per_row: int = 8) -> Path:
    """Image / mask / cut-out rows of the first pairs, for a person to look at."""
    from saliency.viz import image_grid, save_png

    pairs = [
        (cv2.cvtColor(cv2.imread(str(i)), cv2.COLOR_BGR2RGB), cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)) for i, m in list_pairs(root)[:count]
    ]
    if not pairs and any(Path(root).glob("shards/*.tar")):
        pairs = [(image, mask) for _, image, mask in read_pairs(root, limit=count)]
    if not pairs:
        raise UserError(f"no complete shards under {root}")
    rows, labels = [], []
    for start in range(0, len(pairs), per_row):
        chunk = pairs[start : start + per_row]
        imgs = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i, _ in chunk]).float() / 127.5 - 1
        msks = torch.stack([torch.from_numpy(m)[None] for _, m in chunk]).float() / 255
        rows += [imgs, msks * 2 - 1, imgs * msks + (1 - msks)]
        labels += ["image", "mask", "cut-out"]
    return save_png(image_grid(rows, labels), path)
