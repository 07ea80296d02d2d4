"""The GPU check script runs here at CPU sizes, so a CUDA machine never meets it for the first time."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_device_check_passes_on_cpu(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), NO_ALBUMENTATIONS_UPDATE="1")
    (tmp_path / "out").mkdir()
    proc = subprocess.run(
        ["bash", "scripts/device_check.sh", "--device", "cpu", "--work", str(tmp_path / "work")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    stages = [r["stage"] for r in report["rows"]]
    assert len(stages) == 7 and all(r["status"] == "ok" for r in report["rows"]), report
    assert "| stage | seconds | status | result |" in proc.stdout
    det = next(r for r in report["rows"] if r["stage"].startswith("deterministic"))
    assert det["result"] == "two runs bit-identical"
    assert (tmp_path / "work" / "model.onnx").stat().st_size > 0
