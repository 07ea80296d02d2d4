"""Discovery at scale: a batch computed in parts (and over processes) makes the one-pass update;
bf16 autocast and a smaller reconstructor input run; a resumed run in parts ends as one that
never stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from discovery.trainer import Discoverer, DiscoveryConfig, run_discovery
from saliency.errors import UserError
from saliency.generators import build_generator
from saliency.training import Interrupted, interrupt_after

CPU = torch.device("cpu")


class Float64Discoverer(Discoverer):
    """Everything in float64: the generator, both networks and the drawn latents and shifts."""

    def sample(self, g, n):
        z, classes, k, eps = super().sample(g, n)
        return z.double(), classes, k, eps.double()


def discoverer(cfg: DiscoveryConfig) -> Discoverer:
    d = Float64Discoverer(build_generator("planted").double(), cfg, CPU)
    d.deformator.double(), d.reconstructor.double()
    d.opt_a = torch.optim.Adam(d.deformator.parameters(), lr=cfg.lr)
    d.opt_r = torch.optim.Adam(d.reconstructor.parameters(), lr=cfg.lr)
    return d


def weights(d: Discoverer) -> dict[str, torch.Tensor]:
    return {f"A.{k}": v for k, v in d.deformator.state_dict().items()} | {f"R.{k}": v for k, v in d.reconstructor.state_dict().items()}


@pytest.mark.parametrize("deformator", ["ortho", "linear"])
def test_accumulate_makes_the_one_pass_update_in_float64(deformator):
    """--accumulate 2 and 4 (parts of 8 and 4 of a 16-batch) against the one-pass step on the same
    16 samples: the weights after two steps agree to 1e-6 (in float64 they agree to rounding)."""
    cfg = DiscoveryConfig(generator="planted", deformator=deformator, directions=4, reconstructor="lenet", batch_size=16, lr=1e-2)
    runs = {}
    for parts in (1, 2, 4):
        d = discoverer(replace(cfg, accumulate=parts))
        stats = [d.train_step(step) for step in range(2)]
        runs[parts] = (weights(d), stats)
    one, _ = runs[1]
    for parts in (2, 4):
        got, stats = runs[parts]
        assert max(float((got[k] - one[k]).abs().max()) for k in one if one[k].is_floating_point()) < 1e-6
        assert stats[-1]["loss"] == pytest.approx(runs[1][1][-1]["loss"], abs=1e-9)
    moved = discoverer(cfg)
    assert max(float((one[k] - weights(moved)[k]).abs().max()) for k in one if one[k].is_floating_point()) > 1e-3, (
        "the steps moved the weights"
    )


def test_a_batch_that_does_not_split_is_refused():
    with pytest.raises(UserError, match="--batch-size 10 does not split into 4 part"):
        discoverer(DiscoveryConfig(generator="planted", reconstructor="lenet", batch_size=10, accumulate=4))


def test_bf16_autocast_and_a_smaller_reconstructor_input_run_on_cpu(tmp_path):
    G = build_generator("planted")
    cfg = DiscoveryConfig(
        generator="planted", directions=4, reconstructor="lenet", batch_size=8, steps=3, amp="bf16", reconstructor_size=16
    )
    d = Discoverer(G, cfg, CPU)
    seen = {}
    d.reconstructor.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))
    stats = d.train_step(0)
    assert seen["x"].shape[-1] == 16 and torch.isfinite(torch.tensor(stats["loss"]))
    result = run_discovery(G, cfg, tmp_path, CPU, progress=False, render_grids=False)
    assert torch.isfinite(load_file(str(result.directions_path))["directions"]).all()


def test_a_run_in_parts_resumes_as_if_never_stopped(tmp_path):
    G = build_generator("planted")
    cfg = DiscoveryConfig(generator="planted", directions=4, reconstructor="lenet", batch_size=8, steps=6, checkpoint_every=2, accumulate=2)
    whole = run_discovery(G, cfg, tmp_path / "whole", CPU, progress=False, render_grids=False)
    with pytest.raises(Interrupted), interrupt_after(3):
        run_discovery(G, cfg, tmp_path / "split", CPU, progress=False, render_grids=False)
    split = run_discovery(G, cfg, tmp_path / "split", CPU, progress=False, render_grids=False)
    a, b = (load_file(str(r.directions_path))["directions"] for r in (whole, split))
    assert torch.equal(a, b)


@pytest.mark.slow
def test_two_torchrun_processes_find_the_one_process_directions(tmp_path):
    """`torchrun --nproc_per_node 2 -m saliency discover` against one process with the same global
    batch: the same directions to 1e-5 after 6 steps (float32; the two differ only in the order of
    float sums: the parts' deformator gradients are summed across processes)."""
    common = ["discover", "--generator", "planted", "--steps", "6", "--batch-size", "8", "--directions", "4"]
    common += ["--reconstructor", "lenet", "--checkpoint-every", "3", "--no-grids", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "saliency", *common, "--out", str(tmp_path / "one")], env=env, capture_output=True, text=True
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "saliency",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = (load_file(str(tmp_path / run / "directions.safetensors"))["directions"] for run in ("one", "two"))
    assert (a - b).abs().max() < 1e-5
    assert not (tmp_path / "two" / "log.jsonl").read_text().count("\n") > 6 // 50 + 1, "one process writes the log"
