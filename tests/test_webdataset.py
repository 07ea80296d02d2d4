"""WebDataset shards: the same pairs as the PNG layout, read locally, through pipe: and over
HTTP, and a U-Net that trains from the stream and resumes it exactly."""

import hashlib
import shutil

import cv2
import pytest
import torch

from saliency.cli import main
from saliency.generators import build_generator
from saliency.pairs import list_pairs, read_pairs
from saliency.synthesis import SynthConfig, synthesize
from saliency.training import Interrupted, interrupt_after
from saliency.unet.data import AugmentConfig
from saliency.unet.model import load_model
from saliency.unet.stream import StreamSource
from saliency.unet.train import TrainConfig, train


def digest(image, mask) -> str:
    return hashlib.sha256(image.tobytes() + mask.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def both_formats(tmp_path_factory):
    G = build_generator("planted")
    root = tmp_path_factory.mktemp("formats")
    for fmt in ("png", "webdataset"):
        synthesize(
            G,
            SynthConfig(generator="planted", direction=G.planted_direction.tolist(), shift=12.0, n=150, shard_size=50, format=fmt),
            root / fmt,
            progress=False,
        )
    png = {
        p[0].stem: digest(cv2.cvtColor(cv2.imread(str(p[0])), cv2.COLOR_BGR2RGB), cv2.imread(str(p[1]), cv2.IMREAD_UNCHANGED))
        for p in list_pairs(root / "png")
    }
    return root, png


def test_tar_shards_hold_exactly_the_png_pairs(both_formats):
    root, png = both_formats
    assert sorted(p.name for p in (root / "webdataset" / "shards").iterdir()) == [
        f"{k:05d}.{s}" for k in range(3) for s in ("done.json", "tar")
    ]
    streamed = {key: digest(image, mask) for key, image, mask in read_pairs(root / "webdataset")}
    assert len(streamed) == len(png) == 150 and streamed == png
    piped = {key: digest(image, mask) for key, image, mask in read_pairs(f"pipe:cat {root / 'webdataset' / 'shards' / '00001.tar'}")}
    assert piped == {k: v for k, v in png.items() if 50 <= int(k) < 100}


def test_shards_stream_over_http_and_train(both_formats, server, tmp_path):
    root, png = both_formats
    www, base = server
    shutil.copytree(root / "webdataset" / "shards", www / "shards")
    url = f"{base}/shards/{{00000..00002}}.tar"
    assert {key: digest(image, mask) for key, image, mask in read_pairs(url)} == png
    cfg = TrainConfig.from_preset(
        "2021",
        data=url,
        size=32,
        decoder_channels=[32, 16, 16, 8, 8],
        steps=12,
        batch_size=8,
        lr=3e-3,
        milestones=[10],
        val_every=6,
        checkpoint_every=4,
        log_every=2,
    )

    def source():
        s = StreamSource(url, 32, AugmentConfig(), seed=0, buffer=40, hold_out=16)
        return s, s.validation()

    whole = train(cfg, tmp_path / "whole", torch.device("cpu"), *source(), progress=False)
    assert whole["steps"] == 12 and whole["best_val_iou"] > 0
    with pytest.raises(Interrupted), interrupt_after(9):
        train(cfg, tmp_path / "split", torch.device("cpu"), *source(), progress=False)
    train(cfg, tmp_path / "split", torch.device("cpu"), *source(), progress=False)  # resumes from step 8, skipping what it saw
    a, b = load_model(tmp_path / "whole" / "last.safetensors"), load_model(tmp_path / "split" / "last.safetensors")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_cli_writes_and_trains_from_webdataset(tmp_path):
    G = build_generator("planted")
    sel = tmp_path / "selection.json"
    import json

    sel.write_text(json.dumps({"generator": "planted", "vector": G.planted_direction.tolist(), "shift": 12.0}))
    assert (
        main(
            [
                "synth",
                "--generator",
                "planted",
                "--selection",
                str(sel),
                "--n",
                "120",
                "--shard-size",
                "60",
                "--format",
                "webdataset",
                "--out",
                str(tmp_path / "wds"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (tmp_path / "wds" / "contact_sheet.png").is_file() and json.loads((tmp_path / "wds" / "manifest.json").read_text())[
        "count"
    ] == 120
    assert (
        main(
            [
                "train-unet",
                "--generator",
                "planted",
                "--data",
                str(tmp_path / "wds"),
                "--out",
                str(tmp_path / "unet"),
                "--steps",
                "4",
                "--batch-size",
                "8",
                "--size",
                "32",
                "--decoder-channels",
                "32,16,16,8,8",
                "--device",
                "cpu",
                "--val-every",
                "4",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "unet" / "summary.json").read_text())["config"]["data"] == str(tmp_path / "wds")
