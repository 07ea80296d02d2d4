"""Opt-in dataset download against a loopback HTTP server: official layouts, nested zips, checks."""

import hashlib
import io
import zipfile

import cv2
import numpy as np
import pytest

from saliency.bench.datasets import open_dataset
from saliency.bench.download import Archive, download_dataset
from saliency.errors import UserError


def png(value: int, shape=(20, 30)) -> bytes:
    return cv2.imencode(".png", np.full(shape, value, np.uint8))[1].tobytes()


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_dut_omron_layout_with_nested_zip(server, tmp_path):
    root, url = server
    (root / "img.zip").write_bytes(
        zip_of({f"DUT-OMRON-image/im{i}.jpg": cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))[1].tobytes() for i in range(3)})
    )
    inner = zip_of({f"pixelwiseGT-new-PNG/im{i}.png": png(255 * (i % 2)) for i in range(3)})
    (root / "gt.zip.zip").write_bytes(zip_of({"DUT-OMRON-gt-pixelwise.zip": inner}))
    dest = tmp_path / "datasets" / "DUT-OMRON"
    got = download_dataset("dut-omron", dest, [Archive(f"{url}/img.zip"), Archive(f"{url}/gt.zip.zip")], expected=3)
    assert got == dest and len(open_dataset("dut-omron", dest)) == 3
    assert not list(dest.parent.glob(".DUT-OMRON-*")), "no staging folder left behind"


def test_ecssd_checksums_and_counts(server, tmp_path):
    root, url = server
    images = {f"images/{i:04d}.jpg": cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))[1].tobytes() for i in range(2)}
    masks = {f"ground_truth_mask/{i:04d}.png": png(255 * i) for i in range(2)}
    (root / "images.zip").write_bytes(zip_of(images))
    (root / "gt.zip").write_bytes(zip_of(masks))
    manifest = tmp_path / "ecssd.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in {**images, **masks}.items()))
    sources = [Archive(f"{url}/images.zip"), Archive(f"{url}/gt.zip")]
    dest = download_dataset("ecssd", tmp_path / "ok" / "ECSSD", sources, expected=2, manifest=manifest)
    assert len(open_dataset("ecssd", dest)) == 2
    manifest.write_text(manifest.read_text().replace(hashlib.sha256(masks["ground_truth_mask/0001.png"]).hexdigest(), "0" * 64))
    with pytest.raises(UserError, match="1 file.*differ.*ground_truth_mask/0001.png"):
        download_dataset("ecssd", tmp_path / "bad" / "ECSSD", sources, expected=2, manifest=manifest)
    assert not (tmp_path / "bad" / "ECSSD").exists(), "a failed check must not leave a dataset behind"
    with pytest.raises(UserError, match="expected 5 image/mask pairs, the download holds 2"):
        download_dataset("ecssd", tmp_path / "few" / "ECSSD", sources, expected=5, manifest=tmp_path / "none")
