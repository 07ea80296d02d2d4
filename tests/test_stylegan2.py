"""StyleGAN2 in rosinality/stylegan2-pytorch's layout: the port draws what the reference code draws
(fixtures/reference/stylegan2_outputs.json, made by running that code), loads its checkpoints
strictly (the public ones' state-dict manifests), and runs the pipeline in Z and in W space."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

from saliency.errors import UserError
from saliency.generators import build_generator
from saliency.generators.base import WSpace
from saliency.generators.stylegan2 import ModulatedConv2d, NoiseInjection, StyleGAN2Generator, config_of

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
sys.path.insert(0, str(REFERENCE))
from seeded import largest_difference, seeded_stylegan2  # noqa: E402

FACTS = json.loads((REFERENCE / "stylegan2_outputs.json").read_text())
MANIFESTS = json.loads((REFERENCE / "stylegan2_manifests.json").read_text())["manifests"]
# the reference's grouped ("fused") modulated convolution against ours per sample: 5e-6 apart here
TOLERANCE = 1e-4


def port(config: dict) -> StyleGAN2Generator:
    G = StyleGAN2Generator(**config)
    G.load_state_dict(seeded_stylegan2(G.state_dict(), FACTS["seed"]), strict=True)
    return G.freeze()


def z(config: dict) -> torch.Tensor:
    return torch.randn(2, config["style_dim"], generator=torch.Generator().manual_seed(FACTS["z_seed"]))


@pytest.mark.parametrize("case", FACTS["cases"], ids=lambda c: f"stylegan2-{c['config']['size']}px")
def test_stylegan2_port_draws_what_the_reference_draws(case):
    config = case["config"]
    G = port(config)
    with torch.no_grad():
        w = G.mapping(z(config))
        assert (w - torch.tensor(case["w"]["values"])).abs().max() < 1e-5
        assert largest_difference(case["image"], G.raw(w)) < TOLERANCE
        G.truncation = FACTS["truncation"]
        G.set_w_avg(None)  # the mapping's mean over 4,096 z of seed 0, as the fixture's maker computed it
        assert largest_difference(case["truncated"], G.raw(G.mapping(z(config)))) < TOLERANCE


def test_stylegan2_fixture_catches_a_wrong_port(monkeypatch):
    """A skipped demodulation or a doubled noise strength moves the output far past the tolerance."""
    case = FACTS["cases"][1]
    G = port(case["config"])

    def draw() -> float:
        with torch.no_grad():
            return largest_difference(case["image"], G.raw(G.mapping(z(case["config"]))))

    assert draw() < TOLERANCE
    convs = [m for m in G.modules() if isinstance(m, ModulatedConv2d)]
    demodulates = [m.demodulate for m in convs]
    for m in convs:
        m.demodulate = False
    assert draw() > 100 * TOLERANCE
    for m, d in zip(convs, demodulates):
        m.demodulate = d
    assert draw() < TOLERANCE
    monkeypatch.setattr(NoiseInjection, "forward", lambda self, x, noise: x + 2 * self.weight * noise)
    assert draw() > 100 * TOLERANCE


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_stylegan2_public_checkpoints_load_strictly(name):
    """The g_ema of each public checkpoint (its names and shapes, from the reference model at that
    configuration) is exactly our generator's state dict, and its configuration reads back from it."""
    manifest = MANIFESTS[name]
    with torch.device("meta"):
        G = StyleGAN2Generator(**manifest["config"])
    assert {k: list(v.shape) for k, v in G.state_dict().items()} == manifest["state_dict"]
    fake = {k: torch.empty(shape, device="meta") for k, shape in manifest["state_dict"].items()}
    assert config_of(fake) == manifest["config"]


def tiny_checkpoint(path: Path, with_args: bool = True, latent_avg: bool = True) -> dict:
    """A train.py-style rosinality checkpoint of a 32 px generator 16 channels wide."""
    torch.manual_seed(0)
    G = StyleGAN2Generator(size=32, style_dim=32, n_mlp=2, max_channels=16)
    state = seeded_stylegan2(G.state_dict(), 3)
    ckpt = {"g_ema": state, "g": state}
    if with_args:
        ckpt["args"] = argparse.Namespace(size=32, latent=32, n_mlp=2, channel_multiplier=2)
    if latent_avg:
        ckpt["latent_avg"] = torch.full((32,), 0.25)
    torch.save(ckpt, path)
    return state


def test_stylegan2_checkpoint_loads_with_its_options_and_latent_avg(tmp_path):
    path = tmp_path / "tiny.pt"
    state = tiny_checkpoint(path)
    G = build_generator("stylegan2", weights=str(path), truncation=0.5)
    assert G.resolution == 32 and G.latent_dim == 32 and G.config["max_channels"] == 16
    assert all(torch.equal(v, state[k]) for k, v in G.state_dict().items())
    assert torch.equal(G.w_avg, torch.full((32,), 0.25)), "the checkpoint's latent_avg is the truncation centre"
    x = G(G.sample_latents(3, torch.Generator().manual_seed(1)))
    assert x.shape == (3, 3, 32, 32) and x.abs().max() <= 1
    again = build_generator("stylegan2", weights=str(path), truncation=0.5)
    assert torch.equal(again(G.sample_latents(3, torch.Generator().manual_seed(1))), x), "fixed noise: the same latent, the same image"


def test_stylegan2_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(UserError, match="needs --weights FILE"):
        build_generator("stylegan2")
    with pytest.raises(UserError, match="weights not found.*nope.pt"):
        build_generator("stylegan2", weights=str(tmp_path / "nope.pt"))
    path = tmp_path / "cut.pt"
    state = tiny_checkpoint(path)
    state.pop("convs.1.noise.weight")
    torch.save({"g_ema": state}, path)
    with pytest.raises(
        UserError,
        match=r"cut.pt does not hold StyleGAN2 .* weights \(another architecture\?\); first mismatches: missing key convs.1.noise.weight",
    ):
        build_generator("stylegan2", weights=str(path))
    torch.save({"g_ema": {"conv.weight": torch.zeros(1)}}, path)
    with pytest.raises(UserError, match="not a StyleGAN2 generator state dict"):
        build_generator("stylegan2", weights=str(path))
    with pytest.raises(UserError, match="unconditional"):
        build_generator("stylegan2", weights=str(path), classes=[1])


def test_w_space_shifts_the_mapped_latent(tmp_path):
    """`--space w`: latents are w = mapping(z); the image of w is synthesize_w(w); a shift along a
    direction moves w, not z, so it draws what the generator draws from the shifted w."""
    path = tmp_path / "tiny.pt"
    tiny_checkpoint(path)
    G = build_generator("stylegan2", weights=str(path))
    W = build_generator("stylegan2", weights=str(path), space="w")
    assert isinstance(W, WSpace) and W.latent_dim == 32 and W.name == "stylegan2@w"
    g = torch.Generator().manual_seed(4)
    w = W.sample_latents(2, g)
    z = G.sample_latents(2, torch.Generator().manual_seed(4))
    torch.testing.assert_close(w, G.mapping(z))
    d = torch.zeros(32)
    d[3] = 5.0
    torch.testing.assert_close(W(w + d), G.synthesize_w(G.mapping(z) + d))
    assert not torch.allclose(W(w + d), G(z + d), atol=1e-3), "a shift in W is not the same shift in Z"
    with pytest.raises(UserError, match="has no W space"):
        build_generator("planted", space="w")


def test_w_space_discovery_runs_from_the_command_line(tmp_path, capsys):
    from saliency.cli import main

    path = tmp_path / "tiny.pt"
    tiny_checkpoint(path)
    out = tmp_path / "discover"
    argv = ["discover", "--generator", "stylegan2", "--weights", str(path), "--space", "w", "--steps", "20"]
    assert main(argv + ["--batch-size", "4", "--directions", "8", "--reconstructor", "lenet", "--out", str(out), "--no-grids"]) == 0
    from discovery import load_directions

    meta = load_directions(out / "directions.safetensors").meta
    assert meta["steps"] == 20 and meta["generator"] == "stylegan2@w"
    assert main(["generators"]) == 0 and "stylegan2" in capsys.readouterr().out
    # directions found in W are refused in Z (StyleGAN2's two spaces have the same size)
    argv = ["select", "--generator", "stylegan2", "--weights", str(path), "--directions", str(out / "directions.safetensors")]
    assert main(argv + ["--out", str(tmp_path / "select")]) == 2
    assert "found for stylegan2@w, not stylegan2; pass --generator stylegan2 --space w" in capsys.readouterr().err
