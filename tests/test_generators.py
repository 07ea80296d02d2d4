"""Generator backends: interface, dcgan-faces loading, errors, custom generators."""

import pytest
import torch

from saliency.errors import UserError
from saliency.generators import Generator, available, build_generator


def test_registry_lists_backends_with_defaults():
    specs = available()
    assert {"dcgan-faces", "planted"} <= set(specs)
    assert specs["dcgan-faces"].discover.reconstructor == "lenet"
    from saliency.generators import spec

    assert spec("stylegan2@w") is specs["stylegan2"]  # a run's label names its backend's spec
    with pytest.raises(UserError, match="unknown generator 'nope'"):
        build_generator("nope")


def test_sampling_is_seeded_and_images_in_range():
    G = build_generator("planted")
    a = G.sample_latents(5, torch.Generator().manual_seed(7))
    b = G.sample_latents(5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (5, G.latent_dim)
    x = G(a)
    assert x.shape == (5, 3, G.resolution, G.resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert G.sample_classes(5) is None


def test_dcgan_faces_roundtrip_through_publisher_format(dcgan_checkpoint):
    G = build_generator("dcgan-faces", weights=str(dcgan_checkpoint))
    saved = torch.load(dcgan_checkpoint, weights_only=True)["netG_state_dict"]
    for k, v in G.state_dict().items():
        assert torch.equal(v, saved[k]), k
    z = G.sample_latents(2, torch.Generator().manual_seed(0))
    again = build_generator("dcgan-faces", weights=str(dcgan_checkpoint))
    assert torch.equal(G(z), again(z))
    assert G(z).shape == (2, 3, 64, 64)
    assert not any(p.requires_grad for p in G.parameters()) and not G.training


def test_dcgan_faces_plain_state_dict_also_loads(tmp_path, dcgan_checkpoint):
    plain = tmp_path / "plain.pt"
    saved = torch.load(dcgan_checkpoint, weights_only=True)["netG_state_dict"]
    torch.save(saved, plain)
    G = build_generator("dcgan-faces", weights=str(plain))
    assert all(torch.equal(v, saved[k]) for k, v in G.state_dict().items()), "the plain state dict's weights, every tensor"


def test_dcgan_faces_bad_files(tmp_path, dcgan_checkpoint):
    with pytest.raises(UserError, match="not found.*missing.tar.*pip download"):
        build_generator("dcgan-faces", weights=str(tmp_path / "missing.tar"))
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(dcgan_checkpoint.read_bytes()[:5000])
    with pytest.raises(UserError, match="truncated.tar.*truncated, corrupt"):
        build_generator("dcgan-faces", weights=str(truncated))
    other = tmp_path / "other.pt"
    torch.save({"netG_state_dict": torch.nn.Linear(3, 4).state_dict()}, other)
    with pytest.raises(UserError, match="other.pt does not hold dcgan-faces.*missing key main.0.weight"):
        build_generator("dcgan-faces", weights=str(other))


def test_pickled_code_is_never_run(tmp_path):
    """A checkpoint that would execute code when unpickled is refused, not run."""
    import os
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.tar"
    with open(evil, "wb") as f:
        pickle.dump({"netG_state_dict": Evil()}, f)
    with pytest.raises(UserError, match="evil.tar"):
        build_generator("dcgan-faces", weights=str(evil))
    assert not marker.exists()


class TinyGenerator(torch.nn.Module):
    latent_dim, resolution = 4, 8

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 8, 8)


def make_tiny():
    return TinyGenerator()


def test_custom_generator_plugs_in_by_import_path():
    G = build_generator("tests.test_generators:make_tiny")
    assert isinstance(G, Generator) and G.latent_dim == 4
    assert G(G.sample_latents(3)).shape == (3, 3, 8, 8)
    with pytest.raises(UserError, match="cannot import generator factory"):
        build_generator("tests.nowhere:make")


def test_class_conditional_sampling_uses_the_chosen_classes():
    class Cond(Generator):
        latent_dim, resolution, n_classes = 2, 4, 1000

        def synthesize(self, z, classes):
            return torch.zeros(len(z), 3, 4, 4)

    G = Cond(classes=[239, 207])
    c = G.sample_classes(100, torch.Generator().manual_seed(0))
    assert set(c.tolist()) == {239, 207}
    with pytest.raises(ValueError, match="class-conditional"):
        G(G.sample_latents(2))
    # all 1000 classes, drawn uniformly: 2000 draws hit about 865 distinct classes (1000 x (1 - e^-2))
    drawn = Cond().sample_classes(2000, torch.Generator().manual_seed(0)).tolist()
    assert min(drawn) >= 0 and max(drawn) <= 999 and 820 < len(set(drawn)) < 910


def test_the_guides_custom_generator_example_runs_in_w_space(tmp_path, monkeypatch):
    """The worked example of docs/guide.md's generator contract, as written there: it builds,
    loads its weights strictly, has a W space, and discovery runs on it from the command line."""
    import re
    import sys
    from pathlib import Path

    from saliency.cli import main
    from saliency.generators.base import WSpace

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    code = re.search(r"<!-- contract-example -->\n```python\n(.*?)```", guide, re.S).group(1)
    (tmp_path / "my_gan.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_gan", None)
    torch.manual_seed(0)
    import my_gan

    weights = tmp_path / "my_gan.pt"
    torch.save(my_gan.MyGenerator().state_dict(), weights)
    G = build_generator("my_gan:factory", weights=str(weights))
    assert all(torch.equal(v, torch.load(weights)[k]) for k, v in G.state_dict().items())
    W = build_generator("my_gan:factory", weights=str(weights), space="w")
    assert isinstance(W, WSpace) and W.latent_dim == 64 and W(W.sample_latents(2)).shape == (2, 3, 32, 32)
    out = tmp_path / "discover"
    argv = ["discover", "--generator", "my_gan:factory", "--weights", str(weights), "--space", "w", "--directions", "8", "--steps", "5"]
    assert main(argv + ["--batch-size", "4", "--reconstructor", "lenet", "--out", str(out), "--no-grids"]) == 0
    assert (out / "directions.safetensors").is_file()


def test_a_misspelt_generator_default_is_refused_where_it_is_declared():
    from saliency.generators.backend import DiscoverDefaults, GeneratorSpec, MaskDefaults

    with pytest.raises(TypeError, match="shift_rnage"):
        DiscoverDefaults(shift_rnage=3.0)
    with pytest.raises(TypeError, match="shift_range"):  # a setting under the wrong stage
        MaskDefaults(shift_range=3.0)
    mine = GeneratorSpec("mine", lambda **kw: None, "a backend", discover=DiscoverDefaults(shift_range=3.0))
    assert mine.discover.shift_range == 3.0 and mine.defaults()["discover"]["lr"] == 1e-4
