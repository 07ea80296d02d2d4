"""CUB-200-2011, Flowers-102, HKU-IS and PASCAL-S in their official layouts, and any labelled
folder: pairing, splits, mask rules, crops and downloads, on fixtures these tests make."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from saliency.bench.datasets import flowers_object, open_dataset, open_folder
from saliency.bench.download import Archive, download_dataset
from saliency.errors import UserError


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def photo(h=30, w=40, value=90):
    return np.full((h, w, 3), value, np.uint8)


def box_mask(h=30, w=40, value=255):
    m = np.zeros((h, w), np.uint8)
    m[5:25, 10:30] = value
    return m


def make_cub(root, n_classes=2, per_class=3):
    """CUB_200_2011/{images.txt, train_test_split.txt, images/CLASS/*.jpg} and segmentations/CLASS/*.png,
    every other photo in the test split; 30 x 40 photos, so the centre square is columns 5-34."""
    lines, split, i = [], [], 0
    for c in range(1, n_classes + 1):
        cls = f"{c:03d}.Bird_{c}"
        for k in range(per_class):
            i += 1
            rel = f"{cls}/Bird_{c}_{k:04d}_{i}.jpg"
            lines.append(f"{i} {rel}")
            split.append(f"{i} {i % 2}")  # odd ids train, even ids test
            write(root / "CUB_200_2011" / "images" / rel, photo())
            mask = box_mask()
            mask[5:25, 10:12] = 100  # annotators' average: below 128 is background
            write(root / "segmentations" / cls / f"Bird_{c}_{k:04d}_{i}.png", mask)
    (root / "CUB_200_2011" / "images.txt").write_text("\n".join(lines) + "\n")
    (root / "CUB_200_2011" / "train_test_split.txt").write_text("\n".join(split) + "\n")
    return i


def test_cub_official_test_split_crop_and_threshold(tmp_path):
    n = make_cub(tmp_path)
    ds = open_dataset("cub", tmp_path)
    assert len(ds) == n // 2 and all(int(s.stem.rsplit("_", 1)[1]) % 2 == 0 for s in ds.samples), "the test split: is_training_image 0"
    _, image, gt = next(iter(ds))
    assert image.shape == (30, 30, 3) and gt.shape == (30, 30), "centre square crop of photo and mask"
    # the box spans columns 10-29 of 40; the crop starts at column 5; columns 10-11 are at 100 (background)
    assert gt.sum() == 20 * 18 and gt[5:25, 7:25].all() and not gt[:, :7].any()
    assert "official test split" in ds.protocol


def test_cub_missing_mask_is_named(tmp_path):
    make_cub(tmp_path)
    missing = next((tmp_path / "segmentations").rglob("*_2.png"))
    missing.unlink()
    with pytest.raises(UserError, match=r"no mask for .*_2\.jpg"):
        open_dataset("cub", tmp_path)
    assert len(open_dataset("cub", tmp_path, skip_bad=True)) == 2


def segmim(obj: np.ndarray) -> np.ndarray:
    """A Flowers-102 segmentation image: the photo's colours on the object, blue (0, 0, 254) elsewhere (RGB)."""
    out = np.zeros(obj.shape + (3,), np.uint8)
    out[...] = (0, 0, 254)
    out[obj] = (200, 120, 60)
    return out


def make_flowers(root, ids=range(1, 7), trnid=(2, 4, 6)):
    """40 x 56 photos whose object fills rows 8-31, columns 16-39 (the centre square is columns
    8-47); the segmim files hold lossless PNG data under their official .jpg names, so every
    pixel's colour is known."""
    for i in ids:
        write(root / "jpg" / f"image_{i:05d}.jpg", photo(40, 56))
        mask = np.zeros((40, 56), bool)
        mask[8:32, 16:40] = True
        (root / "segmim").mkdir(parents=True, exist_ok=True)
        (root / "segmim" / f"segmim_{i:05d}.jpg").write_bytes(
            cv2.imencode(".png", cv2.cvtColor(segmim(mask), cv2.COLOR_RGB2BGR))[1].tobytes()
        )
    savemat(str(root / "setid.mat"), {"trnid": np.array([list(trnid)]), "valid": np.array([[1]]), "tstid": np.array([[3, 5]])})


def test_flowers_split_mask_rule_and_crop(tmp_path):
    make_flowers(tmp_path)
    ds = open_dataset("flowers", tmp_path)
    assert [s.stem for s in ds.samples] == ["image_00002", "image_00004", "image_00006"], "setid.mat's trnid, ReDO's test split"
    _, image, gt = next(iter(ds))
    assert image.shape == (40, 40, 3) and gt.shape == (40, 40)
    truth = np.zeros((40, 40), bool)
    truth[8:32, 8:32] = True
    assert (gt == truth).all(), "blue background, coloured object, cropped to the centre square"


def test_flowers_object_rule_known_pixels():
    rgb = np.array([[[0, 0, 254], [10, 0, 100], [0, 50, 100], [30, 40, 254], [30, 40, 250]]], np.uint8)
    assert flowers_object(rgb).tolist() == [[False, False, False, False, True]]
    with pytest.raises(UserError, match="colour image"):
        flowers_object(np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize(
    "name,images,masks,suffix", [("hku-is", "imgs", "gt", ".png"), ("pascal-s", "datasets/imgs/pascal", "datasets/masks/pascal", ".jpg")]
)
def test_hkuis_and_pascal_layouts(tmp_path, name, images, masks, suffix):
    for i in range(3):
        write(tmp_path / images / f"{i + 1}{suffix}", photo())
        soft = box_mask(value=255)
        soft[5:25, 10:12] = 127  # fewer than half of PASCAL-S's annotators: background
        write(tmp_path / masks / f"{i + 1}.png", soft)
    ds = open_dataset(name, tmp_path)
    assert [s.stem for s in ds.samples] == ["1", "2", "3"]
    _, image, gt = next(iter(ds))
    assert image.shape == (30, 40, 3) and gt.sum() == 20 * 18, "whole photo, masks at 128"


def tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def folder_files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_cub_download_md5_and_layout(server, tmp_path):
    www, url = server
    made = tmp_path / "made"
    n = make_cub(made)
    files = folder_files(made)
    images = tgz({k: v for k, v in files.items() if k.startswith("CUB_200_2011")})
    segs = tgz({k: v for k, v in files.items() if k.startswith("segmentations")})
    (www / "CUB_200_2011.tgz").write_bytes(images)
    (www / "segmentations.tgz").write_bytes(segs)
    sources = [
        Archive(f"{url}/CUB_200_2011.tgz", md5=hashlib.md5(images).hexdigest()),
        Archive(f"{url}/segmentations.tgz", md5=hashlib.md5(segs).hexdigest()),
    ]
    dest = download_dataset("cub", tmp_path / "datasets" / "CUB-200-2011", sources, expected=n // 2)
    assert len(open_dataset("cub", dest)) == n // 2
    bad = [sources[0], Archive(f"{url}/segmentations.tgz", md5="0" * 32)]
    with pytest.raises(UserError, match="expected md5 0{32}"):
        download_dataset("cub", tmp_path / "other" / "CUB-200-2011", bad, expected=n // 2)
    assert not (tmp_path / "other" / "CUB-200-2011").exists()


def test_flowers_download_with_a_plain_file(server, tmp_path):
    www, url = server
    made = tmp_path / "made"
    make_flowers(made)
    files = folder_files(made)
    (www / "102flowers.tgz").write_bytes(tgz({k: v for k, v in files.items() if k.startswith("jpg/")}))
    (www / "102segmentations.tgz").write_bytes(tgz({k: v for k, v in files.items() if k.startswith("segmim/")}))
    (www / "setid.mat").write_bytes(files["setid.mat"])
    sources = [Archive(f"{url}/102flowers.tgz"), Archive(f"{url}/102segmentations.tgz"), Archive(f"{url}/setid.mat")]
    dest = download_dataset("flowers", tmp_path / "datasets" / "Flowers-102", sources, expected=3)
    assert len(open_dataset("flowers", dest)) == 3


def test_hkuis_download_names_the_page(tmp_path):
    with pytest.raises(UserError, match="hku-is cannot be downloaded automatically.*sites.google.com"):
        download_dataset("hku-is", tmp_path / "HKU-IS")


def test_a_tar_member_outside_its_folder_is_refused(server, tmp_path):
    www, url = server
    (www / "evil.tgz").write_bytes(tgz({"../../escaped.txt": b"x"}))
    with pytest.raises(UserError, match="outside its folder"):
        download_dataset("pascal-s", tmp_path / "d" / "PASCAL-S", [Archive(f"{url}/evil.tgz")], expected=1)
    assert not (tmp_path / "escaped.txt").exists()


def make_folder(tmp_path):
    """Photos (mixed .jpg / .png, one nested folder) and masks; one photo without a mask."""
    images, masks = tmp_path / "photos", tmp_path / "masks"
    write(images / "a.jpg", photo())
    write(masks / "a.png", box_mask())
    write(images / "b.png", photo())
    write(masks / "b.bmp", box_mask())
    write(images / "shelf" / "c.jpg", photo())
    write(masks / "shelf" / "c.png", box_mask(value=140))
    write(images / "d.jpg", photo())  # unpaired
    write(images / ".hidden" / "e.jpg", photo())  # ignored
    return images, masks


def test_any_folder_pairs_by_path_then_stem(tmp_path):
    images, masks = make_folder(tmp_path)
    ds = open_folder(images, masks, name="shop")
    assert ds.name == "shop" and [s.stem for s in ds.samples] == ["a", "b", "shelf/c"]
    assert ds.unpaired == [f"no mask for {images / 'd.jpg'}"]
    assert [gt.sum() for _, _, gt in ds] == [400, 400, 400]
    assert [gt.sum() for _, _, gt in open_folder(images, masks, threshold=150)] == [400, 400, 0], "the threshold flag binarises"
    flat = tmp_path / "flat-masks"
    write(flat / "c.png", box_mask())  # masks not nested like the photos: paired by unique stem
    assert [s.stem for s in open_folder(images, flat).samples] == ["shelf/c"]


def test_a_folder_with_no_pair_is_one_clear_error(tmp_path):
    images, _ = make_folder(tmp_path)
    other = tmp_path / "other"
    write(other / "zzz.png", box_mask())
    with pytest.raises(UserError, match=r"no photo in .*photos pairs with a mask in .*other \(4 photos, 1 masks\)"):
        open_folder(images, other)
    with pytest.raises(UserError, match="--masks .* is not a folder"):
        open_folder(images, tmp_path / "nowhere")


def test_bench_on_your_own_folder_lists_the_unpaired_file(tmp_path, capsys):
    from saliency.cli import main

    images, masks = make_folder(tmp_path)
    out = tmp_path / "out"
    argv = ["bench", "--images", str(images), "--masks", str(masks), "--model", "shipped", "--model", "center-prior", "--out", str(out)]
    assert main(argv + ["--name", "shelf-photos", "--compare-with", "all"]) == 0
    printed = capsys.readouterr().out
    assert f"1 unpaired file(s) left out:\n  no mask for {images / 'd.jpg'}" in printed
    assert "no published row of" in printed, "a user's folder has no published rows"
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "shelf-photos" and {r["model"] for r in results["results"]} == {"shipped+flip", "center-prior"}
    assert all(r["images"] == 3 and r["unpaired"] == [f"no mask for {images / 'd.jpg'}"] for r in results["results"])
    assert (out / "results.md").read_text().startswith("# shelf-photos: 3 images (not the full set)")
    assert (out / "grid-center-prior.png").is_file() and (out / "pr_curves.png").is_file()
    other = tmp_path / "unrelated"
    write(other / "zzz.png", box_mask())
    assert main(["bench", "--images", str(images), "--masks", str(other), "--model", "center-prior", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no photo in" in err[0] and "pairs with a mask" in err[0]


def test_squaring_beta2_again_inflates_max_f_by_the_known_amount():
    """A map that marks 60 of 100 object pixels and nothing else: precision 1, recall .6 at every
    threshold below its value, so max F with beta^2 = .3 is 1.3 x .6 / (.3 + .6) = .8667 and with
    beta^2 = .09 (0.3 squared again) 1.09 x .6 / (.09 + .6) = .9478."""
    from saliency.bench.evaluator import Evaluator

    gt = np.zeros((20, 20), bool)
    gt[:10, :10] = True
    pred = np.zeros((20, 20), np.float32)
    pred[:6, :10] = 0.8
    evaluator = Evaluator(field=False)
    evaluator.step(pred, gt)
    got = evaluator.get_results()
    assert got["max_fbeta"] == pytest.approx(1.3 * 0.6 / 0.9, abs=1e-5)
    assert got["max_fbeta_beta2_squared"] == pytest.approx(1.09 * 0.6 / 0.69, abs=1e-5)


def test_compare_with_marks_what_shares_the_protocol():
    from saliency.bench.published import comparable

    lines = comparable("ecssd", "papers", ["voynov2021", "melas-kyriazi2022"], full_set=True)
    bigbigan = next(line for line in lines if line.startswith("BigBiGAN,"))
    assert "0.782 / 0.672 / 0.899" in bigbigan and "same protocol and set: comparable" in bigbigan
    assert any("close protocol (papers, masks resized to short side 128)" in line for line in lines)
    assert all("not comparable" in line for line in comparable("ecssd", "field", ["voynov2021"], full_set=True))
    assert all("not the full set" in line for line in comparable("duts-te", "papers", ["voynov2021"], full_set=False))


def test_area_by_size_reads_your_own_folder(tmp_path):
    """benchmarks/area_by_size.py on a folder `bench` reads: the centre prior on three photos whose
    boxes cover a third of the frame lands in the 15-35% bin, every photo counted."""
    import subprocess
    import sys
    from pathlib import Path

    images, masks = make_folder(tmp_path)
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "area_by_size.py"
    out = tmp_path / "area.json"
    cmd = [sys.executable, str(script), "--model", "center-prior", "--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=300).returncode == 0
    rows = {r["true object share"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["15-35%"]["images"] == 3 and rows["all"]["true_share"] == pytest.approx(400 / 1200, abs=1e-3)


def test_protocol_field_leads_the_table_with_the_fields_metrics(tmp_path):
    from saliency.cli import main

    images, masks = make_folder(tmp_path)
    tables = {}
    for protocol in ("papers", "field"):
        out = tmp_path / protocol
        assert (
            main(
                [
                    "bench",
                    "--images",
                    str(images),
                    "--masks",
                    str(masks),
                    "--model",
                    "center-prior",
                    "--protocol",
                    protocol,
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        tables[protocol] = (out / "results.md").read_text()
        assert json.loads((out / "results.json").read_text())["results"][0]["protocol"] == protocol
    header = {p: next(line for line in t.splitlines() if line.startswith("| model")) for p, t in tables.items()}
    assert header["papers"].startswith("| model | images | max F-beta | IoU |")
    assert header["field"].startswith("| model | images | max F (field) | MAE |")
