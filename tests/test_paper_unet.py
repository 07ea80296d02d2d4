"""The 2021 paper's released U-Net (BigGANsAreWatching `UNet/`): our port computes what its code
computes (fixtures/reference/paper_unet_outputs.json), and a file in its layout is a model that
`saliency.load`, `predict` and `bench` take, loaded strictly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from saliency.errors import UserError
from saliency.unet.paper_unet import PaperUNet, load_paper_unet

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
sys.path.insert(0, str(REFERENCE))
from seeded import largest_difference, seeded_network  # noqa: E402

FACTS = json.loads((REFERENCE / "paper_unet_outputs.json").read_text())


def port() -> PaperUNet:
    model = PaperUNet().eval()
    model.load_state_dict(seeded_network(model.state_dict(), FACTS["seed"]), strict=True)
    return model


def x(h: int, w: int) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(FACTS["x_seed"])) * 2 - 1


@pytest.mark.parametrize("case", FACTS["cases"], ids=lambda c: "x".join(map(str, c["size"])))
def test_paper_unet_port_computes_what_the_reference_computes(case):
    with torch.no_grad():
        logits = port()(x(*case["size"]))
    assert largest_difference(case["logits"], logits) < 1e-5
    assert largest_difference(case["map"], torch.softmax(logits, 1)[:, 1:]) < 1e-5


def test_paper_unet_fixture_catches_a_wrong_upsampling(monkeypatch):
    case = FACTS["cases"][1]
    real = F.interpolate

    def corners_off(t, scale_factor=None, mode="nearest", align_corners=None, **kw):
        return real(t, scale_factor=scale_factor, mode=mode, align_corners=False if mode == "bilinear" else align_corners, **kw)

    monkeypatch.setattr(F, "interpolate", corners_off)
    with torch.no_grad():
        assert largest_difference(case["logits"], port()(x(*case["size"]))) > 1e-3


def released_file(path: Path, wrapped: bool = False) -> Path:
    state = port().state_dict()
    torch.save({"model": state} if wrapped else state, path)
    return path


def test_a_released_unet_file_is_a_model_everywhere(tmp_path):
    import cv2

    import saliency
    from saliency.cli import main

    path = released_file(tmp_path / "u_net_imagenet.pth")
    model = saliency.load(path, device="cpu", upsample="bilinear")
    photo = np.zeros((96, 150, 3), np.uint8)
    photo[20:70, 40:110] = (230, 180, 40)
    # the map is the port's softmax[1] of the photo in [-1, 1] at short side 128, resized back
    t = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    t = F.interpolate(t, size=(128, 200), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        small = torch.softmax(port()(t), 1)[:, 1:]
    expected = F.interpolate(small, size=(96, 150), mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(model.map(photo), expected, atol=1e-5)
    assert torch.equal(load_paper_unet(released_file(tmp_path / "checkpoint.pth", wrapped=True)).outc.conv.weight, port().outc.conv.weight)

    root = tmp_path / "set"
    for i in range(2):
        (root / "imgs").mkdir(parents=True, exist_ok=True)
        (root / "gt").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "imgs" / f"{i}.png"), photo)
        mask = np.zeros((96, 150), np.uint8)
        mask[20:70, 40:110] = 255
        cv2.imwrite(str(root / "gt" / f"{i}.png"), mask)
    out = tmp_path / "bench"
    assert main(["bench", "--dataset", "hku-is", "--root", str(root), "--model", str(path), "--no-field-metrics", "--out", str(out)]) == 0
    (row,) = json.loads((out / "results.json").read_text())["results"]
    assert row["model"].endswith("u_net_imagenet") and row["images"] == 2
    assert main(["predict", str(root / "imgs"), "--checkpoint", str(path), "--out", str(tmp_path / "pred")]) == 0
    assert cv2.imread(str(tmp_path / "pred" / "0_map.png"), cv2.IMREAD_UNCHANGED).shape == (96, 150)


def test_a_file_of_another_layout_is_named(tmp_path):
    state = port().state_dict()
    state.pop("up2.conv.double_conv.3.weight")
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(UserError, match="cut.pth does not hold the 2021 paper's U-Net weights .*missing key up2.conv.double_conv.3.weight"):
        load_paper_unet(tmp_path / "cut.pth")
    torch.save({"weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth is not the 2021 paper's U-Net"):
        load_paper_unet(tmp_path / "other.pth")


def test_the_released_unet_by_name_offline_names_the_file(tmp_path, monkeypatch):
    import saliency

    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    monkeypatch.setenv("SALIENCY_WEIGHTS", str(tmp_path))
    with pytest.raises(
        UserError, match=r"voynov2021-u_net_imagenet.pth are not in the cache.*u_net_imagenet.pth\?dl=1 and pass --model FILE"
    ):
        saliency.load("voynov2021-unet", device="cpu")
