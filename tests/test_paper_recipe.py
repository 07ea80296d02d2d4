"""scripts/paper_recipe.sh --smoke: the README's GPU recipe, end to end at tiny sizes on random
weights loaded through --weights, on CPU; a rerun resumes (every finished stage is skipped)."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paper_recipe_smoke_runs_and_resumes(tmp_path, shared_dir):
    out = tmp_path / "recipe"
    env = dict(os.environ, PYTHONWARNINGS="ignore")

    def run():
        return subprocess.run(
            ["bash", "scripts/paper_recipe.sh", "biggan-128", "--smoke", "--out", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1500,
        )

    first = run()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in ("discover", "select", "synth", "train-unet", "bench-ecssd"):
        assert (out / f".done-{stage}").is_file(), stage
    assert (out / "unet" / "best.safetensors").is_file() and (out / "pairs" / "manifest.json").is_file()
    table = (out / "table.md").read_text()
    assert "| ecssd | 4 |" in table
    again = run()
    assert again.returncode == 0 and again.stdout.count("done before, skipped") == 5
    assert (out / "table.md").read_text() == table


def test_bigbigan_recipe_offline_without_the_direction_is_one_line(tmp_path):
    """The bigbigan recipe uses the 2021 paper's bg_direction.pth by default: offline and not in the
    cache, it stops before any work with one line naming the file, its address and the fixes."""
    env = dict(os.environ, SALIENCY_OFFLINE="1", SALIENCY_WEIGHTS=str(tmp_path / "cache"), PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        ["bash", "scripts/paper_recipe.sh", "bigbigan", "--smoke", "--out", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert "bg_direction.pth" in line and "https://www.dropbox.com/s/np74kmkohkbx76t/bg_direction.pth" in line
    assert "--bg-direction FILE" in line and "--discover" in line and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bigbigan_recipe_smoke_uses_the_papers_direction_and_says_so(tmp_path, shared_dir):
    import torch

    direction = tmp_path / "bg_direction.pth"
    torch.save(torch.nn.functional.normalize(torch.randn(120, generator=torch.Generator().manual_seed(0)), dim=0), direction)
    out = tmp_path / "recipe"
    proc = subprocess.run(
        ["bash", "scripts/paper_recipe.sh", "bigbigan", "--smoke", "--bg-direction", str(direction), "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"== direction: the 2021 paper's published background direction, {direction}" in proc.stdout
    assert not (out / ".done-discover").exists(), "no discovery when the paper's direction is used"
    import json

    selection = json.loads((out / "select" / "selection.json").read_text())
    assert selection["shift"] == 5 and abs(sum(v * v for v in selection["vector"]) - 1) < 1e-4
    assert "| ecssd | 4 |" in (out / "table.md").read_text()
