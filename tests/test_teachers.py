"""Label-free teachers (wCtr, MB+, MR, DSR, HS), their fusion, and pseudo-mask refinement, each on a
case with a known answer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from saliency.classical.fusion import agreement_weights, fuse
from saliency.classical.mbplus import minimum_barrier_distance
from saliency.predictors import CLASSICAL, make_predictor
from saliency.real_photos.pseudo_labels import pseudo_mask
from saliency.real_photos.refine import encode_confidence, refine
from saliency.unet.data import mask_target


def scene(h: int = 120, w: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red ellipse off centre on a noisy blue-to-green gradient: photo and its true mask."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w)[None, :, None]
    background = np.concatenate([np.zeros((h, w, 1)), 90 + 60 * x.repeat(h, 0), 160 - 60 * x.repeat(h, 0)], axis=2)
    image = background + rng.normal(0, 6, (h, w, 3))
    truth = np.zeros((h, w), np.uint8)
    cv2.ellipse(truth, (w // 2 + 12, h // 2 - 6), (w // 6, h // 5), 20, 0, 360, 1, -1)
    image[truth.astype(bool)] = (200, 40, 30) + rng.normal(0, 6, (int(truth.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), truth.astype(bool)


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_each_teacher_finds_the_known_object(name):
    image, truth = scene()
    m = make_predictor(name, "cpu")(image)
    assert m.shape == truth.shape and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    inside, outside = float(m[truth].mean()), float(m[~truth].mean())
    assert inside > 0.6 and outside < 0.2, (inside, outside)
    iou = ((m > 0.5) & truth).sum() / ((m > 0.5) | truth).sum()
    assert iou > 0.8, iou


def test_minimum_barrier_distance_ignores_a_slow_ramp_and_sees_a_walled_object():
    ramp = np.tile(np.linspace(0, 100, 40, dtype=np.float32), (40, 1))[..., None]
    ramp[15:25, 15:25] = 200.0
    d = minimum_barrier_distance(ramp)[..., 0]
    # the ramp is crossed by a path down one column: barrier 0. The flat block's best path
    # comes down the ramp's highest column next to it (25) and steps in: 200 - ramp[25]
    assert np.abs(d[:10]).max() == 0 and np.abs(d[30:]).max() == 0
    assert np.allclose(d[15:25, 15:25], 200.0 - ramp[0, 25, 0], atol=1e-4)


def test_dsr_lasso_is_soft_thresholding_on_an_orthonormal_dictionary():
    from saliency.classical.dsr import lasso

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    codes = rng.normal(size=(8, 5))
    # with D^T D = I the Lasso decouples: each code is the correlation soft-thresholded by lambda
    expected = np.sign(codes) * np.maximum(np.abs(codes) - 0.1, 0)
    assert np.allclose(lasso(q, q @ codes, lam=0.1), expected, atol=1e-6)


def test_dsr_errors_are_low_for_the_frame_and_highest_for_a_colour_the_frame_lacks():
    from saliency.classical.dsr import dense_error, sparse_error

    rng = np.random.default_rng(1)
    frame = np.concatenate([rng.uniform(0.3, 0.5, (30, 6)), rng.uniform(0, 1, (30, 2))], 1)  # greyish, all over the frame
    odd = np.array([[1.0, 0.0, 0.1, 0.6, 0.9, 0.8, 0.5, 0.5]])  # a saturated red at the centre
    feats = np.concatenate([frame, odd])
    for error in (dense_error(frame, feats), sparse_error(frame, feats)):
        assert error.argmax() == len(frame) and error[-1] == 1.0 and error[:-1].mean() < 0.3, error


def test_hs_region_scale_is_the_largest_square_inside():
    from saliency.classical.hierarchical import region_scales

    labels = np.zeros((20, 30), np.int64)
    labels[4:9, 6:13] = 1  # 5 x 7: the largest square is 5
    labels[12:19, 2:3] = 2  # a 7 x 1 line: 1
    assert region_scales(labels).tolist()[1:] == [5, 1]


def test_hs_layers_nest_and_merge_every_region_below_its_scale():
    from saliency.classical.hierarchical import THRESHOLDS, layers, region_scales

    image, _ = scene(h=150, w=300)  # short side 150: the thresholds halve (3 -> 2, 17 -> 8, 33 -> 16)
    maps, _ = layers(image)
    counts = [int(m.max()) + 1 for m in maps]
    assert counts[0] > counts[1] > counts[2] > 1, counts
    for fine, coarse, t in zip(maps, maps[1:] + [None], THRESHOLDS):
        assert region_scales(fine).min() >= max(2, round(t * 0.5))
        if coarse is not None:  # a fine region lies inside one coarse region
            pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()], 1), axis=0)
            assert len(pairs) == int(fine.max()) + 1


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_each_teacher_computes_a_large_photo_at_400_px_and_returns_a_map_of_its_size(name):
    predictor = make_predictor(name, "cpu")
    seen, inner = [], predictor.inner
    predictor.inner = lambda image: seen.append(image.shape[:2]) or inner(image)
    image, truth = scene(h=600, w=1000)
    m = predictor(image)
    assert seen == [(240, 400)] and m.shape == truth.shape and m.dtype == np.float32
    assert m[truth].mean() > 0.6 and m[~truth].mean() < 0.2, (m[truth].mean(), m[~truth].mean())
    small, _ = scene()  # 120 x 160: computed as it is
    predictor(small)
    assert seen[-1] == (120, 160)


def test_hs_inference_is_the_exact_minimiser_on_a_small_tree():
    from saliency.classical.hierarchical import hierarchical_inference

    # children 0 and 1 of one parent: minimise a^2 + (b - 1)^2 + (p - .5)^2 + .5 (a - p)^2 + .5 (b - p)^2
    s = hierarchical_inference([np.array([0.0, 1.0]), np.array([0.5])], [np.array([0, 0])], beta=1.0, gamma=0.5)
    assert np.allclose(s, [1 / 6, 5 / 6])


def test_agreement_fusion_prefers_the_teachers_that_agree():
    _, truth = scene()
    good = [truth.astype(np.float32) * s for s in (0.6, 0.65, 0.7)]  # right, if timid
    frame = np.ones_like(good[0])
    frame[20:-20, 20:-20] = 0  # a teacher that lights up the frame: the failure of the day
    maps = np.stack(good + [frame])
    w = agreement_weights(maps)
    assert w.argmin() == 3 and w[3] < 0.5 * w[:3].min() and w.sum() == pytest.approx(1)

    def iou(m):
        return ((m > 0.5) & truth).sum() / ((m > 0.5) | truth).sum()

    # averaged, the frame teacher pulls the object under 0.5 (0.49) and lifts the frame (0.25);
    # weighted by agreement, the object stays
    assert iou(fuse(maps, "mean")) == 0 and iou(fuse(maps, "agree")) == 1
    assert np.allclose(agreement_weights(maps[:2]), 0.5)  # two teachers cannot outvote each other


def test_refinement_moves_a_mask_edge_onto_the_photo_edge():
    h, w, edge = 64, 96, 48
    image = np.zeros((h, w, 3), np.uint8)
    image[:, edge:] = 220
    soft = np.zeros((h, w), np.float32)
    soft[:, edge - 2 :] = 1.0  # the teacher's edge is 2 px off the photo's
    refined = refine(soft, image)
    row = refined[h // 2] > 0.5
    assert row[edge:].all() and not row[: edge - 1].any()  # now within 1 px of the photo's edge


def test_confidence_is_written_into_the_mask_and_read_back_as_the_loss_weight():
    soft = np.array([[0.0, 0.2, 0.45, 0.5, 0.55, 0.8, 1.0]], np.float32)
    mask = pseudo_mask(soft, margin=0.2, confidence=True)
    target, weight = mask_target(mask)
    assert target[0, 0].tolist() == [0, 0, 0, 0, 1, 1, 1]  # the threshold itself weighs 0 either way
    # confidence |soft - 0.5| / 0.2, capped at 1, to 1/64
    assert np.allclose(weight[0, 0].numpy(), [1, 1, 0.25, 0, 0.25, 1, 1], atol=1 / 64)
    hard = pseudo_mask(soft, margin=0.2)
    assert hard.tolist() == [[0, 0, 128, 128, 128, 255, 255]]
    assert encode_confidence(np.array([True, False]), np.array([1.0, 1.0])).tolist() == [255, 0]


def test_pseudo_labels_from_fused_refined_teachers_carry_confidence(tmp_path):
    from saliency.real_photos.pseudo_labels import PseudoLabelConfig, label_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    truths = {}
    for i in range(4):
        image, truth = scene(seed=i)
        cv2.imwrite(str(photos / f"p{i}.png"), image[..., ::-1])
        truths[f"p{i}"] = truth
    names = ["wctr", "mbplus", "mr"]
    cfg = PseudoLabelConfig(
        photos=str(photos),
        teachers=names,
        margin=0.45,
        adaptive=True,
        keep=1.0,
        fusion="agree",
        refine=True,
        confidence=True,
        rank="agreement",
    )
    summary = label_photos(cfg, [make_predictor(n, "cpu") for n in names], tmp_path / "out", progress=False)
    assert summary["kept"] == 4
    for stem, truth in truths.items():
        mask = cv2.imread(str(tmp_path / "out" / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        target, weight = mask_target(mask)
        obj = target[0].numpy().astype(bool)
        assert ((obj & truth).sum() / (obj | truth).sum()) > 0.8
        assert 0 < float(weight.mean()) < 1 and len(np.unique(mask)) > 3  # graded, not 0 / 128 / 255
    sheet = cv2.imread(str(tmp_path / "out" / "pseudo_masks.png"))
    assert sheet is not None and sheet.shape[0] > 4 * 96  # photo, fused, refined, pseudo-mask rows


def test_pseudo_labelling_resumes_after_kill_9_with_the_same_masks(tmp_path):
    """The first half of a self-training round (train-unet's resume is tested on its own)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(60):
        cv2.imwrite(str(photos / f"p{i:02d}.png"), scene(64, 80, seed=i)[0][..., ::-1])
    cmd = [
        sys.executable,
        "-m",
        "saliency",
        "pseudo-label",
        "--photos",
        str(photos),
        "--teacher",
        "mbplus",
        "--teacher",
        "mr",
        "--teacher",
        "wctr",
        "--fusion",
        "agree",
        "--refine",
        "--confidence",
        "--adaptive",
        "--rank",
        "agreement",
    ]
    env = {**os.environ, "SALIENCY_DATA": str(tmp_path / "data")}
    subprocess.run(cmd + ["--out", str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stats = tmp_path / "killed" / "stats.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not stats.exists() or len(stats.read_text().splitlines()) < 15):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(stats.read_text().splitlines())
    assert 15 <= done_before < 60, "the kill must land mid-run"
    subprocess.run(cmd + ["--out", str(tmp_path / "killed")], check=True, env=env, capture_output=True)
    assert (tmp_path / "killed" / "pairs.json").read_text() == (tmp_path / "whole" / "pairs.json").read_text()
    for mask in sorted((tmp_path / "whole" / "masks").iterdir()):
        assert (tmp_path / "killed" / "masks" / mask.name).read_bytes() == mask.read_bytes(), mask.name


def test_teacher_maps_from_worker_processes_give_the_same_pseudo_masks(tmp_path, monkeypatch):
    from saliency.cli import main

    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path / "data"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        cv2.imwrite(str(photos / f"p{i}.png"), scene(64, 80, seed=i)[0][..., ::-1])
    common = [
        "pseudo-label",
        "--photos",
        str(photos),
        "--teacher",
        "mbplus",
        "--teacher",
        "mr",
        "--fusion",
        "agree",
        "--confidence",
        "--adaptive",
    ]
    assert main([*common, "--map-cache", str(tmp_path / "one"), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--map-cache", str(tmp_path / "two"), "--map-workers", "2", "--out", str(tmp_path / "b")]) == 0
    for name in ("mbplus", "mr"):
        assert len(list((tmp_path / "two" / name).rglob("*.png"))) == 6  # filled by the workers
    for mask in sorted((tmp_path / "a" / "masks").iterdir()):
        assert (tmp_path / "b" / "masks" / mask.name).read_bytes() == mask.read_bytes(), mask.name
    assert main([*common, "--no-map-cache", "--map-workers", "2", "--out", str(tmp_path / "c")]) == 2  # named, not ignored


def test_map_cache_pays_for_a_teacher_once_and_returns_what_it_stored(tmp_path):
    from saliency.real_photos.map_cache import CachedMaps, quantise

    class Counting:
        name = "mbplus"

        def __init__(self) -> None:
            self.calls, self.inner = 0, make_predictor("mbplus", "cpu")

        def __call__(self, image):
            self.calls += 1
            return self.inner(image)

    teacher = Counting()
    cached = CachedMaps(teacher, tmp_path)
    image, _ = scene(seed=1)
    first = cached(image)
    np.testing.assert_array_equal(first, quantise(teacher.inner(image)) / np.float32(65535))
    assert np.abs(first - teacher.inner(image)).max() <= 0.5 / 65535 + 1e-7
    again = cached(image.copy())
    assert teacher.calls == 1 and np.array_equal(first, again), "a cached map must not be computed twice"
    other, _ = scene(seed=2)
    cached(other)
    assert teacher.calls == 2, "another photo is another entry"
    cached.path(image).write_bytes(b"torn")
    assert np.array_equal(cached(image), first) and teacher.calls == 3, "a torn entry is computed again"


def test_heldout_agreement_is_perfect_for_the_model_that_drew_the_masks(tmp_path):
    """benchmarks/heldout_agreement.py on a pseudo-label folder whose masks are a model's own maps
    at 0.5: that model agrees with its held-out photos (to the few pixels where a random U-Net's
    map rounds either way), and the rows name it with and without flip TTA. --upsample-proxy at
    the size the masks were drawn at: the bilinear row reproduces them, the guided one does not."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from saliency.predictors import UNetPredictor
    from saliency.unet.model import new_model, save_model

    torch.manual_seed(0)
    checkpoint = tmp_path / "model.safetensors"
    save_model(checkpoint, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    model = UNetPredictor(checkpoint, torch.device("cpu"), 64)
    (tmp_path / "pseudo" / "masks").mkdir(parents=True)
    rows, rng = [], np.random.default_rng(0)
    for i in range(40):
        photo = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (0, 0), 3)
        cv2.imwrite(str(tmp_path / f"p{i:02d}.png"), photo[..., ::-1])
        cv2.imwrite(str(tmp_path / "pseudo" / "masks" / f"p{i:02d}.png"), np.where(model(photo) > 0.5, 255, 0).astype(np.uint8))
        rows.append([str(tmp_path / f"p{i:02d}.png"), f"masks/p{i:02d}.png"])
    (tmp_path / "pseudo" / "pairs.json").write_text(json.dumps({"pairs": rows}))
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_agreement.py"
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--pseudo",
            str(tmp_path / "pseudo"),
            "--model",
            str(checkpoint),
            "--flip-tta",
            "--upsample-proxy",
            "64",
            "--out",
            str(tmp_path / "h.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    plain, flipped, *proxy = json.loads((tmp_path / "h.json").read_text())["rows"]
    assert plain["model"] == str(checkpoint) and flipped["model"] == f"{checkpoint}+flip" and plain["photos"] == 2
    assert plain["iou"] > 0.99 and plain["accuracy"] > 0.99  # a random U-Net's maps sit near 0.5: a few pixels tie
    proxy = {(row["model"].removeprefix(str(checkpoint)), row["view"]): row for row in proxy}
    assert set(proxy) == {
        (f"{flip}@64px+{up}", view) for flip in ("", "+flip") for up in ("bilinear", "guided") for view in ("photo", "own map")
    }
    assert proxy["@64px+bilinear", "photo"]["iou"] == 1.0  # exactly how the masks were drawn
    assert proxy["@64px+bilinear", "own map"]["iou"] > 0.99
    assert proxy["@64px+guided", "photo"]["iou"] < 1.0  # the filter moves pixels of the map the masks were drawn from


def test_heldout_agreement_scores_close_ups_of_the_photos_with_a_whole_object(tmp_path, monkeypatch):
    """--close-ups adds a "close-up" row per model, over the held-out photos whose pseudo-mask holds
    a whole object (an ellipse in the middle), not those whose mask fills the frame."""
    import json
    import runpy
    import sys
    from pathlib import Path

    from saliency.pairs import find_pairs
    from saliency.unet.data import split_pairs
    from saliency.unet.model import new_model, save_model

    checkpoint = tmp_path / "model.safetensors"
    save_model(checkpoint, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    (tmp_path / "pseudo" / "masks").mkdir(parents=True)
    rows = []
    for i in range(60):
        mask = np.zeros((64, 64), np.uint8)
        cv2.ellipse(mask, (32, 32), (18, 12), 0, 0, 360, 255, -1) if i % 3 else mask.fill(255)
        cv2.imwrite(str(tmp_path / f"p{i:02d}.png"), np.dstack([mask // 2] * 3))
        cv2.imwrite(str(tmp_path / "pseudo" / "masks" / f"p{i:02d}.png"), mask)
        rows.append([str(tmp_path / f"p{i:02d}.png"), f"masks/p{i:02d}.png"])
    (tmp_path / "pseudo" / "pairs.json").write_text(json.dumps({"pairs": rows}))
    held_out = split_pairs(find_pairs(tmp_path / "pseudo"))[1]
    whole = sum(int(image.stem[1:]) % 3 != 0 for image, _ in held_out)
    assert 0 < whole < len(held_out)
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_agreement.py"
    monkeypatch.setattr(
        sys,
        "argv",
        [str(script), "--pseudo", str(tmp_path / "pseudo"), "--model", str(checkpoint), "--close-ups", "--out", str(tmp_path / "h.json")],
    )
    runpy.run_path(str(script), run_name="__main__")
    photo, close = json.loads((tmp_path / "h.json").read_text())["rows"]
    assert (photo["view"], photo["photos"]) == ("photo", len(held_out))
    assert (close["view"], close["photos"], close["model"]) == ("close-up", whole, str(checkpoint))


def test_heldout_agreement_leaves_out_photos_another_output_trained_on(tmp_path, monkeypatch):
    """--exclude-trained OTHER: a held-out photo that sits in OTHER's training split is not scored;
    one in OTHER's own held-out split still is."""
    import json
    import runpy
    import sys
    from pathlib import Path

    from saliency.pairs import find_pairs
    from saliency.unet.data import split_pairs
    from saliency.unet.model import new_model, save_model

    checkpoint = tmp_path / "model.safetensors"
    save_model(checkpoint, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    for name in ("pseudo", "other"):
        (tmp_path / name / "masks").mkdir(parents=True)
    rows = []
    for i in range(60):
        mask = np.zeros((64, 64), np.uint8)
        cv2.ellipse(mask, (32, 32), (18, 12), 0, 0, 360, 255, -1)
        cv2.imwrite(str(tmp_path / f"p{i:02d}.png"), np.dstack([mask // 2] * 3))
        for name in ("pseudo", "other"):
            cv2.imwrite(str(tmp_path / name / "masks" / f"p{i:02d}.png"), mask)
        rows.append([str(tmp_path / f"p{i:02d}.png"), f"masks/p{i:02d}.png"])
    (tmp_path / "pseudo" / "pairs.json").write_text(json.dumps({"pairs": rows}))
    held_out = split_pairs(find_pairs(tmp_path / "pseudo"))[1]
    assert len(held_out) == 3
    # the other output trains on the first two of those photos and holds out the rest
    other_rows = [r for r in rows if Path(r[0]).name in {held_out[0][0].name, held_out[1][0].name}] + [
        r for r in rows if Path(r[0]).name not in {p.name for p, _ in held_out}
    ]
    (tmp_path / "other" / "pairs.json").write_text(json.dumps({"pairs": other_rows}))
    other_train = {p.name for p, _ in split_pairs(find_pairs(tmp_path / "other"))[0]}
    assert {held_out[0][0].name, held_out[1][0].name} <= other_train and held_out[2][0].name not in other_train
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_agreement.py"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            str(script),
            "--pseudo",
            str(tmp_path / "pseudo"),
            "--model",
            str(checkpoint),
            "--exclude-trained",
            str(tmp_path / "other"),
            "--out",
            str(tmp_path / "h.json"),
        ],
    )
    runpy.run_path(str(script), run_name="__main__")
    (row,) = json.loads((tmp_path / "h.json").read_text())["rows"]
    assert row["photos"] == 1
