"""`saliency predict` and `saliency export` on a small trained-format checkpoint."""

import cv2
import numpy as np
import pytest
import torch

from saliency.cli import main
from saliency.unet.model import new_model, save_model


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_model(path, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    return path


def test_predict_writes_maps_masks_and_cutouts(tmp_path, checkpoint):
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    (images / ".DS_Store").write_bytes(b"x")
    out = tmp_path / "out"
    assert main(["predict", str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--cutout", "--device", "cpu"]) == 0
    soft = cv2.imread(str(out / "a_map.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "a_mask.png"), cv2.IMREAD_UNCHANGED)
    cut = cv2.imread(str(out / "a_cutout.png"), cv2.IMREAD_UNCHANGED)
    assert soft.shape == mask.shape == (50, 70) and set(np.unique(mask)) <= {0, 255}
    # alpha: opaque where the map is above the threshold, a short ramp at the edge
    assert cut.shape == (50, 70, 4) and np.array_equal(cut[..., 3] >= 128, mask > 0)
    # mask: map > 0.5 on the float map; the map PNG rounds 255 x map, so the same pixels are >= 128 there
    assert np.array_equal(mask > 0, soft >= 128)
    # --threshold at the map's median splits it: above by a PNG level or more -> object, below -> background
    t = float(np.median(soft)) / 255
    argv = ["predict", str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--threshold", f"{t:.6f}", "--overwrite"]
    assert main(argv) == 0
    split = cv2.imread(str(out / "a_mask.png"), cv2.IMREAD_UNCHANGED) > 0
    above, below = soft >= 255 * t + 1, soft <= 255 * t - 1
    assert above.any() and below.any() and split[above].all() and not split[below].any()


def test_missing_input_is_clear(tmp_path, checkpoint, capsys):
    assert main(["predict", str(tmp_path / "nope.jpg"), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "nope.jpg" in capsys.readouterr().err


def test_onnx_export_matches_pytorch(tmp_path, checkpoint, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out
    import onnxruntime as ort

    from saliency.unet.model import load_model

    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected = torch.sigmoid(load_model(checkpoint)(x)).numpy()
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4


def test_fp16_export_halves_the_file_and_keeps_the_maps(tmp_path, checkpoint, capsys):
    from saliency.files import read_safetensors
    from saliency.unet.model import load_model

    out = tmp_path / "half.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--fp16", str(out)]) == 0
    assert "max |fp16 - fp32|" in capsys.readouterr().out
    assert {v.dtype for v in read_safetensors(out)[0].values() if v.is_floating_point()} == {torch.float16}
    assert out.stat().st_size < 0.6 * checkpoint.stat().st_size
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        a, b = torch.sigmoid(load_model(checkpoint)(x)), torch.sigmoid(load_model(out)(x))
    assert b.dtype == torch.float32 and (a - b).abs().max() < 1e-2 and (a - b).abs().max() > 0


def test_export_without_output_is_a_clear_error(checkpoint, capsys):
    assert main(["export", "--checkpoint", str(checkpoint)]) == 2
    assert "--onnx" in capsys.readouterr().err


def _odd_folder(root):
    """A folder as users have them: readable photos of every common kind, and two that are not."""
    from PIL import Image

    rng = np.random.default_rng(1)
    root.mkdir()
    (root / "nested").mkdir()
    cv2.imwrite(str(root / "deep16.png"), rng.integers(0, 65535, (40, 60, 3), dtype=np.uint16))
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(root / "cmyk.jpg")
    cv2.imwrite(str(root / "alpha.png"), rng.integers(0, 255, (48, 32, 4), dtype=np.uint8))
    cv2.imwrite(str(root / "nested" / "grey.png"), rng.integers(0, 255, (36, 36), dtype=np.uint8))
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (root / "corrupt.jpg").write_bytes(jpeg.tobytes()[:60])
    (root / "notes.jpg").write_text("this is text, not a photo")
    return {"deep16": (40, 60), "cmyk": (48, 64), "alpha": (48, 32), "nested/grey": (36, 36)}


def test_a_folder_with_bad_files_is_processed_whole_and_the_bad_ones_listed(tmp_path, checkpoint, capsys):
    readable = _odd_folder(tmp_path / "photos")
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path / "photos"), "--checkpoint", str(checkpoint), "--out", str(out), "--cutout", "--device", "cpu"]
    assert main(argv) == 3, "finished except for the bad files: 3, not a usage error's 2"
    err = capsys.readouterr().err
    assert "2 of 6 file(s) could not be read" in err
    assert "corrupt.jpg: not an image" in err and "notes.jpg: not an image" in err
    for name, size in readable.items():
        assert cv2.imread(str(out / f"{name}_map.png"), cv2.IMREAD_UNCHANGED).shape == size, name
        assert cv2.imread(str(out / f"{name}_cutout.png"), cv2.IMREAD_UNCHANGED).shape == (*size, 4), name
    # the CMYK photo (pure red) comes out red in the cut-out, not in CMYK's raw channels
    red = cv2.imread(str(out / "cmyk_cutout.png"), cv2.IMREAD_UNCHANGED)[10, 10, :3]
    assert red[2] > 200 and red[0] < 50 and red[1] < 50
    # a rerun skips every finished photo and still reports the bad ones
    assert main(argv) == 3
    assert "4 already done" in capsys.readouterr().out


def test_predict_resumes_after_kill_9_without_redoing_finished_photos(tmp_path, checkpoint):
    import os
    import signal
    import subprocess
    import sys
    import time

    photos, out = tmp_path / "many", tmp_path / "out"
    photos.mkdir()
    rng = np.random.default_rng(2)
    for i in range(400):
        cv2.imwrite(str(photos / f"p{i:03d}.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    argv = [
        sys.executable,
        "-m",
        "saliency",
        "predict",
        str(photos),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(out),
        "--cutout",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while len(list(out.glob("*_cutout.png"))) < 20 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("*_cutout.png")}
    assert 20 <= len(finished) < 400, "the kill must land mid-run"
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    # a cut-out is the last output a photo gets, written atomically: present means the photo is done
    assert f"{len(finished)} already done" in done.stdout
    assert len(list(out.glob("*_cutout.png"))) == len(list(out.glob("*_map.png"))) == 400
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))
    # every photo finished before the kill is untouched by the rerun
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())


def test_demo_draws_every_unet_on_the_bundled_photos(tmp_path, checkpoint):
    """What a first run shows offline: one photo / map / cut-out grid per model."""
    from PIL import Image

    from saliency.commands.demo import bundled_sheets

    sheets = bundled_sheets(["shipped", str(checkpoint)], tmp_path, "cpu")
    assert list(sheets) == ["shipped+flip", "model"]  # the shipped model recommends flip TTA (export --tta flip)
    for path in sheets.values():
        width, height = Image.open(path).size
        assert width > 5 * 160 and height > 3 * 160  # five photos, three rows


def test_flip_tta_is_the_mean_of_both_mirrors_and_mirror_equivariant(tmp_path, checkpoint, capsys):
    """A width that needs padding to /32 (the mirror is padded on its own side): the flipped
    prediction of the mirror image is the prediction of the image, exactly; without TTA a random
    network is not mirror-symmetric, so the check can fail. A model exported with `--tta flip`
    is run that way by default (`--tta auto`), and `--tta none` still turns it off."""
    from saliency.predictors import UNetPredictor

    image = np.random.default_rng(1).integers(0, 255, (64, 90, 3), dtype=np.uint8)
    plain, tta = UNetPredictor(checkpoint, torch.device("cpu"), 64), UNetPredictor(checkpoint, torch.device("cpu"), 64, flip=True)
    assert not plain.flip and tta.name.endswith("+flip")
    both = tta(image)
    assert np.allclose(both, tta(image[:, ::-1].copy())[:, ::-1], atol=1e-6)
    assert not np.allclose(plain(image), plain(image[:, ::-1].copy())[:, ::-1], atol=1e-3)
    assert np.allclose(both, (plain(image) + plain(image[:, ::-1].copy())[:, ::-1]) / 2, atol=1e-5)

    recommended = tmp_path / "flip.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--fp16", str(recommended), "--tta", "flip"]) == 0
    assert UNetPredictor(recommended, torch.device("cpu")).flip and not UNetPredictor(recommended, torch.device("cpu"), flip=False).flip
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), image[..., ::-1])
    maps = {}
    for choice in ("auto", "none", "flip"):
        assert (
            main(
                [
                    "predict",
                    str(images),
                    "--checkpoint",
                    str(recommended),
                    "--out",
                    str(tmp_path / choice),
                    "--tta",
                    choice,
                    "--device",
                    "cpu",
                    "--short-side",
                    "64",
                ]
            )
            == 0
        )
        maps[choice] = cv2.imread(str(tmp_path / choice / "a_map.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.array_equal(maps["auto"], maps["flip"]) and not np.array_equal(maps["auto"], maps["none"])


def test_guided_upsampling_is_recorded_by_export_and_is_what_predict_writes(tmp_path, checkpoint):
    """`export --upsample guided` makes a model's maps reach the photo's size through the guided
    filter wherever it is run by default (`bench`, any UNetPredictor); an explicit choice still
    overrides it; `predict` writes exactly the predictor's map for either upsampler."""
    from saliency.cutout import guided_upsample
    from saliency.predictors import UNetPredictor, make_predictor, upsampler

    rng = np.random.default_rng(2)
    image = cv2.resize(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), (192, 128), interpolation=cv2.INTER_NEAREST)
    guided_file = tmp_path / "guided.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--fp16", str(guided_file), "--upsample", "guided"]) == 0
    cpu = torch.device("cpu")
    by_default = UNetPredictor(guided_file, cpu, 64)
    assert by_default.upsample == "guided" and by_default.name == "guided+guided"
    assert np.allclose(by_default(image), guided_upsample(by_default.at_model_size(image), image), atol=1e-6)
    bilinear = make_predictor(str(guided_file), cpu, 64, None, upsampler("bilinear"))
    assert bilinear.name == "guided" and bilinear(image).shape == image.shape[:2]
    assert np.abs(bilinear(image) - by_default(image)).max() > 0.01  # the photo's blocks' edges reshape the map
    assert make_predictor(str(checkpoint), cpu, 64, None, upsampler("auto")).upsample == "bilinear"  # nothing recorded
    from saliency.errors import UserError
    from saliency.unet.model import load_model

    save_model(tmp_path / "odd.safetensors", load_model(checkpoint), upsample="sharp")
    with pytest.raises(UserError, match="odd.safetensors: upsampling 'sharp'"):
        UNetPredictor(tmp_path / "odd.safetensors", cpu)

    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), image[..., ::-1])
    for method in ("guided", "bilinear"):
        assert (
            main(
                [
                    "predict",
                    str(images),
                    "--checkpoint",
                    str(checkpoint),
                    "--out",
                    str(tmp_path / method),
                    "--upsample",
                    method,
                    "--device",
                    "cpu",
                    "--short-side",
                    "64",
                ]
            )
            == 0
        )
        written = cv2.imread(str(tmp_path / method / "a_map.png"), cv2.IMREAD_UNCHANGED).astype(int)
        expected = (UNetPredictor(checkpoint, cpu, 64, upsample=method)(image) * 255).round().astype(int)
        assert np.abs(written - expected).max() <= 1


def test_export_of_several_checkpoints_writes_their_weight_average(tmp_path, checkpoint, capsys):
    """`export --checkpoint A --checkpoint B --fp16 OUT`: every float weight is the mean of A's
    and B's (to fp16 rounding), the file says what it averages; a model of another architecture
    is refused with both files and shapes named, and nothing is written."""
    from saliency.unet.model import load_model

    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    save_model(other, new_model("resnet18", None, 64, (32, 16, 16, 8, 8)))
    soup = tmp_path / "soup.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--checkpoint", str(other), "--fp16", str(soup)]) == 0
    a, b, mean = (load_model(p).net.state_dict() for p in (checkpoint, other, soup))
    assert load_model(soup).meta["averaged"] == [str(checkpoint), str(other)]
    weight = "encoder.conv1.weight"
    assert not torch.allclose(a[weight], b[weight])
    for key, value in mean.items():
        if value.is_floating_point():
            assert torch.allclose(value, (a[key] + b[key]) / 2, atol=2e-3, rtol=1e-3), key

    wider = tmp_path / "wider.safetensors"
    save_model(wider, new_model("resnet18", None, 64, (64, 32, 16, 8, 8)))
    assert main(["export", "--checkpoint", str(checkpoint), "--checkpoint", str(wider), "--fp16", str(tmp_path / "no.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "wider.safetensors" in err and "decoder_channels [64, 32, 16, 8, 8]" in err and "one architecture" in err
    assert not (tmp_path / "no.safetensors").exists()


def test_demo_report_tells_each_stage_from_its_files(tmp_path):
    """write_report reads the selection, the synthesis manifest, the U-Net's summary and each
    benchmark's table, and says which direction was chosen and how."""
    import json

    from saliency.commands.demo import write_report

    out = tmp_path / "demo"
    for folder in ("select", "synth", "unet", "bench/ecssd", "discover/grids"):
        (out / folder).mkdir(parents=True)
    (out / "select" / "selection.json").write_text(
        json.dumps(
            {
                "vector": [1.0],
                "shift": 6,
                "rule": "intensity",
                "polarity": "dark",
                "direction": 3,
                "sign": -1,
                "source": "optimised",
                "score": 0.25,
                "signals": {"keep": 0.5, "shape": 0.9},
            }
        )
    )
    (out / "synth" / "manifest.json").write_text(
        json.dumps({"count": 40, "acceptance_rate": 0.5, "rejection_rate": {"area": 0.5}, "mean_mask_area": 0.3, "mask_border_share": 0.01})
    )
    (out / "unet" / "summary.json").write_text(json.dumps({"first_val_iou": 0.2, "best_val_iou": 0.6, "best_step": 20, "steps": 30}))
    (out / "bench" / "ecssd" / "results.md").write_text("# ECSSD\n\n| model | max F |\n|---|---|\n| center-prior | 0.553 |\n")
    (out / "bench" / "ecssd" / "pr_curves.png").write_bytes(b"png")
    report = write_report(
        out, "planted", out / "discover" / "directions.safetensors", ["ecssd"], ["duts-te"], {"select": 3.0}, 90.0
    ).read_text()
    assert "Chosen: optimised from discovered direction 3-, shift 6, background turns dark, score 0.250 (keep 0.50, shape 0.90)" in report
    assert "40 pairs, acceptance 50.0%, rejected by area 50.0%" in report and "best 0.600 at step 20 of 30" in report
    assert "| center-prior | 0.553 |" in report and (out / "pictures" / "ecssd-pr_curves.png").is_file()
    assert "Not found here: duts-te" in report and "select 3s" in report


def test_predict_split_across_processes_writes_what_one_process_writes(tmp_path, checkpoint, monkeypatch):
    """Two parts (--shard 0/1 of 2, or the launcher's RANK / WORLD_SIZE) write disjoint halves
    whose union is, file for file and byte for byte, a one-process run's output."""
    rng = np.random.default_rng(0)
    images = tmp_path / "imgs"
    for i in range(5):
        (images / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / f"d{i % 2}" / f"p{i}.png"), rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8))
    base = ["predict", str(images), "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "one")]) == 0
    assert main([*base, "--out", str(tmp_path / "parts"), "--shard", "0", "--num-shards", "2"]) == 0
    first = sorted(p.relative_to(tmp_path / "parts") for p in (tmp_path / "parts").rglob("*.png"))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([*base, "--out", str(tmp_path / "parts")]) == 0
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    both = sorted(p.relative_to(tmp_path / "parts") for p in (tmp_path / "parts").rglob("*.png"))
    assert both == one and len(one) == 10 and len(first) == 6  # 3 of the 5 photos (map + mask each) in part 0
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "parts" / p).read_bytes() for p in one)
    assert main([*base, "--out", str(tmp_path / "bad"), "--shard", "2", "--num-shards", "2"]) == 2


@pytest.mark.slow
def test_predict_under_torchrun_resumes_after_a_rank_is_killed(tmp_path, checkpoint):
    """Two torchrun ranks; one is killed with SIGKILL mid-run, which stops the job; the same
    command again finishes it, and the files equal a one-process run's, byte for byte."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    rng = np.random.default_rng(1)
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(60):
        cv2.imwrite(str(images / f"p{i:02d}.jpg"), rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    args = ["predict", str(images), "--checkpoint", str(checkpoint), "--device", "cpu", "--cutout"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "saliency"]
    command = [*torchrun, *args, "--out", str(tmp_path / "ranks")]
    job = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = lambda: list((tmp_path / "ranks").glob("*_cutout.png"))  # noqa: E731
    deadline = time.time() + 120
    while len(written()) < 4 and time.time() < deadline and job.poll() is None:
        time.sleep(0.02)
    ranks = [p for p in job.children(recursive=True) if "saliency" in " ".join(p.cmdline())]
    assert ranks, "no rank process found"
    os.kill(ranks[-1].pid, signal.SIGKILL)
    assert job.wait(120) != 0
    before = len(written())
    assert 4 <= before < 60, f"the kill came after {before} of 60 photos"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already done (skipped" in rerun.stdout
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    ranks_out = sorted(p.relative_to(tmp_path / "ranks") for p in (tmp_path / "ranks").rglob("*.png"))
    assert ranks_out == one and len(one) == 180
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "ranks" / p).read_bytes() for p in one)


def test_demo_report_says_where_its_unet_stands(tmp_path):
    from saliency.commands.demo import standing

    unet = tmp_path / "unet" / "best.safetensors"
    rows = [
        {"model": "center-prior", "max_fbeta": 0.553, "iou": 0.402, "accuracy": 0.786},
        {"model": "shipped+flip", "max_fbeta": 0.716, "iou": 0.588, "accuracy": 0.862},
        {"model": "demo/unet/best", "checkpoint": str(unet), "max_fbeta": 0.6, "iou": 0.39, "accuracy": 0.80},
    ]
    line = standing(rows, unet, "ecssd")
    assert "stands on ecssd** (max F / IoU / accuracy 0.600 / 0.390 / 0.800)" in line
    assert "the centre prior (0.553 / 0.402 / 0.786): above it only in max F, accuracy" in line
    assert "the shipped model (0.716 / 0.588 / 0.862): below it in all three" in line
    assert "no row" in standing(rows[:2], unet, "ecssd")


def test_predict_removes_the_temporary_files_a_kill_left_but_no_one_elses(tmp_path, checkpoint):
    images, out = tmp_path / "imgs", tmp_path / "out"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((40, 50, 3), np.uint8))
    out.mkdir()
    (out / ".a_cutout.png.k1ll3d.tmp").write_bytes(b"half a png")  # what kill -9 mid-write leaves
    (out / ".other_map.png.w0rk1n.tmp").write_bytes(b"another process at work")
    assert main(["predict", str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--cutout", "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".other_map.png.w0rk1n.tmp", "a_cutout.png", "a_map.png", "a_mask.png"]


def test_demo_stage_arguments_are_the_stages_own_flags():
    from pathlib import Path

    from saliency.commands.demo import stage_args, stage_module

    args = stage_args("synth", n=12, out=Path("x"))
    assert args.n == 12 and args.out == Path("x") and args.shard == 0 and stage_module("synth").__name__ == "saliency.commands.synth"
    with pytest.raises(TypeError, match="no flag for num_pairs_typo"):
        stage_args("synth", num_pairs_typo=3)


def test_demo_bench_roots_are_checked_before_any_stage(tmp_path):
    """`--bench-root duts-te=DIR` names a set kept elsewhere (a DUTS-TE subset, say); a wrong
    name or a folder without the layout stops the demo at once, naming what to write."""
    from saliency.commands.demo import bench_roots
    from saliency.errors import UserError

    good = tmp_path / "DUTS-TE-dev"
    (good / "DUTS-TE-Image").mkdir(parents=True)
    (good / "DUTS-TE-Mask").mkdir()
    assert bench_roots([f"duts-te={good}"]) == {"duts-te": good}
    with pytest.raises(UserError, match="NAME=DIR with NAME one of ecssd, duts-te, dut-omron"):
        bench_roots([f"dutste={good}"])
    with pytest.raises(UserError, match="NAME=DIR"):
        bench_roots([str(good)])
    with pytest.raises(UserError, match=r"ecssd not found at .*DUTS-TE-dev: expected images/ and ground_truth_mask/"):
        bench_roots([f"ecssd={good}"])


@pytest.mark.slow
def test_demo_runs_each_stage_through_its_function(tmp_path, monkeypatch, capsys):
    """The demo end to end at toy sizes: a finished stage (select) is reused, the others run
    through their own `run`, and the report tells what each did; no benchmark set is present."""
    from saliency.commands import demo
    from saliency.selection import Selection

    monkeypatch.setitem(demo.SCALES, "cpu", {"n": 16, "steps": 4, "batch": 4, "size": 32, "val_every": 2})
    import saliency.bench.datasets as datasets

    monkeypatch.setattr(datasets, "candidate_roots", lambda name: [tmp_path / "no-datasets"])  # no set in its default place
    out, photos = tmp_path / "demo", tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(photos / f"p{i}.jpg"), rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
    vector = rng.normal(size=128)
    permissive = {"min_area": 0.0, "max_area": 1.0, "min_peaks": 0, "min_component": 0.0}
    Selection(list(vector / np.linalg.norm(vector)), 6.0, polarity="dark", filters=permissive, generator="objects-64").save(
        out / "select" / "selection.json"
    )
    subset = tmp_path / "DUTS-TE-subset"  # a set outside its default place, named by --bench-root
    for folder in ("DUTS-TE-Image", "DUTS-TE-Mask"):
        (subset / folder).mkdir(parents=True)
    for i in range(3):
        mask = np.zeros((48, 64), np.uint8)
        mask[10 + i : 30, 20:44] = 255
        cv2.imwrite(str(subset / "DUTS-TE-Mask" / f"s{i}.png"), mask)
        cv2.imwrite(str(subset / "DUTS-TE-Image" / f"s{i}.jpg"), cv2.merge([mask // 2 + 40] * 3))
    argv = ["demo", "--out", str(out), "--photos", str(photos), "--device", "cpu", "--bench-root", f"duts-te={subset}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[demo] select: reusing" in printed and "[demo] train-unet" in printed and "[demo] bench duts-te" in printed
    report = (out / "report.md").read_text()
    assert "16 pairs" in report and "of 4." in report and "stages run this time: synth" in report
    assert (out / "unet" / "best.safetensors").is_file() and (out / "pictures" / "photos.png").is_file()
    assert "| center-prior | 3 |" in report and "Where the U-Net this demo trained stands on duts-te" in report
    assert "Not found here: ecssd, dut-omron." in report
