"""Training pairs streamed from WebDataset tar shards: local files, http(s) URLs or `pipe:`
commands (the webdataset library's URL forms, brace patterns included), so that training at
scale reads from object storage instead of a folder of millions of PNGs.

The stream is deterministic: shards in their listed order, then a shuffle buffer seeded by
(seed, epoch); batch s takes the stream's positions s*B .. s*B+B-1 (this rank's share under
DDP) and each sample's augmentation is seeded by its position, as in saliency.unet.data. A
resumed run skips the undecoded bytes of the positions already trained on, so it sees exactly
the batches an uninterrupted run would. The first `hold_out` samples are the validation set and
never enter training.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import torch

from saliency.errors import UserError
from saliency.pairs import decode, raw_samples, shard_urls
from saliency.unet.data import AugmentConfig, PairDataset


class StreamSource:
    """Training batches from a WebDataset stream (the `batch(step, n, stream)` interface)."""

    def __init__(
        self,
        data: str | Path,
        size: int,
        augment: AugmentConfig | None,
        seed: int = 0,
        buffer: int = 2000,
        hold_out: int = 64,
        world: int = 1,
    ) -> None:
        self.urls, self.seed, self.buffer, self.hold_out, self.world = shard_urls(data), seed, buffer, hold_out, world
        self.decoder = PairDataset([], size, augment)
        self.plain = PairDataset([], size, None)
        self._iter: Iterator[dict] | None = None
        self._position = 0

    def _stream(self) -> Iterator[dict]:
        epoch = 0
        while True:
            rng, pool, seen = random.Random(self.seed * 7919 + epoch), [], 0
            for i, sample in enumerate(raw_samples(self.urls)):
                if i < self.hold_out:
                    continue
                seen += 1
                pool.append(sample)
                if len(pool) >= self.buffer:
                    yield pool.pop(rng.randrange(len(pool)))
            if seen == 0:
                raise UserError(f"{self.urls[0]}: no training samples beyond the {self.hold_out} held out for validation")
            rng.shuffle(pool)
            yield from pool
            epoch += 1

    def _take(self, position: int) -> dict:
        if self._iter is None or position < self._position:
            self._iter, self._position = self._stream(), 0
        while self._position < position:  # resume: skip without decoding
            next(self._iter)
            self._position += 1
        self._position += 1
        return next(self._iter)

    def batch(self, step: int, n: int, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first = (step * self.world + stream) * n
        items = []
        for j in range(n):
            position = first + j
            items.append(self.decoder.finish(*decode(self._take(position)), seed=(self.seed * 1_000_003 + position) % (2**32)))
        return tuple(torch.stack(t) for t in zip(*items))

    def validation(self, batch: int = 64) -> list[tuple[torch.Tensor, ...]]:
        items = [self.plain.finish(*decode(s), seed=0) for s, _ in zip(raw_samples(self.urls), range(self.hold_out))]
        return [tuple(torch.stack(t) for t in zip(*items[i : i + batch])) for i in range(0, len(items), batch)]
