"""Bursts over the limit: 50 concurrent clients for 10 s against a real server with a predict
limit. Beyond the limit there are only 429s (with Retry-After), never a 5xx, and the server
still answers afterwards."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from app import create_app
from harness.catalog import MODELS
from harness.live_server import LiveServer

CLIENTS, SECONDS, LIMIT_PER_SECOND = 50, 10.0, 20


def test_fifty_clients_over_the_limit_get_only_429s_and_no_5xx():
    app = create_app({"MODELS_DIR": str(MODELS), "RATE_LIMIT_PREDICT": f"{LIMIT_PER_SECOND}/second"})
    server = LiveServer(app)
    url = f"{server.url}/api/v1/models/sentiment/predict"
    deadline = time.monotonic() + SECONDS

    def client(i: int) -> Counter:
        seen: Counter = Counter()
        with requests.Session() as session:
            while time.monotonic() < deadline:
                answer = session.post(url, json={"text": f"client {i} says hello"}, timeout=60)
                seen[answer.status_code] += 1
                if answer.status_code == 429:
                    assert int(answer.headers["Retry-After"]) >= 0
                    assert "too many predict requests" in answer.json()["error"]
        return seen

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            totals = sum(pool.map(client, range(CLIENTS)), Counter())
        assert set(totals) <= {200, 429}, totals
        # One caller (one address): at most the limit per second got through, plus one window's edge.
        assert 0 < totals[200] <= LIMIT_PER_SECOND * (SECONDS + 1), totals
        assert totals[429] > totals[200], totals
        assert requests.get(server.url + "/v2/health/ready", timeout=60).status_code == 200
        print(f"\n{CLIENTS} clients, {SECONDS:.0f} s, limit {LIMIT_PER_SECOND}/s: {dict(totals)}")
    finally:
        server.close()
