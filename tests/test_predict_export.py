"""`saliency predict` and `saliency export` on a small trained-format checkpoint."""

import cv2
import numpy as np
import pytest
import torch

from saliency.cli import main
from saliency.unet.model import new_model, save_model


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_model(path, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    return path


def test_predict_writes_maps_masks_and_cutouts(tmp_path, checkpoint):
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    (images / ".DS_Store").write_bytes(b"x")
    out = tmp_path / "out"
    assert main(["predict", str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--cutout", "--device", "cpu"]) == 0
    soft = cv2.imread(str(out / "a_map.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "a_mask.png"), cv2.IMREAD_UNCHANGED)
    cut = cv2.imread(str(out / "a_cutout.png"), cv2.IMREAD_UNCHANGED)
    assert soft.shape == mask.shape == (50, 70) and set(np.unique(mask)) <= {0, 255}
    assert cut.shape == (50, 70, 4) and np.array_equal(cut[..., 3], mask)
    assert np.array_equal(mask > 0, soft > 127.5) or np.abs((mask > 0).astype(int) - (soft > 127).astype(int)).sum() < 5


def test_missing_input_is_clear(tmp_path, checkpoint, capsys):
    assert main(["predict", str(tmp_path / "nope.jpg"), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "nope.jpg" in capsys.readouterr().err


def test_onnx_export_matches_pytorch(tmp_path, checkpoint, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out
    import onnxruntime as ort

    from saliency.unet.model import load_model

    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected = torch.sigmoid(load_model(checkpoint)(x)).numpy()
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4


def test_fp16_export_halves_the_file_and_keeps_the_maps(tmp_path, checkpoint, capsys):
    from saliency.files import read_safetensors
    from saliency.unet.model import load_model

    out = tmp_path / "half.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--fp16", str(out)]) == 0
    assert "max |fp16 - fp32|" in capsys.readouterr().out
    assert {v.dtype for v in read_safetensors(out)[0].values() if v.is_floating_point()} == {torch.float16}
    assert out.stat().st_size < 0.6 * checkpoint.stat().st_size
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        a, b = torch.sigmoid(load_model(checkpoint)(x)), torch.sigmoid(load_model(out)(x))
    assert b.dtype == torch.float32 and (a - b).abs().max() < 1e-2 and (a - b).abs().max() > 0


def test_export_without_output_is_a_clear_error(checkpoint, capsys):
    assert main(["export", "--checkpoint", str(checkpoint)]) == 2
    assert "--onnx" in capsys.readouterr().err
