"""BigGAN-128, BigBiGAN and BigGAN-deep: exact checkpoint layouts, bit-exact round trips, clear errors."""

import json

import pytest
import torch

from saliency.errors import UserError
from saliency.generators import build_generator
from saliency.generators.biggan import BigBiGANGenerator, BigGANGenerator

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def entries(model):
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


def manifest(shared_dir, name):
    return json.loads((shared_dir / "reference" / name).read_text())


@pytest.fixture(scope="module")
def biggan():
    torch.manual_seed(0)
    return BigGANGenerator().eval()


def test_biggan128_matches_manifest_exactly(shared_dir, biggan):
    m = manifest(shared_dir, "biggan128_state_dict.json")
    assert entries(biggan) == m["entries"]
    assert sum(p.numel() for p in biggan.parameters()) == m["total_parameter_count"]


def test_bigbigan_matches_manifest_exactly(shared_dir):
    m = manifest(shared_dir, "bigbigan_state_dict.json")
    assert entries(BigBiGANGenerator()) == m["entries"]


def test_biggan_deep_matches_manifest_exactly(shared_dir):
    pytest.importorskip("pytorch_pretrained_biggan")
    m = manifest(shared_dir, "biggan_deep_128_state_dict.json")
    g = build_generator("biggan-deep-128", random_init=True)
    assert entries(g.model) == m["entries"]
    for res in (256, 512):
        from saliency.generators.biggan_deep import BigGANDeepGenerator

        d = m["derived"][f"biggan-deep-{res}"]
        other = BigGANDeepGenerator(res)
        assert len(other.model.state_dict()) == d["n_entries"]
        assert sum(p.numel() for p in other.model.parameters()) == d["total_parameter_count"]


def _randomise_buffers(model):
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("stored_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("stored_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("u0"):
                buf.copy_(torch.nn.functional.normalize(torch.randn_like(buf), dim=1))


def test_biggan_checkpoint_round_trip_bit_exact(tmp_path, biggan):
    _randomise_buffers(biggan)
    path = tmp_path / "G_ema.pth"
    torch.save(biggan.state_dict(), path)  # the publisher's format: a plain state dict
    loaded = build_generator("biggan-128", weights=str(path))
    for (k, a), b in zip(biggan.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    z = loaded.sample_latents(2, torch.Generator().manual_seed(0))
    classes = torch.tensor([239, 207])
    with torch.no_grad():
        x1, x2 = biggan(z, classes), loaded(z, classes)
    assert x1.shape == (2, 3, 128, 128) and torch.equal(x1, x2)
    assert x1.abs().max() <= 1 and x1.std() > 0.01
    # eval mode uses u0 without updating it
    assert torch.equal(loaded.state_dict()["linear.u0"], biggan.state_dict()["linear.u0"])


def test_bigbigan_accepts_the_converter_variant(tmp_path):
    g = BigBiGANGenerator().eval()
    _randomise_buffers(g)
    state = {k: v for k, v in g.state_dict().items() if not k.endswith(".sv0")}
    state["blocks.3.1.gamma"] = state["blocks.3.1.gamma"].reshape(1)
    assert len(state) == 125
    path = tmp_path / "BigBiGAN_x1.pth"
    torch.save(state, path)
    loaded = build_generator("bigbigan", weights=str(path))
    z = torch.randn(1, 120, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(g(z), loaded(z))
    assert loaded.sample_classes(3) is None


def test_bad_biggan_files(tmp_path, biggan):
    path = tmp_path / "G_ema.pth"
    torch.save(biggan.state_dict(), path)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: 10**6])
    with pytest.raises(UserError, match="truncated.pth.*truncated, corrupt"):
        build_generator("biggan-128", weights=str(truncated))
    other = tmp_path / "deep.bin"
    torch.save(BigBiGANGenerator().state_dict() | {"extra.weight": torch.zeros(1)}, other)
    with pytest.raises(UserError, match="deep.bin does not hold biggan-128.*unexpected key extra.weight"):
        build_generator("biggan-128", weights=str(other))
    with pytest.raises(UserError, match="not found.*nope.pth"):
        build_generator("biggan-128", weights=str(tmp_path / "nope.pth"))


def test_offline_without_weights_says_what_to_get(monkeypatch):
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    with pytest.raises(UserError, match="biggan-128-G_ema.pth.*--weights PATH.*pretrained_biggan.tar"):
        build_generator("biggan-128")


def test_biggan_deep_truncation_and_classes():
    pytest.importorskip("pytorch_pretrained_biggan")
    g = build_generator("biggan-deep-128", random_init=True, truncation=0.5, classes=[1, 2])
    z = g.sample_latents(64, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 1.0 + 1e-6
    assert set(g.sample_classes(50).tolist()) == {1, 2}
    with pytest.raises(UserError, match="truncation"):
        build_generator("biggan-deep-128", random_init=True, truncation=1.5)


@pytest.mark.slow
def test_discover_runs_on_biggan_128_checkpoint(tmp_path, biggan):
    from discovery import load_directions
    from saliency.cli import main

    path = tmp_path / "G_ema.pth"
    torch.save(biggan.state_dict(), path)
    out = tmp_path / "run"
    rc = main(
        [
            "discover",
            "--generator",
            "biggan-128",
            "--weights",
            str(path),
            "--classes",
            "239,207",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--directions",
            "4",
            "--reconstructor",
            "lenet",
            "--eval-samples",
            "1",
            "--out",
            str(out),
            "--no-grids",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    ds = load_directions(out / "directions.safetensors")
    assert ds.directions.shape == (4, 120) and ds.meta["generator"] == "biggan-128"


def test_biggan_deep_checkpoint_round_trip(tmp_path):
    pytest.importorskip("pytorch_pretrained_biggan")
    g = build_generator("biggan-deep-128", random_init=True)
    path = tmp_path / "pytorch_model.bin"
    torch.save(g.model.state_dict(), path)  # how the converter wrote the hosted file
    loaded = build_generator("biggan-deep-128", weights=str(path))
    z = g.sample_latents(1, torch.Generator().manual_seed(0))
    c = torch.tensor([207])
    with torch.no_grad():
        assert torch.equal(g(z, c), loaded(z, c))
    torch.save(BigGANGenerator().state_dict(), tmp_path / "wrong.bin")
    with pytest.raises(UserError, match="wrong.bin does not hold biggan-deep-128"):
        build_generator("biggan-deep-128", weights=str(tmp_path / "wrong.bin"))
