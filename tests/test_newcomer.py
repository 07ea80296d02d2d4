"""A newcomer's first hour, as issue 48 tried it: every case drives the CLI (or the API) and asserts
one line naming the flag or file and the exit code, with no traceback anywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from saliency.cli import STAGES, main
from saliency.errors import UserError
from saliency.unet.model import new_model, save_model


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `saliency ARGV` in this process, argparse's exits included."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("usage:") and not line.startswith("  ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    image = np.full((48, 64, 3), 60, np.uint8)
    image[12:36, 20:44] = (220, 60, 40)
    cv2.imwrite(str(path), image)
    return path


@pytest.mark.parametrize("model", ["wctr", "center-prior", "agree:shipped+wctr"])
def test_predict_with_any_model_name_writes_maps(tmp_path, photo, capsys, model):
    code, out, _ = run(["predict", str(photo), "--checkpoint", model, "--out", str(tmp_path / "out"), "--device", "cpu"], capsys)
    assert code == 0 and "1 image," in out and "wrote 1 image to" in out
    assert cv2.imread(str(tmp_path / "out" / "photo_map.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64)


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["bench", "--limit", "-3"], "--limit: -3 is not a whole number of at least 1"),
        (["synth", "--n", "0"], "--n/--num-pairs: 0 is not a whole number of at least 1"),
        (["synth", "--n", "-5"], "--n/--num-pairs: -5 is not a whole number of at least 1"),
        (["predict", "x.jpg", "--out", "o", "--threshold", "1.5"], "--threshold: 1.5 is not a number from 0 to 1"),
        (["predict", "x.jpg", "--out", "o", "--short-side", "0"], "--short-side: 0 is not a whole number of at least 1"),
        (["bench", "--short-side", "zero"], "--short-side: 'zero' is not a whole number of at least 1"),
        (["train-unet", "--lr", "-1"], "--lr: -1 is not a number above 0"),
        (["pseudo-label", "--photos", "p", "--teacher", "wctr", "--keep", "2"], "--keep: 2 is not a number from 0 to 1"),
    ],
)
def test_bad_numbers_are_refused_by_argparse(argv, flag, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2 and flag in one_line(err)


def test_a_device_that_does_not_exist(tmp_path, photo, capsys):
    code, _, err = run(["predict", str(photo), "--out", str(tmp_path), "--device", "cudaa"], capsys)
    assert code == 2 and "--device 'cudaa' is not a device: write auto, cpu, cuda or cuda:N" in one_line(err)
    import saliency

    with pytest.raises(UserError, match="'cudaa' is not a device"):
        saliency.load(device="cudaa")


def test_checkpoint_messages_name_the_file_and_the_fix(tmp_path, photo, capsys):
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    code, _, err = run(["predict", str(photo), "--checkpoint", str(pt), "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and f"{pt} is not the 2021 paper's U-Net" in line and "models of this project are the .safetensors files" in line

    code, _, err = run(["predict", str(photo), "--checkpoint", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and "missing.safetensors" in line and "--model" not in line

    fp16 = tmp_path / "shipped-fp16.safetensors"
    code, _, _ = run(["export", "--checkpoint", "shipped", "--fp16", str(fp16)], capsys)
    assert code == 0 and fp16.is_file()

    torch.manual_seed(0)
    other = tmp_path / "other.safetensors"
    save_model(other, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(other), "pt") as f:
        meta = f.metadata()
    state = load_file(str(other))
    state.pop(next(iter(state)))
    save_file(state, str(other), metadata=meta)
    code, _, err = run(["predict", str(photo), "--checkpoint", str(other), "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and "U-Net its own metadata describes" in line and "first mismatches: missing key" in line and len(line) < 400


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_help_shows_one_default_per_flag_and_no_odd_words(stage, capsys):
    code, out, _ = run([stage, "--help"], capsys)
    assert code == 0
    blocks = re.split(r"\n  (?=-)", out)
    for block in blocks:
        assert block.count("(default") <= 1, f"{stage}: two defaults in {block!r}"
        assert "(default: None)" not in block and "(default: False)" not in block
    flat = " ".join(out.split())
    assert "(see above)" not in flat and "object object" not in flat
    assert "DATA in these help texts is the data folder" in flat


def test_the_top_help_imports_no_stage():
    """`saliency --help` lists the stages without importing any of them (nor torch): it answers at once."""
    code = (
        "import sys\nfrom saliency.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("False") and "discover" in proc.stdout


def test_generators_list_names_the_real_offline_default(capsys):
    code, out, _ = run(["generators"], capsys)
    assert code == 0
    dcgan = next(line for line in out.splitlines() if line.startswith("dcgan-faces"))
    assert "offline default" not in dcgan


def test_the_demo_report_says_which_case_its_training_was_in():
    from saliency.commands.demo import training_data_line

    assert "alone: no unlabeled photos were found" in training_data_line(None)
    assert "pasted onto the unlabeled photos of `/p`" in training_data_line("/p")


def test_a_rotated_photo_reads_the_same_as_a_file_and_as_a_pil_image(tmp_path):
    """One decoding rule for EXIF orientation: a file (predict, bench), a PIL image (the API) and
    an upload (serve) all come out as a viewer shows the photo."""
    from PIL import Image

    from saliency.api import as_rgb
    from saliency.images import read_rgb
    from saliency.server.uploads import Limits, decode_photo

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    from_file, from_pil = read_rgb(path), as_rgb(Image.open(path))
    from_upload = decode_photo(path.read_bytes(), Limits(max_bytes=10**7, max_pixels=10**7))
    for image in (from_file, from_pil, from_upload):
        assert image.shape == (40, 20, 3) and image[:10].mean() > 200 and image[-10:].mean() < 50


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`saliency generators | head -1`: the pipe closes before the listing is written; the command
    stops quietly with the shell's SIGPIPE status (141), as Unix tools do."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "saliency", "generators"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == "", err


def test_runs_started_outside_the_checkout_land_in_the_current_folder(tmp_path, monkeypatch):
    """A run started from another folder writes `saliency-runs/` there, not into the checkout's
    data/; inside the checkout, or with SALIENCY_DATA set, runs go to DATA/runs as before."""
    from saliency import paths

    checkout = Path(paths.__file__).resolve().parents[1]
    monkeypatch.delenv("SALIENCY_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.runs_dir() == tmp_path.resolve() / "saliency-runs"
    monkeypatch.chdir(checkout / "tests")
    assert paths.runs_dir() == checkout / "data" / "runs"  # data/ is tracked (its README)
    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    assert paths.runs_dir() == tmp_path / "elsewhere" / "runs"
