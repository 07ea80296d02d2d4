"""Selection: the score prefers object masks to known-bad ones; on the planted-truth generator the
planted direction wins, optimisation from random directions finds it; no direction, no answer."""

import json

import pytest
import torch

from discovery.directions import save_directions
from discovery.trainer import DiscoveryConfig, run_discovery
from saliency.cli import main
from saliency.generators import build_generator
from saliency.selection import MaskSpec, optimise_direction, rank_directions, score_shift

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


def scenes(n: int = 16, size: int = 48, seed: int = 0):
    """Textured backgrounds with one ellipse each, in [-1, 1], and the ellipses' masks."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    centre = 0.35 + 0.3 * torch.rand(n, 2, generator=g)
    radius = 0.12 + 0.08 * torch.rand(n, 1, 1, generator=g)
    masks = (((yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2) < radius**2).float()[:, None]
    background = 0.3 * torch.rand(n, 3, 1, 1, generator=g) - 0.2 + 0.25 * torch.sin(20 * xx + 7 * torch.rand(n, 1, 1, 1, generator=g))
    objects = torch.rand(n, 3, 1, 1, generator=g) * 1.2 - 0.9
    return masks * objects + (1 - masks) * background, masks


def test_score_prefers_object_masks_to_known_bad_ones():
    """Background turning white around the kept object scores far above: the whole frame
    changing (mask = whole frame), the sky turning white (mask = everything below it), and every
    scene replaced by the same blob on white (perfect-looking masks of an object never there)."""
    original, masks = scenes()
    white = torch.ones_like(original)
    yy = torch.linspace(0, 1, original.shape[-1])[:, None].expand_as(original[0, 0])
    blob = scenes(seed=99)[1][:1].expand_as(masks)
    candidates = {
        "background removed": masks * original + (1 - masks) * white,
        "whole frame darkened": original * 0.5 - 0.3,
        "sky band": torch.where(yy < 0.6, white, original),
        "blob replaces the scene": blob * -0.6 + (1 - blob) * white,
    }
    spec = MaskSpec()
    scores = {name: score_shift(original, shifted, None, spec) for name, shifted in candidates.items()}
    good = scores.pop("background removed")
    assert good["score"] > 0.5 and good["keep"] > 0.95 and good["border_share"] == 0
    for name, bad in scores.items():
        assert bad["score"] < good["score"] / 3, name
    assert scores["blob replaces the scene"]["shape"] > 0.9 and scores["blob replaces the scene"]["keep"] < 0.3  # keep is what sinks it
    assert scores["sky band"]["shape"] < 0.1


def test_select_cli_writes_selection_and_pictures(candidates, tmp_path):
    path, planted_index = candidates
    assert main(["select", "--generator", "planted", "--directions", str(path), "--out", str(tmp_path), "--optimise-steps", "0"]) == 0
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert sel["direction"] == planted_index and sel["sign"] == 1 and sel["polarity"] == "light" and sel["source"] == "discovered"
    G = build_generator("planted")
    assert torch.allclose(torch.tensor(sel["vector"]), G.planted_direction, atol=1e-5)
    assert 0.05 < sel["mask_area"] < 0.45 and sel["mask_border_share"] < 0.1
    assert (tmp_path / "candidates.png").is_file() and (tmp_path / "ranking.md").read_text().startswith("| rank")
    assert len(json.loads((tmp_path / "ranking.json").read_text())["rows"]) == 17 * 2 * 4 * 2  # directions x signs x shifts x polarities


def test_manual_override(candidates, tmp_path):
    path, _ = candidates
    assert (
        main(
            [
                "select",
                "--generator",
                "planted",
                "--directions",
                str(path),
                "--out",
                str(tmp_path),
                "--direction",
                "2",
                "--sign",
                "-",
                "--shift",
                "8",
                "--optimise-steps",
                "0",
            ]
        )
        == 0
    )
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert (sel["direction"], sel["sign"], sel["shift"]) == (2, -1, 8.0)


def test_no_background_direction_is_reported(candidates, tmp_path, capsys):
    """Neither the discovered directions nor optimisation from them and from random starts can
    whiten a background that no direction whitens."""
    path, _ = candidates
    assert main(["select", "--generator", "planted-none", "--directions", str(path), "--out", str(tmp_path), "--optimise-steps", "60"]) == 2
    assert "no direction" in capsys.readouterr().err
    assert not (tmp_path / "selection.json").exists()


def test_optimisation_from_random_starts_finds_the_planted_direction(tmp_path, capsys):
    """No discovery at all (`--directions none`, as Melas-Kyriazi et al. 2022) and only random
    directions to start from (max |cos| to d* of 0.55 at the start): the chosen one must be d*
    (|cos| > 0.9). A direction cut off from the gradient stays where it started (and backward()
    would fail)."""
    G = build_generator("planted")
    starts = [torch.randn(8, generator=torch.Generator().manual_seed(1_000 + i)) for i in range(4)]
    assert max(abs(float(s @ G.planted_direction / s.norm())) for s in starts) < 0.6
    assert (
        main(
            [
                "select",
                "--generator",
                "planted",
                "--directions",
                "none",
                "--out",
                str(tmp_path),
                "--random-starts",
                "4",
                "--optimise-steps",
                "300",
                "--polarity",
                "light",
            ]
        )
        == 0
    )
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert sel["source"].startswith("optimised from random start") and sel["directions_file"] is None
    assert abs(float(torch.tensor(sel["vector"]) @ G.planted_direction)) > 0.9
    frozen = optimise_direction(G, starts[0], 9.0, MaskSpec(), steps=0)
    assert abs(float(frozen @ G.planted_direction)) < 0.6
    capsys.readouterr()
    assert main(["select", "--generator", "planted", "--directions", "none", "--out", str(tmp_path / "none"), "--random-starts", "0"]) == 2
    assert "random starts only" in capsys.readouterr().err


def test_optimisation_improves_a_rough_start():
    G = build_generator("planted")
    d = G.planted_direction
    rough = d + 0.6 * G.basis[1] + 0.6 * G.basis[6]  # d* with foreground motion and stripe changes mixed in
    spec = MaskSpec()
    before = rank_directions(G, rough[None], [9.0], spec, signs=(1,))[0]["score"]
    refined = optimise_direction(G, rough, 9.0, spec, steps=150)
    after = rank_directions(G, refined[None], [9.0], spec, signs=(1,))[0]["score"]
    assert after > before + 0.2
    assert torch.nn.functional.cosine_similarity(refined, d, dim=0) > torch.nn.functional.cosine_similarity(rough, d, dim=0) + 0.1


def test_selection_file_round_trips_through_the_typed_selection(tmp_path):
    """Selection.load reads what `select` writes (and older files with only some mask keys);
    save writes the same file back; the mask spec and the latent shift come from it."""
    from saliency.errors import UserError
    from saliency.selection import Selection

    path = tmp_path / "selection.json"
    path.write_text(
        json.dumps(
            {
                "generator": "planted",
                "vector": [0.6, 0.8],
                "shift": 4,
                "rule": "intensity",
                "threshold": 0.9,
                "polarity": "dark",
                "filters": {"min_area": 0.1},
                "score": 0.3,
                "source": "optimised",
            }
        )
    )
    sel = Selection.load(path)
    assert sel.shift == 4.0 and sel.provenance == {"score": 0.3, "source": "optimised"} and sel.generator == "planted"
    assert sel.mask_spec().filters.min_area == 0.1 and sel.mask_spec().filters.max_area == 0.5 and sel.mask_spec().polarity == "dark"
    assert torch.allclose(sel.shift_vector(), torch.tensor([2.4, 3.2]))
    sel.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(path.read_text()) | {"shift": 4.0, "vector": [0.6, 0.8]}
    minimal = tmp_path / "minimal.json"
    minimal.write_text(json.dumps({"vector": [1.0], "shift": 2}))
    assert Selection.load(minimal).mask_spec().rule == "intensity"
    (tmp_path / "bad.json").write_text(json.dumps({"shift": 2}))
    with pytest.raises(UserError, match="not a selection file"):
        Selection.load(tmp_path / "bad.json")


def test_a_selection_file_silent_on_filters_reads_the_same_everywhere(tmp_path):
    """dcgan-faces declares a 0.85 area cap (faces fill the frame); a selection file for it that
    names no filters gets that cap from synth's flags, on-the-fly training's and the GAN teacher's
    reading alike (the teacher once fell back to FilterConfig's 0.5), and a flag still wins."""
    import argparse

    from saliency.commands.common import mask_spec_from_args
    from saliency.filters import FilterConfig
    from saliency.selection import Selection

    path = tmp_path / "selection.json"
    path.write_text(json.dumps({"generator": "dcgan-faces", "vector": [1.0, 0.0], "shift": 3.0, "rule": "intensity", "polarity": "dark"}))
    selection = Selection.load(path)
    flags = dict(
        generator="dcgan-faces", rule=None, threshold=None, polarity=None, min_area=None, max_area=None, min_peaks=None, min_component=None
    )
    from_synth = mask_spec_from_args(argparse.Namespace(**flags), selection)
    assert selection.mask_spec().filters.max_area == from_synth.filters.max_area == 0.85 != FilterConfig().max_area
    assert from_synth.polarity == "dark" and from_synth.filters.min_area == FilterConfig().min_area
    assert mask_spec_from_args(argparse.Namespace(**{**flags, "max_area": 0.6}), selection).filters.max_area == 0.6
    unnamed = Selection(vector=[1.0, 0.0], shift=3.0)  # a file that names no generator
    assert unnamed.mask_spec("dcgan-faces").filters.max_area == 0.85 and unnamed.mask_spec().filters.max_area == 0.5
