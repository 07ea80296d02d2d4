"""`saliency serve` in a process of its own on a free loopback port, for the tests and the load
benchmark that talk to it over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    """`saliency serve ARGS` on a free loopback port in its own process, returned once it answers
    /health: (process, base URL). Raises with the server's output if it exits first."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "saliency", "serve", "--port", str(port), "--device", "cpu", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("saliency serve did not answer within a minute")
