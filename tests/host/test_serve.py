"""``browserml serve`` starts a real server: one worker (Werkzeug) or several (gunicorn)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.catalog import MODELS, ROOT

pytestmark = pytest.mark.catalog


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            if requests.get(url + "/v2/health/ready", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {seconds} s")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_the_catalog_and_a_prediction(workers):
    port = _free_port()
    cli = Path(sys.executable).with_name("browserml")
    process = subprocess.Popen(
        [str(cli), "serve", "--port", str(port), "--workers", str(workers), "--models-dir", str(MODELS)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        names = [m["name"] for m in requests.get(url + "/api/v1/models", timeout=10).json()["models"]]
        assert "sentiment" in names
        answers = {
            requests.post(url + "/api/v1/models/sentiment/predict", json={"text": "I loved it"},
                          timeout=30).json()["labels"][0]["label"]
            for _ in range(4)  # with 2 workers, both are likely hit
        }
        assert answers == {"positive"}
    finally:
        process.terminate()
        process.wait(timeout=30)
