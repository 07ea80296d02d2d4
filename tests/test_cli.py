"""The `saliency` command as a user runs it."""

import subprocess
import sys

import pytest

from discovery import load_directions
from saliency.cli import STAGES, main


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_flag_has_help(stage, capsys):
    with pytest.raises(SystemExit):
        main([stage, "--help"])
    text = capsys.readouterr().out
    import re

    flags = set(re.findall(r"\n  (--[a-z-]+)", text))
    for flag in flags - {"--help"}:
        block = text.split(flag, 1)[1].split("\n  -", 1)[0]
        assert len(block.strip()) > len(flag), f"{stage} {flag} has no help text"


def test_discover_planted_end_to_end(tmp_path):
    rc = main(["discover", "--generator", "planted", "--steps", "20", "--out", str(tmp_path), "--device", "cpu"])
    assert rc == 0
    meta = load_directions(tmp_path / "directions.safetensors").meta
    assert meta["steps"] == 20
    assert meta["shift_loss_weight"] == 0.0  # the fixture's registry default, recorded with the result


def test_shift_loss_weight_flag_overrides_the_registry(tmp_path):
    rc = main(["discover", "--generator", "planted", "--steps", "2", "--shift-loss-weight", "0.25", "--out", str(tmp_path), "--no-grids"])
    assert rc == 0
    assert load_directions(tmp_path / "directions.safetensors").meta["shift_loss_weight"] == 0.25


def test_missing_weights_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "saliency", "discover", "--weights", str(tmp_path / "nope.tar"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "nope.tar" in proc.stderr and "Traceback" not in proc.stderr


def test_discover_dcgan_faces_runs_with_given_weights(tmp_path, dcgan_checkpoint):
    rc = main(
        [
            "discover",
            "--generator",
            "dcgan-faces",
            "--weights",
            str(dcgan_checkpoint),
            "--steps",
            "3",
            "--directions",
            "4",
            "--out",
            str(tmp_path),
            "--no-grids",
        ]
    )
    assert rc == 0
    ds = load_directions(tmp_path / "directions.safetensors")
    assert ds.directions.shape == (4, 100) and ds.generator == "dcgan-faces"


def test_a_stage_imports_only_what_it_needs():
    """train-gan must run on a machine without the U-Net stack (e.g. a bare GPU image with torch alone)."""
    import subprocess
    import sys

    code = "import sys; from saliency.cli import build_parser; build_parser('train-gan').parse_args(['train-gan', '--images', 'x']); print(sorted(m for m in ('segmentation_models_pytorch', 'albumentations', 'py_sod_metrics') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("stage", ["discover", "select", "synth", "train-unet", "invert", "self-train", "pseudo-label", "train-gan"])
def test_deterministic_flag_reaches_torch(stage):
    """`--deterministic` on every stage that computes turns on torch's deterministic algorithms,
    turns cuDNN autotuning off and fixes cuBLAS's workspace (checked in a fresh interpreter:
    the switch is process-wide)."""
    import subprocess
    import sys

    extra = {
        "self-train": ["--photos", "x", "--teacher", "wctr"],
        "pseudo-label": ["--photos", "x", "--teacher", "wctr"],
        "train-gan": ["--images", "x"],
    }.get(stage, [])
    code = (
        "import os, torch; from saliency.cli import build_parser; from saliency.commands.common import device_from_args; "
        f"args = build_parser({stage!r}).parse_args([{stage!r}, '--deterministic', '--device', 'cpu', *{extra!r}]); device_from_args(args); "
        "print(torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, os.environ.get('CUBLAS_WORKSPACE_CONFIG'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", ":4096:8"]
