"""Benchmark: metrics with known answers, dataset layouts and their quirks, bad input, CLI outputs."""

import json

import cv2
import numpy as np
import py_sod_metrics as sod
import pytest
import torch

from saliency.bench.datasets import open_dataset
from saliency.bench.evaluator import Evaluator
from saliency.cli import main
from saliency.errors import UserError
from saliency.metrics import per_image_accuracy, per_image_fbeta_curve, per_image_iou
from saliency.predictors import CenterPrior, SpectralResidual


def left_half(h=10, w=10):
    gt = np.zeros((h, w), bool)
    gt[:, : w // 2] = True
    return gt


def test_paper_metrics_known_answers():
    gt = left_half()
    pred = np.zeros((10, 10), np.float32)
    pred[:5, :5] = 1.0  # a quarter of the image, all inside the object
    ev = Evaluator()
    per = ev.step(pred, gt)
    assert per["iou"] == pytest.approx(0.5) and per["accuracy"] == pytest.approx(0.75)
    assert per["max_f"] == pytest.approx(1.3 * 0.5 / (0.3 + 0.5))  # precision 1, recall 0.5
    res = ev.get_results()
    assert res["field"]["mae"] == pytest.approx(0.25)
    perfect = Evaluator()
    perfect.step(gt.astype(np.float32), gt)
    r = perfect.get_results()
    assert (r["max_fbeta"], r["iou"], r["accuracy"]) == (pytest.approx(1), pytest.approx(1), pytest.approx(1))
    assert r["field"]["mae"] == 0 and r["field"]["s_measure"] == pytest.approx(1)
    inverted = Evaluator()
    inverted.step((~gt).astype(np.float32), gt)
    assert inverted.get_results()["iou"] == 0 and inverted.get_results()["accuracy"] == 0


def test_per_image_averaging_not_pooled():
    """Two images: IoU 1 and IoU 0 average to 0.5 (a pooled count would say otherwise)."""
    big, small = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    big[:8] = True
    small[0, 0] = True
    ev = Evaluator(field=False)
    ev.step(big.astype(np.float32), big)
    ev.step(np.zeros((10, 10), np.float32), small)
    assert ev.get_results()["iou"] == pytest.approx(0.5)


def test_fbeta_curve_thresholds_are_strict_and_255():
    pred = torch.tensor([[[[0.0, 1 / 255, 0.6, 1.0]]]])
    gt = torch.tensor([[[[0.0, 0.0, 1.0, 1.0]]]])
    curve = per_image_fbeta_curve(pred, gt)
    assert curve.shape == (1, 255)
    assert curve[0, 1].item() == pytest.approx(1.0)  # > 1/255 keeps exactly the object
    assert curve[0, 0].item() < 1.0  # > 0 also keeps the 1/255 pixel
    assert per_image_iou(pred, gt).item() == pytest.approx(1.0)
    assert per_image_accuracy(pred, gt).item() == pytest.approx(1.0)


def test_agrees_with_pysodmetrics_where_both_define_the_metric():
    rng = np.random.default_rng(0)
    ours, theirs_f, theirs_mae = (
        Evaluator(field=False),
        sod.FmeasureV2({"fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=False, beta=0.3)}),
        sod.MAE(),
    )
    maes = []
    for _ in range(8):
        gt = rng.random((40, 50)) > 0.6
        pred = np.clip(gt * 0.6 + rng.random((40, 50)) * 0.5, 0, 1).astype(np.float32)
        pred.flat[0], pred.flat[1] = 0.0, 1.0  # min-max normalisation in pysodmetrics is then a no-op
        ours.step(pred, gt)
        p8 = (pred * 255).round().astype(np.uint8)
        theirs_f.step(pred=p8, gt=gt.astype(np.uint8) * 255)
        theirs_mae.step(pred=p8, gt=gt.astype(np.uint8) * 255)
        maes.append(np.abs(p8 / 255 - gt).mean())
    assert ours.get_results()["max_fbeta"] == pytest.approx(float(np.max(theirs_f.get_results()["fm"]["dynamic"])), abs=5e-3)
    assert theirs_mae.get_results()["mae"] == pytest.approx(np.mean(maes))


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def make_layout(root, images_dir, masks_dir, n=3, soft=False, rgb_mask=False):
    for i in range(n):
        img = np.full((30, 40, 3), 40 * i, np.uint8)
        mask = np.zeros((30, 40), np.uint8)
        mask[10:20, 10:30] = 255
        if soft:
            mask[9, 10:30] = 100  # below 128: background
            mask[20, 10:30] = 200  # above: object
        write(root / images_dir / f"im{i}.jpg", img)
        write(root / masks_dir / f"im{i}.png", np.dstack([mask] * 3) if rgb_mask and i == 0 else mask)
    (root / images_dir / ".DS_Store").write_bytes(b"junk")
    (root / images_dir / ".ipynb_checkpoints").mkdir()
    (root / masks_dir / "notes.txt").write_text("stray")


@pytest.mark.parametrize(
    "name,images_dir,masks_dir",
    [
        ("duts-te", "DUTS-TE-Image", "DUTS-TE-Mask"),
        ("dut-omron", "DUT-OMRON-image", "pixelwiseGT-new-PNG"),
        ("ecssd", "images", "ground_truth_mask"),
    ],
)
def test_official_layouts_and_quirks(tmp_path, name, images_dir, masks_dir):
    make_layout(tmp_path, images_dir, masks_dir, soft=True, rgb_mask=True)
    ds = open_dataset(name, tmp_path)
    items = list(ds)
    assert [s.stem for s, _, _ in items] == ["im0", "im1", "im2"]
    sample, image, gt = items[0]
    assert image.shape == (30, 40, 3) and gt.dtype == bool and gt.shape == (30, 40)
    assert gt.sum() == 10 * 20 + 20  # the 200-valued row is object, the 100-valued row is not


def test_dataset_bad_input(tmp_path):
    make_layout(tmp_path, "DUTS-TE-Image", "DUTS-TE-Mask")
    (tmp_path / "DUTS-TE-Mask" / "im1.png").unlink()
    with pytest.raises(UserError, match="no mask for .*im1.jpg"):
        open_dataset("duts-te", tmp_path)
    ds = open_dataset("duts-te", tmp_path, skip_bad=True)
    assert len(ds) == 2 and "im1.jpg" in ds.skipped[0]
    write(tmp_path / "DUTS-TE-Mask" / "im1.png", np.zeros((31, 40), np.uint8))
    with pytest.raises(UserError, match="im1.png is 40x31 but image"):
        list(open_dataset("duts-te", tmp_path))
    (tmp_path / "DUTS-TE-Image" / "im2.jpg").write_bytes(b"\xff\xd8 broken")
    ds = open_dataset("duts-te", tmp_path, skip_bad=True)
    assert len(list(ds)) == 1 and len(ds.skipped) == 2
    with pytest.raises(UserError, match="duts-te not found.*DUTS-TE-Image"):
        open_dataset("duts-te", tmp_path / "nowhere")


def test_baselines_give_maps_of_the_image_size():
    image = np.zeros((30, 50, 3), np.uint8)
    image[10:20, 20:30] = 255
    for predictor in (CenterPrior(), SpectralResidual()):
        m = predictor(image)
        assert m.shape == (30, 50) and m.min() >= 0 and m.max() <= 1
    cp = CenterPrior()(image)
    assert cp[15, 25] == cp.max() and cp[0, 0] < 0.2
    spot = np.zeros((30, 50, 3), np.uint8)
    spot[10:13, 35:38] = 255  # the one odd thing in the image, off-centre
    sr = SpectralResidual()(spot)
    assert sr[7:16, 32:41].mean() > 3 * sr.mean()


def test_bench_cli_on_a_fixture_set(tmp_path):
    make_layout(tmp_path / "set", "DUT-OMRON-image", "pixelwiseGT-new-PNG", n=4)
    out = tmp_path / "out"
    assert (
        main(
            [
                "bench",
                "--dataset",
                "dut-omron",
                "--root",
                str(tmp_path / "set"),
                "--model",
                "center-prior",
                "--model",
                "spectral-residual",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())["results"]
    assert {r["model"] for r in results} == {"center-prior", "spectral-residual"} and all(r["images"] == 4 for r in results)
    assert (out / "results.md").read_text().count("\n| ") == 3
    for f in ("pr_curves.png", "grid-center-prior.png", "grid-spectral-residual.png"):
        assert (out / f).is_file()


def test_bench_upsamples_as_the_checkpoint_records_unless_told(tmp_path):
    """A model exported with `--upsample guided` is benched with guided maps ("+guided" in its
    row), and `--upsample bilinear` gives the papers' plain resize: another row, other figures."""
    from saliency.unet.model import new_model, save_model

    rng = np.random.default_rng(0)
    for i in range(2):  # photos of coloured blocks, whose edges the guided filter follows
        write(
            tmp_path / "set" / "DUT-OMRON-image" / f"im{i}.jpg",
            cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (80, 60), interpolation=cv2.INTER_NEAREST),
        )
        write(tmp_path / "set" / "pixelwiseGT-new-PNG" / f"im{i}.png", np.pad(np.full((20, 40), 255, np.uint8), ((20, 20), (20, 20))))
    torch.manual_seed(0)
    save_model(tmp_path / "net.safetensors", new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(tmp_path / "net.safetensors"),
                "--fp16",
                str(tmp_path / "net16.safetensors"),
                "--upsample",
                "guided",
            ]
        )
        == 0
    )
    rows = {}
    for choice in ("auto", "bilinear"):
        out = tmp_path / choice
        assert (
            main(
                [
                    "bench",
                    "--dataset",
                    "dut-omron",
                    "--root",
                    str(tmp_path / "set"),
                    "--model",
                    str(tmp_path / "net16.safetensors"),
                    "--short-side",
                    "32",
                    "--upsample",
                    choice,
                    "--no-field-metrics",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        (rows[choice],) = json.loads((out / "results.json").read_text())["results"]
        assert len(list(out.glob("grid-*.png"))) == 1  # best and worst of a 2-image set: one image each
    assert rows["auto"]["model"] == "net16+guided" and rows["bilinear"]["model"] == "net16"
    assert "+guided: map upsampled along the photo's edges" in rows["auto"]["protocol_text"]
    # each row is what the named upsampler gives: the same metrics computed here from the model's maps
    from saliency.bench.datasets import open_dataset
    from saliency.bench.evaluator import Evaluator
    from saliency.predictors import UNetPredictor

    for choice, upsample in (("auto", "guided"), ("bilinear", "bilinear")):
        predictor = UNetPredictor(tmp_path / "net16.safetensors", torch.device("cpu"), short_side=32, upsample=upsample)
        evaluator = Evaluator(field=False)
        for _, image, gt in open_dataset("dut-omron", tmp_path / "set"):
            evaluator.step(predictor(image), gt)
        assert rows[choice]["max_fbeta"] == pytest.approx(evaluator.get_results()["max_fbeta"], abs=1e-6)
    assert abs(rows["auto"]["max_fbeta"] - rows["bilinear"]["max_fbeta"]) > 1e-4


def test_a_model_runs_at_the_size_it_was_trained_at_unless_told(tmp_path):
    """A U-Net trained at 64 px learnt objects at 64 px: bench (and predict, pseudo-label) feed it
    photos at short side 64 because its file says so; --short-side overrides; the same photo's
    map differs between the two sizes."""
    from saliency.predictors import UNetPredictor
    from saliency.unet.model import new_model, save_model

    torch.manual_seed(0)
    save_model(tmp_path / "net64.safetensors", new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    assert UNetPredictor(tmp_path / "net64.safetensors", torch.device("cpu")).short_side == 64
    assert UNetPredictor(tmp_path / "net64.safetensors", torch.device("cpu"), short_side=128).short_side == 128
    make_layout(tmp_path / "set", "DUTS-TE-Image", "DUTS-TE-Mask", n=2)
    rows = {}
    for side in ([], ["--short-side", "128"]):
        out = tmp_path / f"out{len(side)}"
        assert (
            main(
                [
                    "bench",
                    "--dataset",
                    "duts-te",
                    "--root",
                    str(tmp_path / "set"),
                    "--model",
                    str(tmp_path / "net64.safetensors"),
                    *side,
                    "--no-field-metrics",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        (rows[len(side)],) = json.loads((out / "results.json").read_text())["results"]
    assert "U-Nets at short side 64 " in rows[0]["protocol_text"] and "U-Nets at short side 128 " in rows[2]["protocol_text"]
    from saliency.bench.datasets import open_dataset
    from saliency.bench.evaluator import Evaluator

    for key, side in ((0, 64), (2, 128)):  # each row is the model fed at that size, computed here directly
        predictor = UNetPredictor(tmp_path / "net64.safetensors", torch.device("cpu"), short_side=side)
        evaluator = Evaluator(field=False)
        for _, image, gt in open_dataset("duts-te", tmp_path / "set"):
            evaluator.step(predictor(image), gt)
        assert rows[key]["iou"] == pytest.approx(evaluator.get_results()["iou"], abs=1e-6)
        assert rows[key]["max_fbeta"] == pytest.approx(evaluator.get_results()["max_fbeta"], abs=1e-6)
    assert rows[0]["max_fbeta"] != rows[2]["max_fbeta"]


@pytest.mark.skipif(
    not (__import__("pathlib").Path(__file__).resolve().parents[2] / "shared/datasets/ECSSD/images").is_dir(),
    reason="../shared/datasets/ECSSD is absent",
)
def test_center_prior_on_real_ecssd_matches_known_figures(tmp_path):
    """The centre prior on the first 100 ECSSD images, a regression anchor for the whole protocol:
    a deterministic map, so its figures are known to float rounding (measured 2026-12-06)."""
    assert (
        main(["bench", "--dataset", "ecssd", "--model", "center-prior", "--limit", "100", "--no-field-metrics", "--out", str(tmp_path)])
        == 0
    )
    r = json.loads((tmp_path / "results-center-prior.json").read_text())
    assert r["images"] == 100
    assert r["max_fbeta"] == pytest.approx(0.57788, abs=1e-4) and r["iou"] == pytest.approx(0.41593, abs=1e-4)
    assert r["accuracy"] == pytest.approx(0.78950, abs=1e-4) and r["max_fbeta_beta2_squared"] == pytest.approx(0.63919, abs=1e-4)


def test_wctr_finds_the_object_and_calls_frame_touching_regions_background():
    """A red ellipse in the middle of a textured green field is salient; a strip of the same red
    along the bottom edge is background (boundary connectivity), as in Zhu et al.'s Fig. 3."""
    from saliency.classical.wctr import wctr

    rng = np.random.default_rng(0)
    image = np.array([60.0, 140, 60]) + rng.normal(0, 6, (240, 320, 3))
    yy, xx = np.mgrid[:240, :320]
    ellipse = ((yy - 110) / 56) ** 2 + ((xx - 160) / 76) ** 2 < 1
    strip = yy >= 216  # with zero-cost geodesic edges dropped, as a dense graph drops them, it scores 0.25
    image[ellipse] = image[strip] = (200, 40, 40)
    sal = wctr(image.clip(0, 255).astype(np.uint8))
    assert sal.shape == (240, 320) and sal.dtype == np.float32 and 0 <= sal.min() and sal.max() <= 1
    assert per_image_iou(torch.from_numpy(sal)[None, None], torch.from_numpy(ellipse)[None, None].float()).item() > 0.85
    assert sal[ellipse].mean() > 0.9 and sal[strip].mean() < 0.05


def test_wctr_is_a_bench_baseline(tmp_path, shared_dir):
    assert main(["bench", "--dataset", "ecssd", "--model", "wctr", "--limit", "20", "--no-field-metrics", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "results-wctr.json").read_text())
    assert r["images"] == 20 and r["max_fbeta"] > 0.6  # the centre prior gets 0.57 on these 20
