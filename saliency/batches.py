"""Batches that are a pure function of (seed, step), for every training loop that must resume.

Step s takes global positions s*B .. s*B+B-1 of an endless sequence of per-epoch permutations,
and each item carries a seed derived from its position: a run killed at any step and restarted
draws exactly the items (and augmentations) an uninterrupted run would. The U-Net and the GAN
trainers both use it; under DDP each rank takes its share of every global batch.
"""

from __future__ import annotations

from typing import Iterator

import torch


class StepBatches:
    """Batch sampler: the index lists of steps start..steps-1 (this rank's share of each global batch)."""

    def __init__(self, n: int, batch_size: int, start: int, steps: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.start, self.steps, self.seed = n, batch_size, start, steps, seed
        self.rank, self.world = rank, world
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))}
        return self._perms[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        items = []
        for j in range(self.rank, self.batch_size, self.world):
            q = step * self.batch_size + j
            items.append((int(self._perm(q // self.n)[q % self.n]), (self.seed * 1_000_003 + q) % (2**32)))
        return items

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return self.steps - self.start
