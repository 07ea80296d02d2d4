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
