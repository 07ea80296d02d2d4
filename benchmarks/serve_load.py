"""Load on `saliency serve`: N requests at concurrency C; requests/s, p50/p95 latency, every
status, and the server's memory (RSS) after the first 50 requests and after all N, so a leak
shows as growth. `predict`'s images/s on the same photo, measured in the same run, is the
reference a service is judged against.

Run: `python benchmarks/serve_load.py [--requests 1000] [--concurrency 4] [--workers 2]` starts
its own server (the shipped model on the CPU unless --model/--device say otherwise); `--url URL
--pid PID` measures one that is already running.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from saliency.images import bundled_photos  # noqa: E402
from saliency.server.process import start_server  # noqa: E402


def send(url: str, body: bytes, path: str, count: int, latencies: list, statuses: Counter, lock: threading.Lock) -> None:
    """One client: `count` POSTs over one keep-alive connection (reopened if the server closes it)."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    for _ in range(count):
        t = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "image/jpeg"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
            status = "error"
        with lock:
            latencies.append(time.perf_counter() - t)
            statuses[status] += 1
    conn.close()


def load(url: str, body: bytes, path: str, requests: int, concurrency: int) -> tuple[list[float], Counter, float]:
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    threads = [threading.Thread(target=send, args=(url, body, path, n, latencies, statuses, lock)) for n in shares]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies, statuses, time.perf_counter() - t


def predict_img_per_s(photo: Path, images: int, model: str, device: str) -> float:
    """`saliency predict` over `images` copies of the photo, model loading excluded (a warm-up run first)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for i in range(images):
            (folder / f"{i:04d}.jpg").write_bytes(photo.read_bytes())
        model_flag = [] if model == "shipped" else ["--checkpoint", model]
        command = [sys.executable, "-m", "saliency", "predict", "--device", device, *model_flag, "--cutout"]
        subprocess.run([*command, str(folder / "0000.jpg"), "--out", str(Path(tmp) / "warm")], check=True, capture_output=True)
        t = time.perf_counter()
        subprocess.run([*command, str(folder), "--out", str(Path(tmp) / "out")], check=True, capture_output=True)
        elapsed = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*command, str(folder / "0000.jpg"), "--out", str(Path(tmp) / "once")], check=True, capture_output=True)
        startup = time.perf_counter() - t  # a one-photo run: start-up and model loading, taken off the folder's time
    return images / max(elapsed - startup, 1e-6)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--endpoint", default="cutout", choices=["map", "mask", "cutout"])
    p.add_argument("--url", default=None, help="a running server (default: start one)")
    p.add_argument("--pid", type=int, default=None, help="with --url: its process, for memory")
    p.add_argument("--model", default="shipped")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=2, help="the started server's --workers")
    p.add_argument("--photo", type=Path, default=None, help="JPEG to send (default: scikit-image's astronaut, 512 x 512)")
    p.add_argument("--predict-images", type=int, default=50, help="photos for predict's img/s (0: skip)")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo
        if photo is None:
            photo = Path(tmp) / "astronaut.jpg"
            cv2.imwrite(str(photo), cv2.cvtColor(bundled_photos()["astronaut"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        body = photo.read_bytes()
        height, width = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        proc = None
        if args.url is None:
            proc, url = start_server("--model", args.model, "--workers", str(args.workers), "--queue", str(4 * args.concurrency))
            pid = proc.pid
        else:
            url, pid = args.url, args.pid
        server = psutil.Process(pid) if pid else None
        try:
            first = min(50, args.requests)
            lat1, st1, t1 = load(url, body, f"/{args.endpoint}", first, args.concurrency)
            rss_50 = server.memory_info().rss / 2**20 if server else float("nan")
            lat2, st2, t2 = load(url, body, f"/{args.endpoint}", args.requests - first, args.concurrency)
            rss_n = server.memory_info().rss / 2**20 if server else float("nan")
        finally:
            if proc:
                proc.terminate()
                proc.wait(30)
        latencies, statuses = np.array(lat1 + lat2) * 1000, st1 + st2
        predict = predict_img_per_s(photo, args.predict_images, args.model, args.device) if args.predict_images else float("nan")
    row = {
        "endpoint": f"/{args.endpoint} ({width}x{height})",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "workers": args.workers if proc else "?",
        "ok": statuses.get(200, 0),
        "other statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str) if k != 200) or "none",
        "requests/s": args.requests / (t1 + t2),
        "p50 ms": float(np.percentile(latencies, 50)),
        "p95 ms": float(np.percentile(latencies, 95)),
        "RSS MB after 50": rss_50,
        f"RSS MB after {args.requests}": rss_n,
        "predict img/s": predict,
    }
    report("serve_load", [row], torch.device(args.device if args.device != "auto" else "cpu"), args.out)


if __name__ == "__main__":
    main()
