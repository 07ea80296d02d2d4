"""What ships inside the package: the objects-64 generator, the discovered directions and the
saliency model."""

import json
from pathlib import Path

import pytest
import torch

import discovery
from discovery import load_directions
from saliency.errors import UserError
from saliency.files import read_safetensors
from saliency.generators import available, build_generator
from saliency.generators.objects import SHIPPED


def test_objects_64_loads_offline_and_draws_varied_photos():
    G = build_generator("objects-64")
    assert (G.latent_dim, G.resolution) == (128, 64)
    x = G(G.sample_latents(8, torch.Generator().manual_seed(0)))
    assert x.shape == (8, 3, 64, 64) and torch.isfinite(x).all() and x.abs().max() <= 1
    assert x.std(dim=(1, 2, 3)).min() > 0.1, "a sample is flat: not a trained generator"
    assert (x[1:] - x[:1]).abs().mean(dim=(1, 2, 3)).min() > 0.05, "samples collapse to one image"
    meta = json.loads(read_safetensors(SHIPPED)[1]["saliency_gan"])
    card = (SHIPPED.parent / "MODEL_CARD.md").read_text()
    assert f"{meta['steps']:,} steps" in card, "the model card must state the shipped file's step count"


def test_objects_64_corrupt_file_names_itself(tmp_path):
    bad = tmp_path / "objects-64.safetensors"
    bad.write_bytes(SHIPPED.read_bytes()[:1000])
    with pytest.raises(UserError, match=str(bad)):
        build_generator("objects-64", weights=str(bad))


@pytest.mark.parametrize("name", [n for n, s in available().items() if s.directions_file])
def test_shipped_directions_belong_to_their_generator(name):
    spec = available()[name]
    path = Path(discovery.__file__).parent / spec.directions_file
    d = load_directions(path)
    assert d.meta["generator"] == name
    assert d.directions.shape[0] == spec.discover.directions
    if name == "objects-64":
        assert d.directions.shape[1] == build_generator(name).latent_dim


def test_shipped_saliency_model_is_fp16_and_its_card_names_the_run():
    from saliency.unet.model import SHIPPED_MODEL, load_model

    state, metadata = read_safetensors(SHIPPED_MODEL)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    meta = json.loads(metadata["saliency_model"])
    card = (SHIPPED_MODEL.parent / "MODEL_CARD.md").read_text()
    assert meta["encoder"] in card and f"{meta['input_size']} px" in card
    assert f"{meta['step']:,} steps" in card, "the model card must state the shipped file's step count"
    model = load_model(SHIPPED_MODEL)
    with torch.no_grad():
        y = torch.sigmoid(model(torch.rand(1, 3, 128, 160)))
    assert y.shape == (1, 1, 128, 160) and y.dtype == torch.float32


def test_shipped_saliency_model_beats_the_centre_prior_on_ecssd(tmp_path, shared_dir):
    """A regression anchor for the product: on the first 100 ECSSD images the shipped model must
    stay above the centre prior (0.57 max F there) in max F and IoU."""
    from saliency.cli import main

    assert (
        main(
            [
                "bench",
                "--dataset",
                "ecssd",
                "--model",
                "shipped",
                "--model",
                "center-prior",
                "--limit",
                "100",
                "--no-field-metrics",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    rows = {r["model"]: r for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    prior = rows.pop("center-prior")
    (shipped,) = rows.values()
    assert shipped["max_fbeta"] > prior["max_fbeta"] + 0.03 and shipped["iou"] > prior["iou"]
