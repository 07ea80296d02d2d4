"""`saliency serve`: every endpoint answers a PNG of the photo's size; every bad upload gets its
4xx with one clear line and the next good request still succeeds; the limits hold before any
pixel is decoded; the queue bounds the work in flight; a real browser gets a cut-out from the page."""

from __future__ import annotations

import os
import shutil
import struct
import sys
import threading
import urllib.request
import zlib

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

import saliency  # noqa: E402
from saliency.server.app import create_app  # noqa: E402
from saliency.server.process import start_server
from saliency.server.uploads import Limits  # noqa: E402

H, W = 150, 221  # odd, not square: a result at the model's size or transposed would show


def photo() -> np.ndarray:
    image = np.full((H, W, 3), 90, np.uint8)
    image[40:110, 60:160] = (230, 60, 40)
    return image


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header that declares width x height, with (almost) no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def shipped():
    return saliency.load("shipped", "cpu")


@pytest.fixture
def client(shipped):
    with TestClient(create_app(shipped, Limits(max_bytes=300_000, max_pixels=1_000_000))) as c:
        yield c


def test_each_endpoint_returns_a_png_of_the_photos_size(client, shipped):
    body = jpeg(photo())
    soft = shipped.map(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])
    as_map = decoded(client.post("/map", content=body, headers={"content-type": "image/jpeg"}))
    assert as_map.shape == (H, W) and np.abs(as_map.astype(int) - np.round(soft * 255)).max() <= 1  # the API's own map
    mask = decoded(client.post("/mask?threshold=0.5", files={"file": ("photo.jpg", body, "image/jpeg")}))
    assert mask.shape == (H, W) and set(np.unique(mask)) <= {0, 255}
    assert mask[75, 110] == 255 and mask[5, 5] == 0  # the red block is the object, the corner is not
    cut = decoded(client.post("/cutout", content=body))
    assert cut.shape == (H, W, 4) and cut[75, 110, 3] == 255 and cut[5, 5, 3] == 0


def test_options_change_the_result_and_share_the_weights(client, shipped):
    body = jpeg(photo())
    one = decoded(client.post("/map?tta=none&upsample=bilinear", content=body))
    two = decoded(client.post("/map?tta=flip&upsample=guided", content=body))
    assert one.shape == two.shape == (H, W) and not np.array_equal(one, two)
    variant = shipped.with_options("none", "bilinear")
    assert variant.predictor.model is shipped.predictor.model and variant.name == "shipped"
    loose, strict = (decoded(client.post(f"/mask?threshold={t}", content=body)) for t in (0.1, 0.9))
    assert (loose > 0).sum() > (strict > 0).sum()
    assert client.post("/mask?threshold=2", content=body).status_code == 422


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"", 400, "empty request"),
        (b"this is a text file, not a photo", 415, "not an image"),
        (None, 400, "truncated"),  # the first half of a JPEG
        (png_declaring(50_000, 50_000), 413, "2,500,000,000 pixels"),
        (png_declaring(1_500, 1_000), 413, "1,500 x 1,000 pixels"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_the_server_goes_on(client, body, status, words):
    if body is None:
        whole = jpeg(np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8))
        body = whole[: len(whole) // 2]
    response = client.post("/cutout", content=body)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert decoded(client.post("/cutout", content=jpeg(photo()))).shape == (H, W, 4)


def test_the_pixel_limit_holds_without_decoding(client, monkeypatch):
    from PIL import ImageFile

    def refuse(*_):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    response = client.post("/map", content=png_declaring(50_000, 50_000))
    assert response.status_code == 413 and response.json()["limit_pixels"] == 1_000_000


def test_the_upload_limit_holds_declared_or_streamed(client):
    big = b"\xff" * 400_000
    declared = client.post("/map", content=big)
    assert declared.status_code == 413 and declared.json()["limit_bytes"] == 300_000
    streamed = client.post("/map", content=(big[i : i + 50_000] for i in range(0, len(big), 50_000)))  # chunked: no length
    assert streamed.status_code == 413 and "300,000 bytes" in streamed.json()["error"]
    form = client.post("/map", files={"file": ("big.jpg", big, "image/jpeg")})
    assert form.status_code == 413


def test_a_form_without_a_file_is_refused(client):
    response = client.post("/map", data={"note": "no photo"}, files={"other": ("", b"", "text/plain")})
    assert response.status_code == 400 and "field 'file'" in response.json()["error"]


class Blocking:
    """A predictor that holds its worker until released: what a queue sees under load."""

    name = "blocking"

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(30)
        return np.zeros(image.shape[:2], np.float32)


def test_requests_past_the_workers_and_queue_get_503_not_memory():
    blocking = Blocking()
    with TestClient(create_app(saliency.Model(blocking), workers=1, queue=0)) as c:
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(r=c.post("/mask", content=jpeg(photo()))))
        thread.start()
        assert blocking.entered.wait(30)
        busy = c.post("/mask", content=jpeg(photo()))
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
        blocking.release.set()
        thread.join(30)
        assert first["r"].status_code == 200
        assert c.post("/mask", content=jpeg(photo())).status_code == 200  # the slot is free again


def test_health_page_and_openapi(client):
    info = client.get("/health").json()
    assert info["status"] == "ok" and info["model"] == "shipped+flip+guided" and info["version"] == saliency.__version__
    assert info["device"].startswith("cpu") and info["limits"] == {"max_bytes": 300_000, "max_pixels": 1_000_000}
    page = client.get("/")
    assert page.status_code == 200 and 'type="file"' in page.text and "http" not in page.text.split("<script>")[0].lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/map", "/mask", "/cutout", "/health"} <= set(paths)


def test_serve_without_the_extra_names_the_install_command(monkeypatch, capsys):
    from saliency.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    assert main(["serve", "--model", "center-prior"]) == 2
    assert 'pip install "gan-saliency[serve]"' in capsys.readouterr().err


@pytest.mark.slow
def test_a_browser_uploads_a_photo_and_the_page_shows_its_cutout(tmp_path):
    """Headless Chromium (the system's) on the page that `saliency serve` serves."""
    webdriver = pytest.importorskip("selenium.webdriver")
    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (browser and driver_path):
        pytest.skip("no chromium and chromedriver on PATH (.ci/run installs them: apt-get install chromium chromium-driver)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from saliency.images import bundled_photos

    astronaut = bundled_photos()["astronaut"]
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    proc, url = start_server()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        driver.get(url + "/")
        driver.find_element(By.ID, "files").send_keys(str(path))
        WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".row[data-state]:not([data-state=working])"))
        row = driver.find_element(By.CSS_SELECTOR, ".row")
        assert row.get_attribute("data-state") == "done", row.text
        size = driver.execute_script("const i = document.querySelectorAll('.row img')[2]; return [i.naturalWidth, i.naturalHeight];")
        assert size == [astronaut.shape[1], astronaut.shape[0]]
        assert "shipped" in driver.find_element(By.ID, "info").text
        driver.save_screenshot(str(tmp_path / "page.png"))
        if target := os.environ.get("SALIENCY_PAGE_SCREENSHOT"):  # how docs/serve-page.png is made
            shutil.copyfile(tmp_path / "page.png", target)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)
    shot = cv2.imread(str(tmp_path / "page.png"))
    assert shot is not None and shot.shape[1] == 1200


@pytest.mark.slow
def test_serve_prints_where_it_runs_and_binds_to_localhost():
    proc, url = start_server("--model", "center-prior")
    try:
        info = json_get(url + "/health")
        assert info["model"] == "center-prior"
        import psutil

        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "serving on http://127.0.0.1:" in out and "device: cpu" in out


def json_get(url: str) -> dict:
    import json

    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())
