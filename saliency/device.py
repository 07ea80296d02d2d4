"""Device choice shared by every command (`--device auto|cpu|cuda[:N]`)."""

from __future__ import annotations

import sys

import torch

from saliency.errors import UserError


def pick_device(name: str = "auto", fallback: bool = False) -> torch.device:
    """The device asked for. CUDA asked for and absent is an error for stages whose runs are
    meant for a GPU; tools that only apply a model (`fallback`) warn and run on the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name!r} is not a device: write auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {name!r}: this project runs on auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        if fallback:
            print(f"warning: --device {name} asked for, but no CUDA GPU is visible: running on the CPU", file=sys.stderr)
            return torch.device("cpu")
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def describe(device: torch.device) -> str:
    """One line for a log: which device ran the work."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def make_deterministic() -> None:
    """Deterministic kernels everywhere (`--deterministic`): torch raises where an operation has
    no deterministic implementation instead of silently varying; cuDNN autotuning off; cuBLAS
    told to use a fixed workspace, which its determinism needs."""
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
