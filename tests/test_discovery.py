"""Discovery on the planted-truth generator: learning, exact resume, the directions file."""

import json

import pytest
import torch

from discovery import build_deformator, load_directions
from discovery.trainer import DiscoveryConfig, Discoverer, run_discovery
from saliency.errors import UserError
from saliency.generators import build_generator

CPU = torch.device("cpu")


def small_config(**kw) -> DiscoveryConfig:
    base = dict(generator="planted", deformator="ortho", reconstructor="lenet", lr=1e-3, steps=40, checkpoint_every=10, log_every=5, acc_window=20)
    return DiscoveryConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", ["linear", "ortho", "proj"])
def test_deformators_shift_along_their_directions(kind):
    A = build_deformator(kind, latent_dim=10, num_directions=4)
    D = A.directions()
    assert D.shape == (4, 10)
    shift = A(torch.tensor([2, 0]), torch.tensor([1.5, -3.0]))
    assert torch.allclose(shift, torch.stack([1.5 * D[2], -3.0 * D[0]]))
    if kind != "linear":
        assert torch.allclose(D.norm(dim=1), torch.ones(4), atol=1e-5)


def test_ortho_deformator_stays_orthonormal_after_updates():
    A = build_deformator("ortho", 6)
    with torch.no_grad():
        A.log_half.copy_(torch.randn(6, 6))
    D = A.directions()
    assert torch.allclose(D @ D.T, torch.eye(6), atol=1e-5)


def test_gradient_reaches_the_deformator_through_the_frozen_generator():
    G = build_generator("planted")
    disc = Discoverer(G, small_config(), CPU)
    before = disc.deformator.directions().detach().clone()
    disc.train_step(0)
    assert all(p.grad is None for p in G.parameters())
    assert not torch.equal(before, disc.deformator.directions().detach())


def test_shifts_respect_range_and_minimum():
    disc = Discoverer(build_generator("planted"), small_config(), CPU)
    _, _, k, eps = disc.sample(torch.Generator().manual_seed(0), 4096)
    assert eps.abs().min() >= 0.5 and eps.abs().max() <= 6.0
    assert (eps > 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    assert set(k.tolist()) == set(range(8))


def test_discovery_learns_planted_directions(tmp_path):
    """Directions with no visible effect are useless to R, so training must turn the learned
    directions towards the generator's informative subspace (latent_dim 24: 16 dead axes; the
    8 directions start on the first 8 axes, ~61% informative), and R must name the direction far
    above chance (1/8). With the deformator cut off from the gradient the share stays put."""
    G = build_generator("planted", latent_dim=24)
    cfg = small_config(directions=8, steps=600, lr=3e-3, checkpoint_every=600, log_every=100, acc_window=200)
    informative = G.basis[:8]

    def informative_share(D):
        return ((D @ informative.T).norm(dim=1) / D.norm(dim=1)).mean().item()

    start = informative_share(build_deformator("ortho", 24, 8).directions())
    result = run_discovery(G, cfg, tmp_path, CPU, progress=False, render_grids=False)
    learned = load_directions(result.directions_path).directions
    assert result.summary["accuracy"] > 0.6
    assert informative_share(learned) > start + 0.12


def test_resume_equals_uninterrupted_run(tmp_path):
    G = build_generator("planted")
    cfg = small_config()
    whole = run_discovery(G, cfg, tmp_path / "whole", CPU, progress=False, render_grids=False)
    assert run_discovery(G, cfg, tmp_path / "split", CPU, progress=False, render_grids=False, stop_after=17) is None
    resumed = run_discovery(G, cfg, tmp_path / "split", CPU, progress=False, render_grids=False)
    a, b = load_directions(whole.directions_path), load_directions(resumed.directions_path)
    assert torch.equal(a.directions, b.directions)
    assert a.meta == b.meta
    log_whole = (tmp_path / "whole" / "log.jsonl").read_text().splitlines()
    log_split = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines]  # noqa: E731
    assert strip(log_whole) == strip(log_split)


def test_resume_refuses_changed_settings(tmp_path):
    G = build_generator("planted")
    run_discovery(G, small_config(steps=10), tmp_path, CPU, progress=False, render_grids=False)
    with pytest.raises(UserError, match="other settings.*lr"):
        run_discovery(G, small_config(steps=20, lr=5e-4), tmp_path, CPU, progress=False, render_grids=False)
    # a longer run with the same settings continues
    result = run_discovery(G, small_config(steps=20), tmp_path, CPU, progress=False, render_grids=False)
    assert result.summary["steps"] == 20


def test_outputs_written(tmp_path):
    G = build_generator("planted")
    run_discovery(G, small_config(steps=10), tmp_path, CPU, progress=False)
    ds = load_directions(tmp_path / "directions.safetensors")
    assert ds.directions.shape == (8, 8)
    assert ds.meta["generator"] == "planted" and ds.meta["deformator"] == "ortho" and ds.meta["steps"] == 10
    assert len(ds.meta["per_direction_accuracy"]) == 8
    assert (tmp_path / "grids" / "overview_00.png").is_file()
    assert len(list((tmp_path / "grids").glob("direction_*.png"))) == 8
    assert json.loads((tmp_path / "summary.json").read_text())["num_directions"] == 8


def test_corrupt_checkpoint_and_directions_give_clear_errors(tmp_path):
    G = build_generator("planted")
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="checkpoint.pt"):
        run_discovery(G, small_config(steps=5), tmp_path, CPU, progress=False, render_grids=False)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(UserError, match="bad.safetensors"):
        load_directions(bad)


def test_plain_tensor_direction_files_load(tmp_path):
    torch.save(torch.arange(120.0).reshape(1, 120), tmp_path / "bg_direction.pth")
    ds = load_directions(tmp_path / "bg_direction.pth")
    assert ds.directions.shape == (1, 120) and ds.directions[0, 5] == 5
    torch.save({"not": "a tensor"}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth holds no"):
        load_directions(tmp_path / "other.pth")
