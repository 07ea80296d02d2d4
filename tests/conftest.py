import http.server
import os
import threading
from functools import partial
from pathlib import Path

import pytest
import torch

from saliency import paths

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one xdist worker per core: each computes on one thread (and so do the commands it starts),
    # instead of every worker's torch and OpenCV fighting for all the cores
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)

SHARED = paths.shared_dir()


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the slow end-to-end tests (CI always does)")


def pytest_collection_modifyitems(config, items):
    """Slow end-to-end runs (minutes each) are skipped on a laptop unless asked for (--run-slow, or
    -m naming them); CI (CI set in the environment) runs every test."""
    if os.environ.get("CI") or config.getoption("--run-slow") or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end run: CI runs it; pass --run-slow to run it here")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test gets its own data directory and no network downloads by accident."""
    monkeypatch.setenv("SALIENCY_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SALIENCY_WEIGHTS", raising=False)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: these tests read the shared datasets and reference manifests")
    return SHARED


@pytest.fixture
def dcgan_checkpoint(tmp_path) -> Path:
    """A random-weight dcgan-faces file in the publisher's format ({'netG_state_dict': ...})."""
    from saliency.generators.dcgan_faces import DCGANGenerator

    path = tmp_path / "weights.tar"
    torch.save({"netG_state_dict": DCGANGenerator().state_dict()}, path)
    return path


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over a temporary folder: (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
