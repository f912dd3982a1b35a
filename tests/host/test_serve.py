"""``browserml serve`` starts a real server: one worker (Werkzeug) or several (gunicorn)."""

from __future__ import annotations

import pytest
import requests

from harness.live_server import serve

pytestmark = pytest.mark.catalog


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_the_catalog_and_a_prediction(workers):
    process, url = serve("--workers", str(workers))
    try:
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
