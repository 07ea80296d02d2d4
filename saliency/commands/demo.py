"""`saliency demo`: the whole pipeline on one generator, one report.

discover (or the shipped directions unless --rediscover) -> select -> synth -> train-unet ->
bench on every benchmark set found, then OUT/report.md with every picture. Each stage runs
through the same code as its own command; a second run reuses the stages already finished.
The defaults take about 9 minutes on 2 CPU cores with one benchmark set; `--scale paper` uses the papers' sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from saliency.bench.datasets import PAPER_SALIENCY_SETS, candidate_roots, find_root, is_present
from saliency.bench.report import slug
from saliency.commands.common import non_negative_int
from saliency.errors import UserError
from saliency.generators import spec
from saliency.generators.registry import DEFAULT_GENERATOR
from saliency.paths import runs_dir, shared_datasets_dir
from saliency.predictors import BASELINES
from saliency.unet.model import SHIPPED_MODEL

SCALES = {
    # pairs, U-Net steps, batch, input size, validation interval
    "cpu": {"n": 4000, "steps": 1500, "batch": 16, "size": 64, "val_every": 250},
    "paper": {"n": 100_000, "steps": 12000, "batch": 95, "size": 128, "val_every": 500},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", default=DEFAULT_GENERATOR, help="generator backend")
    p.add_argument("--weights", default=None, help="generator weights file (offline use)")
    p.add_argument("--out", type=Path, default=None, help="demo directory (default: DATA/runs/demo-GENERATOR)")
    p.add_argument("--rediscover", action="store_true", help="run discovery instead of using the shipped directions")
    p.add_argument("--scale", choices=sorted(SCALES), default="cpu", help="cpu: minutes on 2 cores; paper: the papers' sizes (GPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=non_negative_int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument(
        "--download", action="store_true", help="fetch ECSSD, DUTS-TE and DUT-OMRON from their official sources where missing (online only)"
    )
    p.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="unlabeled photos: backgrounds for pasted synthetic objects in training, and where the report shows every model (default: the DUTS-TR photos, when present)",
    )
    p.add_argument(
        "--bench-root",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a benchmark set kept outside its default place, e.g. duts-te=/data/DUTS-TE (repeatable; the set is then benched from DIR)",
    )


def bench_roots(pairs: list[str]) -> dict[str, Path]:
    """`--bench-root NAME=DIR` values as a mapping; a wrong name or a folder without the set's
    layout is refused before any stage runs, not after twenty minutes of training."""
    roots = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or name not in PAPER_SALIENCY_SETS:
            raise UserError(f"--bench-root {pair!r}: write NAME=DIR with NAME one of {', '.join(PAPER_SALIENCY_SETS)}")
        roots[name] = find_root(name, folder)
    return roots


def stage_args(stage: str, **values) -> argparse.Namespace:
    """A stage's arguments: its own flags' defaults, with `values` (typed, by flag name) in their
    place; a name that is not one of the stage's flags is an error here, not a silent no-op."""
    p = argparse.ArgumentParser(prog=f"saliency {stage}")
    stage_module(stage).add_arguments(p)
    args = p.parse_args([])
    unknown = sorted(set(values) - set(vars(args)))
    if unknown:
        raise TypeError(f"saliency {stage} has no flag for {', '.join(unknown)}")
    for key, value in values.items():
        setattr(args, key, value)
    return args


def stage_module(stage: str):
    """The module of a stage the demo runs (imported here, not through saliency.cli, which lists the demo)."""
    from saliency.commands import bench, discover, select, synth, train_unet

    return {"discover": discover, "select": select, "synth": synth, "train-unet": train_unet, "bench": bench}[stage]


def _stage(name: str, done: Path, args: argparse.Namespace, timings: dict) -> None:
    """Run one stage's `run` unless its output `done` exists (a rerun of the demo resumes);
    `name` is the stage, or the stage and what it works on ("bench ecssd")."""
    if done.exists():
        print(f"[demo] {name}: reusing {done}")
        return
    print(f"[demo] {name}")
    t = time.perf_counter()
    try:
        stage_module(name.split()[0]).run(args)
    except UserError as e:
        raise UserError(f"demo stopped at stage {name}: {e}\nfix it and rerun `saliency demo` to continue") from None
    timings[name] = round(time.perf_counter() - t, 1)


def run(args: argparse.Namespace) -> None:
    gen = args.generator
    out = args.out or runs_dir() / f"demo-{gen}"
    out.mkdir(parents=True, exist_ok=True)
    scale = SCALES[args.scale]
    roots = bench_roots(args.bench_root)
    common = {"generator": gen, "device": args.device, "weights": args.weights}
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    directions = out / "discover" / "directions.safetensors"
    if args.rediscover or not spec(gen).directions_file:
        _stage("discover", directions, stage_args("discover", **common, threads=args.threads, out=out / "discover"), timings)
    else:
        from saliency.commands.select import default_directions

        directions = default_directions(gen)
        print(f"[demo] discover: using shipped directions {directions} (--rediscover to learn them anew)")
    select = stage_args("select", **common, directions=directions, out=out / "select")
    _stage("select", out / "select" / "selection.json", select, timings)
    synth = stage_args(
        "synth", **common, threads=args.threads, selection=out / "select" / "selection.json", n=scale["n"], out=out / "synth"
    )
    _stage("synth", out / "synth" / "contact_sheet.png", synth, timings)
    photos = args.photos or (shared_datasets_dir() / "DUTS-TR-unlabeled-128" / "images")
    # real photos as backgrounds for pasted synthetic objects (results: .313 -> .379 max F on ECSSD)
    paste = {"backgrounds": photos, "degrade": True} if photos.is_dir() else {}
    train = stage_args(
        "train-unet",
        **common,
        threads=args.threads,
        data=str(out / "synth"),
        out=out / "unet",
        steps=scale["steps"],
        batch_size=scale["batch"],
        size=scale["size"],
        val_every=scale["val_every"],
        milestones=str(int(scale["steps"] * 2 / 3)),
        **paste,
    )
    _stage("train-unet", out / "unet" / "summary.json", train, timings)
    found, missing = [], []
    for name in PAPER_SALIENCY_SETS:
        present = name in roots or is_present(name)
        if not present and args.download:
            from saliency.bench.download import download_dataset

            download_dataset(name)
            present = True
        (found if present else missing).append(name)
    models = [
        "center-prior",
        "spectral-residual",
        "wctr",
        *(["shipped"] if SHIPPED_MODEL.is_file() else []),
        str(out / "unet" / "best.safetensors"),
    ]
    for name in found:
        bench_out = out / "bench" / name
        _stage(
            f"bench {name}",
            bench_out / "results.md",
            stage_args("bench", dataset=name, root=roots.get(name), device=args.device, out=bench_out, model=models),
            timings,
        )
    if photos.is_dir():
        photo_sheet(
            photos, [m for m in models if m not in ("center-prior", "spectral-residual")], out / "pictures" / "photos.png", args.device
        )
    sheets = bundled_sheets([m for m in models if m not in BASELINES], out / "pictures", args.device)
    report = write_report(
        out,
        gen,
        directions,
        found,
        missing,
        timings,
        time.perf_counter() - t0,
        args.weights,
        args.device,
        photos if photos.is_dir() else None,
        sheets,
    )
    if not found:
        print("[demo] no benchmark set found here; to measure every model on ECSSD, DUTS-TE and DUT-OMRON: saliency demo --download")
    print(f"[demo] report: {report}")


def bundled_sheets(models: list[str], folder: Path, device_name: str) -> dict[str, Path]:
    """One photo / map / cut-out grid per U-Net on scikit-image's bundled photos: real photos
    that every install has, so a first run offline still shows what the models do."""
    from saliency.cutout import cutout_sheet
    from saliency.device import pick_device
    from saliency.images import bundled_photos
    from saliency.predictors import make_predictor

    device, photos, sheets = pick_device(device_name), bundled_photos(), {}
    for name in models:
        predictor = make_predictor(name, device)
        sheets[predictor.name] = cutout_sheet(predictor.at_model_size, photos, folder / f"bundled-{slug(predictor.name)}.png")
    return sheets


def photo_sheet(photos: Path, models: list[str], path: Path, device_name: str, n: int = 12) -> Path:
    """Each model's map on `n` of the photos (spread over the folder), so the main job ends with
    something a person can judge even where no benchmark set is present."""
    import cv2
    import numpy as np
    import torch

    from saliency.device import pick_device
    from saliency.images import list_photos, read_rgb
    from saliency.predictors import make_predictor
    from saliency.viz import image_grid, save_png

    files = list_photos(photos)
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(n, len(files))).astype(int)]
    images = [cv2.resize(read_rgb(f), (96, 96), interpolation=cv2.INTER_AREA) for f in picks]
    rows = [torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 127.5 - 1 for i in images])]
    labels = ["photo"]
    device = pick_device(device_name)
    for name in models:
        predictor = make_predictor(name, device)
        rows.append(torch.stack([torch.from_numpy(cv2.resize(predictor(i), (96, 96)))[None] * 2 - 1 for i in images]))
        labels.append(predictor.name[-18:])
    return save_png(image_grid(rows, labels, label_width=130), path)


def chosen_label(sel) -> str:
    """How the selected direction came about, from a Selection's provenance."""
    origin = sel.provenance
    start = (
        "a random direction"
        if origin.get("direction") is None
        else f"discovered direction {origin['direction']}{'+' if origin['sign'] > 0 else '-'}"
    )
    return start if origin.get("source", "discovered") == "discovered" else f"optimised from {start}"


def direction_grids(out: Path, gen: str, directions: Path, weights: str | None, device_name: str) -> Path:
    """The folder of direction grids: discovery's own, or (shipped directions come without
    pictures) drawn once into OUT/grids."""
    grids = directions.parent / "grids"
    if grids.is_dir():
        return grids
    grids = out / "grids"
    if not (grids / "overview_00.png").exists():
        from discovery.directions import load_directions
        from discovery.grids import render_direction_grids
        from saliency.device import pick_device
        from saliency.generators import build_generator

        device = pick_device(device_name)
        ds = load_directions(directions)
        G = build_generator(gen, weights=weights, device=device)
        render_direction_grids(G, ds.directions.to(device), grids, float(ds.meta.get("shift_range", 6.0)))
    return grids


def pipeline_lines(out: Path, gen: str, directions: Path, timings: dict, wall: float) -> list[str]:
    """Sections 1-4 of the report: directions, selection, synthetic pairs, the U-Net's training."""
    from saliency.selection import Selection

    sel = Selection.load(out / "select" / "selection.json")
    unet = json.loads((out / "unet" / "summary.json").read_text())
    manifest = json.loads((out / "synth" / "manifest.json").read_text())
    signals = ", ".join(f"{k} {v:.2f}" for k, v in sel.provenance.get("signals", {}).items())
    score = (
        f", score {sel.provenance['score']:.3f} ({signals})" if "score" in sel.provenance else " (a selection file without select's scores)"
    )
    rejected = ", ".join(f"{k} {v:.1%}" for k, v in manifest["rejection_rate"].items())
    return [
        f"# Demo report: {gen}",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')}; stages run this time: "
        + (", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) or "none (all reused)")
        + f"; wall {wall / 60:.1f} min.",
        "",
        "## 1. Directions",
        f"Directions file: `{directions}`.",
        "",
        "![overview](pictures/directions_overview.png)",
        "",
        "## 2. Selection",
        f"Chosen: {chosen_label(sel)}, shift {sel.shift:g}, background turns {sel.polarity}{score}; mask rule `{sel.rule}`.",
        "",
        "![chosen direction](pictures/chosen_direction.png)",
        "",
        "![candidates](pictures/candidates.png)",
        "",
        "## 3. Synthetic pairs",
        f"{manifest['count']} pairs, acceptance {manifest['acceptance_rate']:.1%}, rejected by {rejected}; mean mask area "
        f"{manifest.get('mean_mask_area', float('nan')):.3f}, {manifest.get('mask_border_share', float('nan')):.1%} of mask pixels in the outer 5% band.",
        "",
        "![contact sheet](pictures/synth_contact_sheet.png)",
        "",
        "## 4. U-Net",
        training_data_line(unet.get("config", {}).get("backgrounds")),
        "",
        f"Validation IoU (synthetic held-out pairs): first {unet['first_val_iou']:.3f}, best {unet['best_val_iou']:.3f} at step {unet['best_step']} of {unet['steps']}.",
        "",
        "![training curves](pictures/training_curves.png)",
        "",
    ]


def training_data_line(backgrounds: str | None) -> str:
    """Which of the demo's two cases this run is in: a fresh clone has no unlabeled photos, so its
    U-Net learns from the GAN's pairs alone and scores lower than a run with photos to paste onto."""
    if backgrounds:
        return f"Trained on the synthetic pairs, their objects also pasted onto the unlabeled photos of `{backgrounds}`."
    return (
        "Trained on the synthetic pairs alone: no unlabeled photos were found (`--photos DIR` gives real backgrounds to paste "
        "the GAN's objects onto, which scores higher: docs/results.md has both cases' figures)."
    )


PAPER_METRICS = (("max_fbeta", "max F"), ("iou", "IoU"), ("accuracy", "accuracy"))


def standing(rows: list[dict], unet: Path, dataset: str) -> str:
    """One plain sentence: the demo's U-Net against the centre prior and the shipped model, metric by metric."""
    ours = next((r for r in rows if r.get("checkpoint") and Path(r["checkpoint"]).resolve() == unet.resolve()), None)
    if ours is None:
        return f"The U-Net this demo trained has no row on {dataset}."

    def figures(r: dict) -> str:
        return " / ".join(f"{r[k]:.3f}" for k, _ in PAPER_METRICS)

    parts = []
    for label, row in (
        ("the centre prior", next((r for r in rows if r["model"] == "center-prior"), None)),
        ("the shipped model", next((r for r in rows if r["model"].startswith("shipped")), None)),
    ):
        if row is None:
            continue
        above = [name for k, name in PAPER_METRICS if ours[k] > row[k]]
        verdict = (
            "above it in all three" if len(above) == 3 else "below it in all three" if not above else f"above it only in {', '.join(above)}"
        )
        parts.append(f"{label} ({figures(row)}): {verdict}")
    return (
        f"**Where the U-Net this demo trained stands on {dataset}** (max F / IoU / accuracy {figures(ours)}): against "
        + "; against ".join(parts)
        + "."
    )


def results_lines(out: Path, found: list[str], missing: list[str], photos: Path | None, sheets: dict[str, Path] | None) -> list[str]:
    """Sections 5-6: each benchmark's table and pictures (copied into OUT/pictures), the models on photos."""
    pictures = out / "pictures"
    lines = ["## 5. Benchmarks"]
    for name in found:
        bench = out / "bench" / name
        lines += ["", f"### {name}", "", (bench / "results.md").read_text().split("\n", 2)[-1].strip(), ""]
        if (bench / "results.json").is_file():
            lines += [standing(json.loads((bench / "results.json").read_text())["results"], out / "unet" / "best.safetensors", name), ""]
        for png in ["pr_curves.png"] + sorted(p.name for p in bench.glob("grid-*.png")):
            shutil.copyfile(bench / png, pictures / f"{name}-{png}")
            lines += [f"![{name} {png}](pictures/{name}-{png})", ""]
    lines += ["", "## 6. The models on photos", ""]
    for name, sheet in (sheets or {}).items():
        lines += [
            f"`{name}` on scikit-image's bundled photos: map and cut-out at full resolution, as `saliency predict --cutout` writes them:",
            "",
            f"![{name}](pictures/{sheet.name})",
            "",
        ]
    if photos is not None:
        lines += [f"Maps of each model on photos of `{photos}` (no masks needed to look):", "", "![photos](pictures/photos.png)", ""]
    if missing:
        lines += [
            "",
            "Not found here: "
            + ", ".join(missing)
            + f". Rerun with `saliency demo --download` to fetch them from their official sources, put them in their official layouts under `{candidate_roots(missing[0])[0].parent}` (see the README), or name a set's folder with `--bench-root NAME=DIR`.",
        ]
    return lines


def write_report(
    out: Path,
    gen: str,
    directions: Path,
    found: list[str],
    missing: list[str],
    timings: dict,
    wall: float,
    weights: str | None = None,
    device_name: str = "auto",
    photos: Path | None = None,
    sheets: dict[str, Path] | None = None,
) -> Path:
    pictures = out / "pictures"
    pictures.mkdir(exist_ok=True)
    grids = direction_grids(out, gen, directions, weights, device_name)
    for src, name in [
        (out / "select" / "chosen_direction.png", "chosen_direction.png"),
        (grids / "overview_00.png", "directions_overview.png"),
        (out / "select" / "candidates.png", "candidates.png"),
        (out / "synth" / "contact_sheet.png", "synth_contact_sheet.png"),
        (out / "unet" / "curves.png", "training_curves.png"),
    ]:
        if src.exists():
            shutil.copyfile(src, pictures / name)
    lines = pipeline_lines(out, gen, directions, timings, wall) + results_lines(out, found, missing, photos, sheets)
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
