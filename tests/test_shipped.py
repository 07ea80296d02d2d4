"""What ships inside the package: the objects-64 generator and the discovered directions."""

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


@pytest.mark.parametrize("name", [n for n, s in available().items() if s.defaults.get("directions_file")])
def test_shipped_directions_belong_to_their_generator(name):
    spec = available()[name]
    path = Path(discovery.__file__).parent / spec.defaults["directions_file"]
    d = load_directions(path)
    assert d.meta["generator"] == name
    assert d.directions.shape[0] == spec.defaults["directions"]
    if name == "objects-64":
        assert d.directions.shape[1] == build_generator(name).latent_dim
