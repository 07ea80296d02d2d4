"""One discovery step computes what GANLatentDiscovery's training loop computes (Voynov & Babenko
2020): the same loss, and the same gradients on the deformator and the reconstructor, for the
ortho and linear deformators; and shifts eps are drawn by the same law.

fixtures/reference/discovery_step.json was made by running the reference `Trainer.train` for one
step (see fixtures/reference/README.md). Parameter conventions differ and are mapped here: the
reference ortho deformator shifts along columns of expm(L - L^T), ours along rows of
expm(S - S^T), so S = L^T; the reference linear deformator's weight is our weight transposed
(its nn.Linear bias is zeroed: the paper's A is linear). Both sides run in float64, where the
two matrix-exponential implementations agree to ~1e-15 instead of ~1e-6.
"""

import json
import sys
from pathlib import Path

import pytest
import torch

from discovery.trainer import Discoverer, DiscoveryConfig

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "reference"))
from seeded import facts_difference, seeded_network, seeded_port, seeded_tensor  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "reference"
STEP = json.loads((HERE / "discovery_step.json").read_text())
OUTPUTS = json.loads((HERE / "biggan_outputs.json").read_text())
RENAMES = (("trunk.", "features_extractor."), ("direction_head.", "type_estimator."), ("shift_head.", "shift_estimator."))


def reference_name(ours: str) -> str:
    for a, b in RENAMES:
        if ours.startswith(a):
            return b + ours[len(a) :]
    raise KeyError(ours)


@pytest.fixture(scope="module")
def G():
    case = next(c for c in OUTPUTS["cases"] if c["generator"] == "biggan-128" and c["width"] == STEP["generator"]["width"])
    return seeded_port(case, OUTPUTS["seed"], classes=STEP["generator"]["classes"]).double()


def discoverer(G, case: dict, **overrides) -> Discoverer:
    cfg = DiscoveryConfig(
        generator="biggan-128",
        deformator=case["deformator"],
        directions=case["directions"],
        reconstructor="resnet18",
        batch_size=len(case["batch"]["k"]),
        **overrides,
    )
    d = Discoverer(G, cfg, torch.device("cpu"))
    d.deformator.double(), d.reconstructor.double()
    with torch.no_grad():
        if case["deformator"] == "ortho":
            d.deformator.log_half.copy_(seeded_tensor("log_mat_half", (120, 120), STEP["seed"]).T)
        else:
            d.deformator.weight.copy_(0.1 * seeded_tensor("linear.weight", (120, case["directions"]), STEP["seed"]).T)
    ours = d.reconstructor.state_dict()
    theirs = seeded_network({reference_name(k): v for k, v in ours.items()}, STEP["seed"])
    d.reconstructor.load_state_dict({k: theirs[reference_name(k)] for k in ours}, strict=True)
    return d


def one_step(d: Discoverer, case: dict) -> dict:
    b = case["batch"]
    z, classes = torch.tensor(b["z"], dtype=torch.float64), torch.tensor(b["classes"])
    k, eps = torch.tensor(b["k"]), torch.tensor(b["eps"], dtype=torch.float64)
    d.deformator.train(), d.reconstructor.train()
    x0, x1 = d.images(z, classes, k, eps)
    out = d.losses(x0, x1, k, eps)
    out["loss"].backward()
    return out


def reference_gradient(d: Discoverer, name: str) -> torch.Tensor:
    """Our parameter's gradient laid out as the reference parameter `name`'s."""
    if name.startswith("deformator."):
        return (d.deformator.log_half if name.endswith("log_mat_half") else d.deformator.weight).grad.T
    ours = {reference_name(n): p for n, p in d.reconstructor.named_parameters()}
    return ours[name.removeprefix("predictor.")].grad


def test_defaults_are_the_papers():
    r = STEP["reference_defaults"]
    cfg = DiscoveryConfig(generator="biggan-128")
    assert r["shift_distribution"] == "UNIFORM" and r["label_weight"] == 1.0
    assert (cfg.shift_range, cfg.min_shift, cfg.shift_loss_weight) == (r["shift_scale"], r["min_shift"], r["shift_weight"])
    assert (cfg.lr, cfg.lr, cfg.batch_size, cfg.steps) == (r["deformator_lr"], r["shift_predictor_lr"], r["batch_size"], r["n_steps"])


@pytest.mark.parametrize("case", STEP["cases"], ids=lambda c: c["deformator"])
def test_one_step_loss_and_gradients_equal_the_reference(G, case):
    d = discoverer(G, case)
    out = one_step(d, case)

    def close(a, b):
        return abs(float(a) - b) <= 1e-9 * max(1.0, abs(b))

    assert close(out["ce"].detach(), case["direction_loss"])
    assert close(0.25 * out["shift_l1"].detach(), case["shift_loss"])
    assert close(out["loss"].detach(), case["loss"])
    assert set(case["gradients"]) == {"deformator.log_mat_half" if case["deformator"] == "ortho" else "deformator.linear.weight"} | {
        "predictor." + reference_name(n) for n, _ in d.reconstructor.named_parameters()
    }
    for name, facts in case["gradients"].items():
        assert facts_difference(facts, reference_gradient(d, name)) < 1e-6, name


def test_a_wrong_shift_loss_weight_is_caught(G):
    case = STEP["cases"][0]
    out = one_step(discoverer(G, case, shift_loss_weight=0.5), case)
    assert abs(float(out["loss"].detach()) - case["loss"]) > 0.1


def law_mismatches(eps: torch.Tensor, law: dict) -> list[str]:
    """Which statistics of `eps` fall outside the reference's (sampling error: ~5 sd)."""
    a, n = eps.abs(), law["draws"]
    checks = {
        "min_abs": abs(float(a.min()) - law["min_abs"]) < 1e-6,
        "max_abs": float(a.max()) <= 6.0 and abs(float(a.max()) - law["max_abs"]) < 1e-3,
        "share_at_min": abs(float((a == law["min_abs"]).double().mean()) - law["share_at_min"]) < 5 * (0.08 * 0.92 / n) ** 0.5 * 2**0.5,
        "mean_abs": abs(float(a.mean()) - law["mean_abs"]) < 5 * 1.7 / n**0.5 * 2**0.5,
        "share_positive": abs(float((eps > 0).double().mean()) - law["share_positive"]) < 5 * 0.5 / n**0.5 * 2**0.5,
    }
    return [k for k, ok in checks.items() if not ok]


def test_shifts_are_drawn_by_the_reference_law(G):
    law = STEP["shift_law"]

    def draw(cfg):
        return Discoverer.sample(
            type("D", (), {"G": G, "cfg": cfg, "num_directions": 1, "device": "cpu"})(), torch.Generator().manual_seed(1), law["draws"]
        )[3]

    assert law_mismatches(draw(DiscoveryConfig(generator="biggan-128")), law) == []
    assert "max_abs" in law_mismatches(draw(DiscoveryConfig(generator="biggan-128", shift_range=5.0)), law)
    assert "share_at_min" in law_mismatches(draw(DiscoveryConfig(generator="biggan-128", min_shift=1.0)), law)
