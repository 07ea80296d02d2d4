"""Device choice shared by every command (`--device auto|cpu|cuda[:N]`)."""

from __future__ import annotations

import torch

from saliency.errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def make_deterministic() -> None:
    """Deterministic kernels everywhere (`--deterministic`): torch raises where an operation has
    no deterministic implementation instead of silently varying; cuDNN autotuning off; cuBLAS
    told to use a fixed workspace, which its determinism needs."""
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
