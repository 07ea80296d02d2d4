"""Fault drills: kill -9 during each long stage, then rerun the same command -> the same artefacts;
a corrupt input of each kind -> one clear error line, no traceback."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from discovery import load_directions
from saliency.generators import build_generator
from saliency.synthesis import SynthConfig, synthesize
from saliency.unet.model import load_model

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def saliency(*args: str) -> list[str]:
    return [sys.executable, "-m", "saliency", *args]


def kill_when(cmd: list[str], ready) -> None:
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not ready():
        assert proc.poll() is None, "the stage ended before it could be killed; make the drill longer"
        assert time.time() < deadline, "the stage made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def log_steps(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0


@pytest.mark.slow
def test_kill_9_during_discover(tmp_path):
    args = [
        "discover",
        "--generator",
        "planted",
        "--steps",
        "150",
        "--checkpoint-every",
        "25",
        "--log-every",
        "10",
        "--no-grids",
        "--device",
        "cpu",
    ]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    kill_when(saliency(*args, "--out", str(killed)), lambda: log_steps(killed / "log.jsonl") >= 6)  # past the 2nd checkpoint
    subprocess.run(saliency(*args, "--out", str(killed)), env=ENV, check=True, capture_output=True)
    subprocess.run(saliency(*args, "--out", str(whole)), env=ENV, check=True, capture_output=True)
    a, b = load_directions(killed / "directions.safetensors"), load_directions(whole / "directions.safetensors")
    assert torch.equal(a.directions, b.directions) and a.meta == b.meta


@pytest.mark.slow
def test_kill_9_during_train_unet(tmp_path):
    """With the object-scale levers on (zoom-out compositions, the mean teacher's consistency),
    whose draws must also follow the step for a resume to repeat the run."""
    G = build_generator("planted")
    synthesize(
        G,
        SynthConfig(generator="planted", direction=G.planted_direction.tolist(), shift=12.0, n=200, shard_size=100),
        tmp_path / "data",
        progress=False,
    )
    args = [
        "train-unet",
        "--generator",
        "planted",
        "--data",
        str(tmp_path / "data"),
        "--steps",
        "30",
        "--batch-size",
        "8",
        "--size",
        "32",
        "--decoder-channels",
        "32,16,16,8,8",
        "--workers",
        "0",
        "--val-every",
        "10",
        "--checkpoint-every",
        "10",
        "--log-every",
        "5",
        "--zoom-out",
        "0.5",
        "--ema",
        "0.9",
        "--consistency",
        "0.5",
        "--device",
        "cpu",
    ]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    kill_when(saliency(*args, "--out", str(killed)), lambda: log_steps(killed / "log.jsonl") >= 3)  # past the 1st checkpoint
    subprocess.run(saliency(*args, "--out", str(killed)), env=ENV, check=True, capture_output=True)
    subprocess.run(saliency(*args, "--out", str(whole)), env=ENV, check=True, capture_output=True)
    assert json.loads((killed / "summary.json").read_text())["steps"] == 30
    a, b = load_model(killed / "last.safetensors"), load_model(whole / "last.safetensors")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k


def one_clear_line(cmd: list[str], *expected: str) -> None:
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-500:]
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    for e in expected:
        assert e in lines[0], lines[0]


@pytest.mark.slow
def test_corrupt_inputs_give_one_clear_line(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00garbage" * 100)
    one_clear_line(saliency("discover", "--weights", str(bad), "--out", str(tmp_path / "d")), "bad.bin", "truncated, corrupt")
    one_clear_line(
        saliency("select", "--generator", "planted", "--directions", str(bad), "--out", str(tmp_path / "s")), "bad.bin", "directions"
    )
    one_clear_line(
        saliency("synth", "--generator", "planted", "--selection", str(bad), "--out", str(tmp_path / "y")), "bad.bin", "selection"
    )
    one_clear_line(
        saliency("bench", "--model", str(bad), "--dataset", "ecssd", "--root", str(tmp_path), "--out", str(tmp_path / "b")),
        "ecssd not found",
    )
    one_clear_line(saliency("predict", str(bad), "--checkpoint", str(bad), "--out", str(tmp_path / "p")), "bad.bin")
    one_clear_line(saliency("train-unet", "--generator", "planted", "--data", str(tmp_path), "--out", str(tmp_path / "t")), "neither")
