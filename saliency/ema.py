"""An exponential moving average of a network's weights (Polyak averaging), shared by the GAN's
EMA generator and the U-Net student's mean-teacher copy.

The average smooths the last steps' noise out of the weights: a generator's samples get cleaner,
and a student trained on noisy pseudo-masks follows their consensus rather than the last batch's
mistakes (Tarvainen & Valpola 2017, whose "mean teacher" is this average). Buffers (batch-norm
statistics) are copied, not averaged: they describe the live network's activations.
"""

from __future__ import annotations

import torch


def ema_decay(step: int, ema: float) -> float:
    """The EMA's decay at `step`, warmed up as (1 + step) / (10 + step): a plain 0.999 keeps 78%
    of the random initial weights after 250 steps, so early sample grids showed noise."""
    return min(ema, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(average: torch.nn.Module, live: torch.nn.Module, step: int, ema: float) -> None:
    """average <- decay * average + (1 - decay) * live for parameters; buffers copied."""
    decay = ema_decay(step, ema)
    for pa, p in zip(average.parameters(), live.parameters()):
        pa.lerp_(p, 1 - decay)
    for ba, b in zip(average.buffers(), live.buffers()):
        ba.copy_(b)
