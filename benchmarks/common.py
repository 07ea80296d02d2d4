"""Shared plumbing for benchmark scripts: timing, a markdown table on stdout, JSON on disk, a server to load."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from saliency.files import write_json
from saliency.paths import data_dir


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_per_call(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median seconds per call over `repeats` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def train_step_img_per_s(model: torch.nn.Module, batch: int, size: int, device: torch.device, repeats: int) -> float:
    """Images/s of one Adam step of a saliency model on random data: the model's own cost, with no
    data loading, the floor the training pipeline is measured against."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size, device=device)
    y = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()

    def step() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return batch / time_per_call(step, device, repeats)


def machine(device: torch.device) -> dict[str, Any]:
    info = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def report(name: str, rows: list[dict[str, Any]], device: torch.device, out: str | Path | None = None) -> Path:
    """Print rows as a markdown table and write them with the machine description as JSON."""
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    path = Path(out) if out else data_dir() / "benchmarks" / f"{name}.json"
    write_json(path, {"benchmark": name, "machine": machine(device), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows})
    print(f"\nwrote {path}")
    return path
