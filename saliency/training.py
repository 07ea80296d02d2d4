"""The resumable training loop that discovery, inversion, GAN and U-Net training share.

A trainer owns its networks and what one step does; this module owns what makes a run safe to
kill and restart with the same command:
- `step_generator`: each step draws from its own seeded stream, so a resumed run draws what an
  uninterrupted one would have drawn;
- `TrainingLoop`: the checkpoint (written atomically; on resume, refused if the run's settings
  changed), the JSONL log cut back to the checkpoint's step, the progress bar, when each interval
  is due, and an optional time limit that ends the run with a checkpoint;
- `interrupt_after`: the one hook for tests, a kill at a chosen step (synth's shard loop honours
  it too, through `interruption_point`).

A trainer reads as torchvision's reference loops do::

    loop = TrainingLoop(out, cfg, name="invert", checkpoint="checkpoint.pt")
    loop.resume(load_state)
    for step in loop.steps():
        ...one optimisation step, drawing from step_generator(cfg.seed, step)...
        if loop.due(cfg.log_every):
            loop.log(loss=...)
        if loop.due(cfg.checkpoint_every):
            loop.save(state_dict())
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from saliency.errors import UserError
from saliency.files import safe_torch_load, torch_save, truncate_jsonl
from saliency.resume import changed_settings


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The random generator of one step of a run. `stream` offsets the seed so one step can hold
    several independent draws: a trainer's streams must be more than its step count apart, and
    below 2**32 (torch's CPU generator keeps a seed's low 32 bits), so the GAN spaces its four by
    2**28. Inversion's 7 and the U-Net's 0x5C0 date from earlier versions; they are kept so that
    runs saved then resume with the same draws."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step + stream) % 2**63)


class Interrupted(Exception):
    """Raised by a loop inside `interrupt_after`: the run stopped as a kill would have left it."""


_interrupt_step: int | None = None


@contextlib.contextmanager
def interrupt_after(step: int) -> Iterator[None]:
    """Inside this block a training loop raises `Interrupted` once step `step` has finished (its
    log line and any checkpoint due then included) and before the next begins, saving nothing
    more: what `kill -9` at that moment leaves. Resume drills run the same command afterwards and
    compare with a run that never stopped."""
    global _interrupt_step
    before, _interrupt_step = _interrupt_step, step
    try:
        yield
    finally:
        _interrupt_step = before


def interruption_point(name: str, done: int) -> None:
    """Where a loop that is not a TrainingLoop (synth's shards) lets `interrupt_after` stop it,
    once `done` units of work are finished."""
    if done == _interrupt_step:
        raise Interrupted(f"{name} interrupted after {done}")


class TrainingLoop:
    """Steps from where the last checkpoint stopped to `cfg.steps`, and the run's files in `out`.

    `cfg` is the run's config dataclass (with `steps`, and `RESUMABLE_CHANGES`: the fields that
    may differ on resume). `main` is False on all but the first torchrun process, which alone
    writes. `time_limit` (seconds of this run) ends the loop early: the step at which it runs out
    counts as due for every interval, so it is checkpointed and the caller exports what it has.
    """

    def __init__(
        self,
        out: str | Path,
        cfg: Any,
        *,
        name: str,
        checkpoint: str = "train_state.pt",
        progress: bool = True,
        main: bool = True,
        time_limit: float | None = None,
        restart_flag: str | None = None,
    ) -> None:
        self.out, self.cfg, self.name, self.main = Path(out), cfg, name, main
        self.checkpoint_path, self.log_path = self.out / checkpoint, self.out / "log.jsonl"
        self.progress, self.time_limit, self.restart_flag = progress, time_limit, restart_flag
        self.start = self.step = 0
        self.t0 = time.perf_counter()
        self._bar: tqdm | None = None
        self._out_of_time: tuple[int, bool] = (-1, False)
        if main:
            self.out.mkdir(parents=True, exist_ok=True)

    def resume(self, load: Callable[[dict[str, Any]], None], restart: bool = False) -> dict[str, Any] | None:
        """Load the last checkpoint through `load(state)` and return the state (None for a fresh
        run); the log keeps its lines up to that step. `restart` discards both files first."""
        if restart and self.main:
            self.checkpoint_path.unlink(missing_ok=True)
            self.log_path.unlink(missing_ok=True)
        state = None
        if self.checkpoint_path.exists() and not restart:
            state = safe_torch_load(self.checkpoint_path, f"{self.name} checkpoint")
            diff = changed_settings(state["config"], self.cfg)
            if diff:
                fix = (
                    f"use another --out, or pass {self.restart_flag} to discard it"
                    if self.restart_flag
                    else "use another --out or delete it"
                )
                raise UserError(f"{self.checkpoint_path} was written with other settings ({'; '.join(diff)}); {fix}")
            load(state)
            self.start = int(state["step"])
        if self.main:
            truncate_jsonl(self.log_path, self.start)
        return state

    def steps(self) -> Iterator[int]:
        """The steps still to run. Between two steps: the progress bar moves, the test hook may
        interrupt, and the time limit may end the loop."""
        self._bar = tqdm(total=self.cfg.steps, initial=self.start, desc=self.name, disable=not (self.progress and self.main))
        self.t0 = time.perf_counter()
        try:
            for step in range(self.start, self.cfg.steps):
                self.step = step
                yield step
                self._bar.update(1)
                interruption_point(self.name, self.done)
                if self.out_of_time:
                    break
        finally:
            self._bar.close()

    @property
    def done(self) -> int:
        """Steps finished once the current one ends."""
        return self.step + 1

    @property
    def seconds(self) -> float:
        """Seconds since this run (not the whole resumed history) began its steps."""
        return time.perf_counter() - self.t0

    @property
    def out_of_time(self) -> bool:
        """The time limit has passed; measured once per step, so every check of a step agrees."""
        if self._out_of_time[0] != self.step:
            self._out_of_time = (self.step, self.time_limit is not None and self.seconds > self.time_limit)
        return self._out_of_time[1]

    def due(self, every: int) -> bool:
        """Whether an interval of `every` steps ends with the current step: at its multiples, at
        the last step, and when the time limit ends the run. `every` 0 never is."""
        return every > 0 and (self.done % every == 0 or self.done == self.cfg.steps or self.out_of_time)

    def log(self, **record: Any) -> None:
        """One JSONL line for the current step (with this run's seconds); the first process only."""
        if self.main:
            with open(self.log_path, "a") as f:
                f.write(json.dumps({"step": self.done, **record, "seconds": round(self.seconds, 2)}) + "\n")

    def show(self, **values: str) -> None:
        """Figures beside the progress bar."""
        if self._bar is not None:
            self._bar.set_postfix(values)

    def save(self, state: dict[str, Any]) -> None:
        """The checkpoint of the current step: `state` plus the step and the config."""
        if self.main:
            torch_save({**state, "step": self.done, "config": asdict(self.cfg)}, self.checkpoint_path)
