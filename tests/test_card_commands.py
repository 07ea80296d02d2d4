"""The design card's three commands, typed as a new user types them after `pip install`, with
no prior run and no other flag: each finds its inputs and says which it took."""

import os
import subprocess
import sys

import pytest

from saliency.bench.datasets import candidate_roots, layout


def saliency(env, *args):
    proc = subprocess.run([sys.executable, "-m", "saliency", *args], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_card_commands_run_as_typed_on_a_fresh_data_folder(tmp_path):
    env = dict(os.environ, SALIENCY_DATA=str(tmp_path / "data"), NO_ALBUMENTATIONS_UPDATE="1", SALIENCY_OFFLINE="1")
    out = saliency(env, "synth", "--n", "200")
    assert "selection: " in out and "objects-64.selection.json" in out and "pass --selection FILE" in out
    assert "200 pairs in" in out
    out = saliency(env, "train-unet", "--steps", "2")
    assert "data: " in out and "latest `saliency synth` output of objects-64" in out
    if not any((r / layout("ecssd").images).is_dir() for r in candidate_roots("ecssd")):
        pytest.skip("ECSSD not found beside the checkout (../shared/datasets/ECSSD); bench not run")
    out = saliency(env, "bench", "--dataset", "ecssd", "--limit", "10")
    models = next(line for line in out.splitlines() if line.startswith("models: "))
    assert "center-prior" in models and "wctr" in models and str(tmp_path / "data") in models
    assert out.count("| ") >= 3 and "results: " in out
