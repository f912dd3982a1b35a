"""Redis dies in the middle of a load: no storm of 5xx.

Everything shared goes through Redis when ``BROWSERML_REDIS_URL`` is set: rate limits, the
result cache, async jobs, the lifecycle state and the drift counts. The choice, per part,
when Redis is down (README, "Shared state in Redis"):

- rate limits: each process counts in memory with the same limits (flask-limiter's fallback);
- result cache: every lookup is a miss, logged once;
- lifecycle state: each process keeps the last state it read; admin changes answer 503;
- drift counts: kept in memory and written when Redis is back;
- async jobs: 503 at submission (a job cannot be handed to a worker), synchronous predict works.

So predictions go on (200), and only what truly needs Redis answers a clear 503.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from harness.live_server import serve, start_redis

pytestmark = pytest.mark.catalog


def test_killing_redis_under_load_on_gunicorn_fails_no_prediction(tmp_path):
    redis_process, url = start_redis(tmp_path)
    process, host = serve("--workers", "2", seconds=120,
                          env={"BROWSERML_REDIS_URL": url, "BROWSERML_RATE_LIMIT_PREDICT": "1000/second",
                               "BROWSERML_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    log: list[str] = []  # drain the server's log (a full pipe would block its workers)
    threading.Thread(target=lambda: log.extend(process.stdout), daemon=True).start()
    records: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def client(n: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            body = {"text": f"review {n}-{i % 5} was fine"}  # repeats: the cache has hits to lose
            answer = session.post(f"{host}/api/v1/models/sentiment/predict", json=body, timeout=60)
            records.append((started, answer.status_code, answer.headers.get("X-Cache", "")))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(3)
        killed = time.monotonic()
        redis_process.kill()
        redis_process.wait(timeout=10)
        time.sleep(4)
        job = requests.post(f"{host}/api/v1/models/sentiment/predict", json={"text": "later"},
                            headers={"Prefer": "respond-async"}, timeout=60)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        redis_process.kill()
        process.terminate()
        process.wait(timeout=30)
    before = [r for r in records if r[0] < killed]
    after = [r for r in records if r[0] >= killed]
    print(f"redis killed under load: {len(before)} requests before ({sum(r[2] == 'hit' for r in before)} cache hits), "
          f"{len(after)} after, statuses after: {sorted({r[1] for r in after})}")
    assert before and after
    assert all(r[1] == 200 for r in records), sorted({r[1] for r in records})
    assert any(r[2] == "hit" for r in before)
    assert all(r[2] == "miss" for r in after if r[0] > killed + 1.5)  # no cache without Redis
    assert job.status_code == 503 and "Redis" in job.json()["error"]
