"""Discovery on the planted-truth generator: learning, exact resume, the directions file."""

import json

import pytest
import torch

from discovery import build_deformator, load_directions
from discovery.trainer import Discoverer, DiscoveryConfig, run_discovery
from saliency.errors import UserError
from saliency.generators import build_generator, spec
from saliency.training import Interrupted, interrupt_after

CPU = torch.device("cpu")


def small_config(**kw) -> DiscoveryConfig:
    base = dict(
        generator="planted", deformator="ortho", reconstructor="lenet", lr=1e-3, steps=40, checkpoint_every=10, log_every=5, acc_window=20
    )
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


def test_discovery_recovers_the_planted_direction(tmp_path):
    """Measure: max |cos| between a learned direction and d*. The 4 unit-norm directions start on
    the first 4 axes of z (max |cos| to d* = 0.66, d* being no axis); training must turn one of
    them onto d* (> 0.95; it reaches 0.99-1.0), which a deformator that gets no gradient, shifts
    that are not applied or a reconstructor that cannot read them all fail. R must also name the
    direction far above chance (1/4)."""
    G = build_generator("planted")
    weight = spec("planted").discover.shift_loss_weight
    cfg = small_config(
        deformator="proj",
        directions=4,
        lr=1e-2,
        steps=800,
        seed=0,
        checkpoint_every=800,
        log_every=100,
        acc_window=200,
        shift_loss_weight=weight,
    )

    def max_cos(D: torch.Tensor) -> float:
        return ((D / D.norm(dim=1, keepdim=True)) @ G.planted_direction).abs().max().item()

    start = max_cos(build_deformator("proj", 8, 4).directions())
    assert start < 0.7
    result = run_discovery(G, cfg, tmp_path, CPU, progress=False, render_grids=False)
    assert max_cos(load_directions(result.directions_path).directions) > 0.95
    assert result.summary["accuracy"] > 0.75


@pytest.mark.slow
def test_recovery_under_perturbed_arithmetic_where_the_papers_loss_missed(tmp_path):
    """The issue this answers: one seed's success was floating-point luck (another torch build,
    thread count or a GPU turned a 0.997 run into 0.5). So: the four runs of seeds x {float32,
    float64, weights nudged by 1e-6} where the paper's eps loss (weight 0.25) missed d*: float32
    seed 5 (0.455), float64 seed 10 (0.891), nudged seeds 10 and 13 (0.717, 0.838), with registry
    defaults and discovery alone; every one must find d* (the benchmark's 16-seed rows are 16/16
    in every setting, `benchmarks/planted_recovery.py`). With that loss back this test fails."""
    from discovery.planted import recovery
    from saliency.commands.discover import config_from_flags

    cases = (("float32", 5), ("float64", 10), ("nudged", 10), ("nudged", 13))
    runs = {
        (setting, seed): recovery(
            config_from_flags(["--generator", "planted", "--seed", str(seed)]), setting, tmp_path / f"{setting}-{seed}"
        )
        for setting, seed in cases
    }
    assert all(c > 0.9 for c in runs.values()), runs


def test_frozen_deformator_does_not_recover_the_planted_direction(tmp_path, monkeypatch):
    """The same run with the deformator cut off from the gradient: R still learns, d* is not found,
    so the test above measures the deformator's learning and nothing else."""
    G = build_generator("planted")
    cfg = small_config(deformator="proj", directions=4, lr=1e-2, steps=300, checkpoint_every=300, log_every=100, acc_window=100)
    real_build = build_deformator

    def frozen(*a, **kw):
        deformator = real_build(*a, **kw)
        for p in deformator.parameters():
            p.requires_grad_(False)
        return deformator

    import discovery.trainer as trainer

    monkeypatch.setattr(trainer, "build_deformator", frozen)
    result = run_discovery(G, cfg, tmp_path, CPU, progress=False, render_grids=False)
    D = load_directions(result.directions_path).directions
    assert ((D / D.norm(dim=1, keepdim=True)) @ G.planted_direction).abs().max().item() < 0.7


def test_resume_equals_uninterrupted_run(tmp_path):
    G = build_generator("planted")
    cfg = small_config()
    whole = run_discovery(G, cfg, tmp_path / "whole", CPU, progress=False, render_grids=False)
    with pytest.raises(Interrupted), interrupt_after(17):
        run_discovery(G, cfg, tmp_path / "split", CPU, progress=False, render_grids=False)
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
