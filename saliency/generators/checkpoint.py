"""Loading a state dict into a backend, with a readable report when the file is of another model."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from saliency.errors import UserError


def state_dict_mismatches(model: nn.Module, state: Mapping[str, torch.Tensor], limit: int = 5) -> list[str]:
    own = model.state_dict()
    problems = [f"missing key {k}" for k in own if k not in state]
    problems += [f"unexpected key {k}" for k in state if k not in own]
    problems += [
        f"{k}: file has shape {tuple(state[k].shape)}, model expects {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return problems[:limit] if limit else problems


def load_checked(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path, arch: str) -> None:
    """`load_state_dict(strict=True)` whose error names the file and its first mismatches."""
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors; expected {arch} weights")
    problems = state_dict_mismatches(model, state)
    if problems:
        raise UserError(f"{path} does not hold {arch} weights (another architecture?); first mismatches: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
