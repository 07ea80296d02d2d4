"""The shared training loop: what a kill, a resume, a changed setting and a time limit do, on a
trainer small enough to check by hand; and every trainer uses it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from saliency.errors import UserError
from saliency.training import Interrupted, TrainingLoop, interrupt_after, step_generator

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Config:
    """A run's settings; those in RESUMABLE_CHANGES may differ on resume."""

    RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every")

    steps: int = 10
    lr: float = 0.1
    seed: int = 0
    checkpoint_every: int = 4  # checkpoints at 4 and 8
    log_every: int = 3  # log lines at 3, 6, 9 and the last step


def fit(out: Path, cfg: Config, time_limit: float | None = None) -> torch.Tensor:
    """Gradient steps on a noisy quadratic: the weights depend on every step's draw, in order."""
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=cfg.lr, momentum=0.9)

    def load(state: dict) -> None:
        with torch.no_grad():
            w.copy_(state["w"])
        opt.load_state_dict(state["opt"])

    loop = TrainingLoop(out, cfg, name="toy", progress=False, time_limit=time_limit)
    loop.resume(load)
    for step in loop.steps():
        target = torch.randn(3, generator=step_generator(cfg.seed, step))
        loss = ((w - target) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loop.due(cfg.log_every):
            loop.log(loss=round(loss.item(), 6))
        if loop.due(cfg.checkpoint_every):
            loop.save({"w": w.detach().clone(), "opt": opt.state_dict()})
    return w.detach()


def logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_run_killed_between_checkpoints_resumes_to_the_same_weights_and_log(tmp_path):
    whole = fit(tmp_path / "whole", Config())
    with pytest.raises(Interrupted), interrupt_after(7):
        fit(tmp_path / "split", Config())
    # killed after step 7: the checkpoint holds step 4, the log already has step 6
    assert torch.load(tmp_path / "split" / "train_state.pt", weights_only=True)["step"] == 4
    assert logged_steps(tmp_path / "split") == [3, 6]
    resumed = fit(tmp_path / "split", Config())
    assert torch.equal(whole, resumed)
    assert logged_steps(tmp_path / "split") == logged_steps(tmp_path / "whole") == [3, 6, 9, 10]
    strip = lambda out: [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in (out / "log.jsonl").read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "split") == strip(tmp_path / "whole")


def test_the_interrupt_hook_only_acts_inside_its_block(tmp_path):
    with interrupt_after(2):
        pass
    fit(tmp_path, Config(steps=3))
    assert torch.load(tmp_path / "train_state.pt", weights_only=True)["step"] == 3


def test_resume_refuses_a_changed_setting_and_accepts_a_longer_run(tmp_path):
    fit(tmp_path, Config(steps=4))
    with pytest.raises(UserError, match=r"train_state.pt was written with other settings \(lr: 0.1 -> 0.2\); use another --out"):
        fit(tmp_path, Config(steps=4, lr=0.2))
    longer = fit(tmp_path, Config(steps=10))  # steps may grow: the run continues from step 4
    assert torch.equal(longer, fit(tmp_path / "straight", Config(steps=10)))


def test_a_time_limit_checkpoints_the_step_it_ends_on_and_the_run_continues(tmp_path):
    fit(tmp_path, Config(), time_limit=0.0)  # out of time after the first step
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    assert state["step"] == 1 and logged_steps(tmp_path) == [1]
    assert torch.equal(fit(tmp_path, Config()), fit(tmp_path / "whole", Config()))


def test_steps_draw_distinct_streams():
    draws = {(s, k): torch.randn(4, generator=step_generator(0, s, k)) for s in range(3) for k in (0, 1 << 28, 2 << 28)}
    values = list(draws.values())
    assert all(not torch.equal(a, b) for i, a in enumerate(values) for b in values[i + 1 :])
    assert torch.equal(torch.randn(4, generator=step_generator(0, 2)), draws[(2, 0)])
    # the CPU generator keeps a seed's low 32 bits: a stream 2**32 away would repeat stream 0
    assert torch.equal(torch.randn(4, generator=step_generator(0, 2, 1 << 32)), draws[(2, 0)])


def test_every_trainer_runs_on_the_shared_loop():
    """Discovery, inversion, GAN and U-Net training import the loop, and none keeps its own
    checkpoint reader or log truncation."""
    for path in ("discovery/trainer.py", "saliency/real_photos/inversion.py", "saliency/gan/train.py", "saliency/unet/train.py"):
        source = (ROOT / path).read_text()
        assert "from saliency.training import TrainingLoop" in source, path
        assert "truncate_jsonl" not in source and "safe_torch_load" not in source and "changed_settings" not in source, path
