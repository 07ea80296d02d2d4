"""The stages of `scripts/device_check.sh`, each timed; one table at the end.

Stages: planted discover + select + synth (the planted recovery, |cos| to d*); planted discovery
twice with --deterministic, compared bit for bit; the recovery rate over seeds; objects-64 synth
from its shipped selection; train-unet (AMP on CUDA); bench on ECSSD images; ONNX export. Sizes
are the GPU's with --device cuda and small ones on a CPU, so CI can run the same script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {  # (recovery seeds, deterministic discovery steps, objects-64 pairs, U-Net steps, U-Net size, ECSSD images)
    "cuda": (8, 300, 4000, 200, 128, 100),
    "cpu": (1, 100, 200, 10, 64, 20),
}
PLANTED = {  # the planted stage's own flags: the registry's defaults on a GPU, a shorter run on a CPU (CI's time)
    "cuda": ([], [], 400),
    "cpu": (["--steps", "300"], ["--random-starts", "1", "--optimise-steps", "50"], 100),
}


def saliency(*args: str, log: Path) -> None:
    with open(log, "a") as f:
        f.write("$ saliency " + " ".join(args) + "\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-m", "saliency", *args], stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f"saliency {args[0]} exited {proc.returncode}; see {log}")


def planted_cos(directions: Path) -> float:

    from discovery import load_directions
    from saliency.generators import build_generator

    D = load_directions(directions).directions
    return float(((D / D.norm(dim=1, keepdim=True)) @ build_generator("planted").planted_direction).abs().max())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = p.parse_args()
    seeds, det_steps, pairs, steps, size, images = SIZES[args.device]
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    work = args.work or Path(tempfile.mkdtemp(prefix="device-check-"))
    work.mkdir(parents=True, exist_ok=True)
    log = (out or work) / "device_check.log"
    dev = ["--device", args.device]
    ecssd = ROOT / "data" / "device-pack" / "ECSSD"
    root = ["--root", str(ecssd)] if ecssd.is_dir() else []
    rows: list[dict] = []

    def stage(name: str, fn) -> None:
        t = time.perf_counter()
        try:
            result, status = fn(), "ok"
        except Exception as e:  # a failed stage is a row of the table, not the end of the check
            result, status = str(e)[:160], "FAILED"
        rows.append({"stage": name, "seconds": round(time.perf_counter() - t, 1), "status": status, "result": result})
        print(f"{name}: {status} ({rows[-1]['seconds']} s) {result}", flush=True)

    def planted() -> str:
        discover_flags, select_flags, n = PLANTED[args.device]
        saliency("discover", "--generator", "planted", "--out", str(work / "disc"), "--no-grids", *discover_flags, *dev, log=log)
        cos = planted_cos(work / "disc" / "directions.safetensors")
        saliency(
            "select",
            "--generator",
            "planted",
            "--directions",
            str(work / "disc" / "directions.safetensors"),
            "--out",
            str(work / "sel"),
            *select_flags,
            *dev,
            log=log,
        )
        saliency(
            "synth",
            "--generator",
            "planted",
            "--selection",
            str(work / "sel" / "selection.json"),
            "--n",
            str(n),
            "--out",
            str(work / "synth-planted"),
            *dev,
            log=log,
        )
        sel = json.loads((work / "sel" / "selection.json").read_text())
        return f"|cos| to d* {cos:.3f}; selected score {sel['score']:.3f} ({sel['source']})"

    def deterministic() -> str:
        for run in ("a", "b"):
            saliency(
                "discover",
                "--generator",
                "planted",
                "--deterministic",
                "--steps",
                str(det_steps),
                "--out",
                str(work / f"det-{run}"),
                "--no-grids",
                *dev,
                log=log,
            )
        from discovery import load_directions

        a, b = (load_directions(work / f"det-{r}" / "directions.safetensors").directions for r in ("a", "b"))
        if not torch.equal(a, b):  # the files' metadata holds timings, so the tensors are compared
            raise RuntimeError(f"two --deterministic runs differ (max |a - b| {float((a - b).abs().max()):.2e})")
        return "two runs bit-identical"

    def recovery() -> str:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from planted_recovery import recovery as run

        found, picked = zip(*(run(s, "float32", device=args.device, select=True) for s in range(seeds)))
        return (
            f"discovery alone {sum(c > 0.9 for c in found)}/{seeds} seeds (|cos| " + " ".join(f"{c:.2f}" for c in found) + "); "
            f"with select {sum(c > 0.9 for c in picked)}/{seeds}"
        )

    def objects() -> str:
        saliency("synth", "--generator", "objects-64", "--n", str(pairs), "--out", str(work / "synth-objects"), *dev, log=log)
        m = json.loads((work / "synth-objects" / "manifest.json").read_text())
        return f"{m['count']} pairs, acceptance {m['acceptance_rate']:.2f}, mask area {m['mean_mask_area']:.2f}, border {m['mask_border_share']:.3f}"

    def unet() -> str:
        saliency(
            "train-unet",
            "--generator",
            "objects-64",
            "--data",
            str(work / "synth-objects"),
            "--out",
            str(work / "unet"),
            "--steps",
            str(steps),
            "--batch-size",
            "32",
            "--size",
            str(size),
            "--val-every",
            str(steps),
            *dev,
            log=log,
        )
        s = json.loads((work / "unet" / "summary.json").read_text())
        return f"{steps} steps{' with AMP' if args.device == 'cuda' else ''}, validation IoU {s['best_val_iou']:.3f}"

    def bench() -> str:
        saliency(
            "bench",
            "--dataset",
            "ecssd",
            *root,
            "--limit",
            str(images),
            "--model",
            str(work / "unet" / "best.safetensors"),
            "--model",
            "wctr",
            "--out",
            str(work / "bench"),
            *dev,
            log=log,
        )
        r = {x["model"]: x for x in json.loads((work / "bench" / "results.json").read_text())["results"]}
        u = next(v for k, v in r.items() if k != "wctr")
        return f"{images} images: U-Net max F {u['max_fbeta']:.3f}, wCtr {r['wctr']['max_fbeta']:.3f}"

    def onnx() -> str:
        saliency("export", "--checkpoint", str(work / "unet" / "best.safetensors"), "--onnx", str(work / "model.onnx"), log=log)
        return f"{(work / 'model.onnx').stat().st_size / 1e6:.1f} MB, checked against PyTorch"

    def recipe() -> str:
        proc = subprocess.run(
            [
                "bash",
                str(ROOT / "scripts" / "paper_recipe.sh"),
                "biggan-128",
                "--smoke",
                "--device",
                args.device,
                "--out",
                str(work / "recipe"),
            ],
            capture_output=True,
            text=True,
        )
        with open(log, "a") as f:
            f.write(proc.stdout + proc.stderr)
        if proc.returncode:
            raise RuntimeError(f"paper_recipe.sh --smoke exited {proc.returncode}; see {log}")
        return "discover, select, synth, train-unet, bench: " + (work / "recipe" / "table.md").read_text().splitlines()[-1]

    import torch

    print(
        f"device check on {args.device}: torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name(0)}" if args.device == "cuda" and torch.cuda.is_available() else ""),
        flush=True,
    )
    for name, fn in [
        ("planted discover+select+synth", planted),
        ("deterministic discovery x2", deterministic),
        (f"planted recovery, {seeds} seeds", recovery),
        ("objects-64 synth", objects),
        ("train-unet", unet),
        ("bench ECSSD", bench),
        ("ONNX export", onnx),
    ] + ([("paper recipe --smoke (biggan-128)", recipe)] if args.device == "cuda" else []):
        stage(name, fn)
    print("\n| stage | seconds | status | result |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds']} | {r['status']} | {r['result']} |")
    if out:
        (out / "device_check.json").write_text(json.dumps({"device": args.device, "torch": torch.__version__, "rows": rows}, indent=2))
    return 1 if any(r["status"] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
