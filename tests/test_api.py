"""The Python API (saliency.load -> Model.map / mask / cutout) on every kind of photo."""

import numpy as np
import pytest
from PIL import Image

import saliency
from saliency.errors import UserError


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return data.coffee()  # 400 x 600 RGB, a cup on a table


def test_shipped_model_gives_map_mask_and_cutout_at_full_resolution(photo):
    model = saliency.load(device="cpu")
    soft = model.map(photo)
    assert soft.shape == photo.shape[:2] and soft.dtype == np.float32 and 0 <= soft.min() and soft.max() <= 1
    mask = model.mask(photo, threshold=0.5)
    assert mask.dtype == bool and (mask == (soft > 0.5)).all() and 0.05 < mask.mean() < 0.8
    cut = model.cutout(photo)
    assert cut.shape == (*photo.shape[:2], 4) and (cut[..., :3] == photo).all()
    assert (cut[..., 3][soft > 0.6] == 255).all() and (cut[..., 3][soft < 0.4] == 0).all()
    assert repr(model) == "saliency.Model('shipped+flip+guided')"  # as the file recommends, edges guided by the photo


def test_every_photo_form_gives_the_same_map(photo, tmp_path):
    import cv2

    model = saliency.load("center-prior")
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    reference = model.map(photo)
    for form in (
        str(path),
        path,
        Image.fromarray(photo),
        photo.astype(np.float32) / 255,
        np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]),
    ):
        np.testing.assert_allclose(model.map(form), reference, atol=1e-6)
    assert model.map(photo[..., 0]).shape == photo.shape[:2]  # grey


def test_baselines_fusions_and_bad_input():
    image = np.zeros((40, 60, 3), np.uint8)
    image[10:30, 20:40] = 255
    fused = saliency.load("mean:center-prior+spectral-residual")
    assert fused.name == "mean:center-prior+spectral-residual" and fused.map(image).shape == (40, 60)
    with pytest.raises(UserError, match="H x W x 3"):
        fused.map(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        fused.map(np.full((4, 5, 3), 3.0))
    with pytest.raises(UserError, match="no such file, and not .shipped., .voynov2021-unet. nor a baseline"):
        saliency.load("no-such-model")
    with pytest.raises(UserError, match="tta is one of"):
        saliency.load(tta="sideways")
    with pytest.raises(UserError, match="cannot read image missing.jpg"):
        saliency.load("center-prior").map("missing.jpg")


def test_the_readme_python_snippet_runs_as_written(capsys):
    """The README's Python example, exactly as a user copies it (first screen of the README)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert readme[: readme.index(snippet)].count("\n") < 80, "the Python example must be within the README's first 80 lines"
    exec(compile(snippet, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "saliency.Model('shipped+flip+guided') (512, 512)" in printed and "(512, 512, 4)" in printed
