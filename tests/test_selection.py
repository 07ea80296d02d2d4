"""Selection on the planted-truth generator: the planted direction must win; no direction, no answer."""

import json

import pytest
import torch

from discovery.directions import save_directions
from discovery.trainer import DiscoveryConfig, run_discovery
from saliency.cli import main
from saliency.generators import build_generator
from saliency.selection import MaskSpec, rank_directions, refine_direction

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    """Directions discovered on the planted generator, d* and random decoys."""
    G = build_generator("planted")
    out = tmp_path_factory.mktemp("disc")
    cfg = DiscoveryConfig(generator="planted", deformator="ortho", reconstructor="lenet", lr=1e-3, steps=200, checkpoint_every=200)
    learned = run_discovery(G, cfg, out, CPU, progress=False, render_grids=False)
    from discovery import load_directions

    discovered = load_directions(learned.directions_path).directions
    decoys = torch.randn(8, 8, generator=torch.Generator().manual_seed(11))
    all_dirs = torch.cat([discovered, G.planted_direction[None], decoys])
    path = out / "candidates.safetensors"
    save_directions(path, all_dirs, {"generator": "planted"})
    return path, len(discovered)


def test_planted_direction_ranks_first(candidates):
    from discovery import load_directions

    path, planted_index = candidates
    rows = rank_directions(build_generator("planted"), load_directions(path).directions, [6.0, 12.0], MaskSpec())
    assert rows[0]["direction"] == planted_index and rows[0]["sign"] == 1
    assert rows[0]["score"] > 3 * max(r["score"] for r in rows if r["direction"] != planted_index)


def test_select_cli_writes_selection_and_pictures(candidates, tmp_path):
    path, planted_index = candidates
    assert main(["select", "--generator", "planted", "--directions", str(path), "--out", str(tmp_path)]) == 0
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert sel["direction"] == planted_index and sel["sign"] == 1
    G = build_generator("planted")
    assert torch.allclose(torch.tensor(sel["vector"]), G.planted_direction, atol=1e-5)
    assert (tmp_path / "candidates.png").is_file() and (tmp_path / "ranking.md").read_text().startswith("| rank")
    assert len(json.loads((tmp_path / "ranking.json").read_text())["rows"]) == 17 * 2 * 4


def test_manual_override(candidates, tmp_path):
    path, _ = candidates
    assert main(["select", "--generator", "planted", "--directions", str(path), "--out", str(tmp_path), "--direction", "2", "--sign", "-", "--shift", "8"]) == 0
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert (sel["direction"], sel["sign"], sel["shift"]) == (2, -1, 8.0)


def test_no_background_direction_is_reported(candidates, tmp_path, capsys):
    path, _ = candidates
    assert main(["select", "--generator", "planted-none", "--directions", str(path), "--out", str(tmp_path)]) == 2
    assert "no direction" in capsys.readouterr().err
    assert not (tmp_path / "selection.json").exists()


def test_refinement_moves_a_rough_direction_towards_the_planted_one():
    G = build_generator("planted")
    d = G.planted_direction
    rough = d + 0.6 * G.basis[1] + 0.6 * G.basis[6]  # d* with foreground motion and stripe changes mixed in
    start = torch.nn.functional.cosine_similarity(rough, d, dim=0)  # 0.76
    refined = refine_direction(G, rough, shift=9.0, steps=120, lr=2e-2)
    assert torch.nn.functional.cosine_similarity(refined, d, dim=0) > start + 0.08  # reaches 0.86
