"""The result cache of predict (app/cache.py): in-process LRU or Redis, keyed by model, version,
variant and the decoded input, with ``X-Cache`` on every answer and counts in /metrics.

Inputs are made unique per test (a fresh uuid in the text, a changed pixel) so the shared
redis of the session and the process-wide metrics never make a miss look like a hit.
"""

from __future__ import annotations

import io
import logging
import time
import uuid

import numpy as np
import pytest
import redis
from PIL import Image

from app import create_app
from app.cache import PREFIX, LruCache
from app.drift import FLUSH_SECONDS
from harness.catalog import MODELS, versions_copy
from harness.live_server import metric_value as sample
from harness.live_server import start_redis

pytestmark = pytest.mark.catalog
TASK_FIELDS = ("model", "version", "arm", "variant", "backend")


def make_app(tmp_path, **config):
    state = tmp_path / uuid.uuid4().hex
    state.mkdir()
    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                       "LIFECYCLE_DB": str(state / "lifecycle.sqlite"),
                       "DATABASE_URL": f"sqlite:///{state / 'feedback.sqlite'}", **config})


def text() -> dict[str, str]:
    return {"text": f"The cached film {uuid.uuid4().hex[:8]} was a delight"}


def encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def photo() -> np.ndarray:
    """A real photo with one pixel set at random: an input no other test sent."""
    from skimage import data

    pixels = np.array(Image.fromarray(data.chelsea()).resize((160, 120)))
    pixels[0, 0] = np.random.default_rng().integers(0, 256, 3)
    return pixels




def cache_counts(client, model: str) -> dict[str, float]:
    metrics = client.get("/metrics").get_data(as_text=True)
    return {result: sample(metrics, "browserml_cache_requests_total", model=model, result=result)
            for result in ("hit", "miss", "bypass")}


def task_result(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("latency_ms", "request_id")}


def test_a_repeated_input_is_a_hit_with_the_same_result_its_own_request_id_and_counted(tmp_path):
    client = make_app(tmp_path).test_client()
    before = cache_counts(client, "sentiment")
    body = text()
    first = client.post("/api/v1/models/sentiment/predict", json=body)
    second = client.post("/api/v1/models/sentiment/predict", json=body)
    assert first.status_code == second.status_code == 200
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert task_result(second.json) == task_result(first.json)
    assert second.json["request_id"] != first.json["request_id"]
    assert second.headers["X-Request-ID"] == second.json["request_id"]

    # The hit was recorded for feedback like the miss: feedback on its own request id is taken.
    verdict = client.post("/api/v1/feedback", json={"model": "sentiment", "version": second.json["version"],
                                                    "request_id": second.json["request_id"], "correct": True})
    assert verdict.status_code == 201, verdict.json

    # A list of texts is another input than its single text.
    listed = client.post("/api/v1/models/sentiment/predict", json={"texts": [body["text"]]})
    assert listed.headers["X-Cache"] == "miss" and listed.json["results"][0]["labels"] == first.json["labels"]

    after = cache_counts(client, "sentiment")
    assert {k: after[k] - before[k] for k in after} == {"hit": 1, "miss": 2, "bypass": 0}
    assert sample(client.get("/metrics").get_data(as_text=True), "browserml_cache_bytes") > 0


def test_the_same_pixels_in_another_file_hit_and_other_pixels_miss(tmp_path):
    client = make_app(tmp_path).test_client()
    pixels = photo()
    png, png_again, bmp = encoded(pixels, "PNG"), encoded(pixels, "PNG", compress_level=1), encoded(pixels, "BMP")
    assert len({png, png_again, bmp}) == 3  # three different files of one image
    url = "/api/v1/models/imagenet/predict"
    first = client.post(url, data=png, content_type="image/png")
    assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
    for data, kind in ((png_again, "image/png"), (bmp, "image/bmp")):
        again = client.post(url, data={"image": (io.BytesIO(data), "cat")}, content_type="multipart/form-data")
        assert again.status_code == 200 and again.headers["X-Cache"] == "hit", kind
        assert task_result(again.json) == task_result(first.json)

    jpeg = client.post(url, data=encoded(pixels, "JPEG", quality=90), content_type="image/jpeg")
    assert jpeg.status_code == 200 and jpeg.headers["X-Cache"] == "miss"  # lossy: other pixels
    changed = pixels.copy()
    changed[-1, -1] ^= 1
    assert client.post(url, data=encoded(changed, "PNG"), content_type="image/png").headers["X-Cache"] == "miss"


def test_another_version_of_the_model_never_hits(tmp_path):
    models = versions_copy(tmp_path / "models", ["emotion"], 2)
    client = make_app(tmp_path, MODELS_DIR=str(models)).test_client()
    png = encoded(photo(), "PNG")

    def ask(version: int) -> tuple[str, dict]:
        answer = client.post(f"/api/v1/models/emotion/predict?version={version}", data=png, content_type="image/png")
        assert answer.status_code == 200, answer.json
        assert answer.json["version"] == version
        return answer.headers["X-Cache"], answer.json

    assert ask(1)[0] == "miss"
    assert ask(1)[0] == "hit"
    status, second = ask(2)
    assert status == "miss"  # same input, same file contents, another version
    assert ask(2)[0] == "hit"
    assert second["labels"] == ask(1)[1]["labels"]  # copies of one model: same answer, cached apart


def test_no_cache_skips_the_lookup_but_stores_and_errors_and_the_kill_switch_carry_no_x_cache(tmp_path):
    client = make_app(tmp_path).test_client()
    before = cache_counts(client, "sentiment")
    body = text()
    fresh = client.post("/api/v1/models/sentiment/predict", json=body, headers={"Cache-Control": "no-cache"})
    assert fresh.status_code == 200 and fresh.headers["X-Cache"] == "bypass"
    again = client.post("/api/v1/models/sentiment/predict", json=body, headers={"Cache-Control": "no-cache"})
    assert again.headers["X-Cache"] == "bypass"
    stored = client.post("/api/v1/models/sentiment/predict", json=body)
    assert stored.headers["X-Cache"] == "hit" and task_result(stored.json) == task_result(fresh.json)
    after = cache_counts(client, "sentiment")
    assert {k: after[k] - before[k] for k in after} == {"hit": 1, "miss": 0, "bypass": 2}

    bad = client.post("/api/v1/models/sentiment/predict", json={"text": "   "})
    assert bad.status_code == 422 and "X-Cache" not in bad.headers
    assert "X-Cache" not in client.post("/api/v1/models/nope/predict", json=body).headers

    assert client.post("/api/v1/admin/models/sentiment/fallback", json={"on": True}).status_code == 200
    deadline = time.monotonic() + 3  # every process follows the kill switch within a second
    while (lexicon := client.post("/api/v1/models/sentiment/predict", json=body)).json["variant"] is not None:
        assert time.monotonic() < deadline, "the kill switch did not reach the host"
        time.sleep(0.1)
    assert lexicon.status_code == 200 and "X-Cache" not in lexicon.headers


def test_the_lru_stays_within_its_bound_evicting_the_least_recently_used(tmp_path):
    lru = LruCache(100)
    lru.put("a", b"x" * 40)
    lru.put("b", b"y" * 40)
    assert lru.get("a") == b"x" * 40  # a is now the most recent
    lru.put("c", b"z" * 40)
    assert lru.get("b") is None and lru.get("a") is not None and lru.get("c") is not None
    assert lru.bytes == 82 and len(lru) == 2
    lru.put("huge", b"h" * 200)  # larger than the whole cache: not stored, nothing evicted
    assert lru.get("huge") is None and len(lru) == 2

    # Through the app: 500 bytes hold two sentiment results (about 210 bytes each), not three.
    app = make_app(tmp_path, CACHE_MB=0.0005)
    client = app.test_client()
    bodies = [text() for _ in range(3)]
    for body in bodies:
        assert client.post("/api/v1/models/sentiment/predict", json=body).headers["X-Cache"] == "miss"
    cache = app.extensions["browserml_cache"]
    assert len(cache) == 2 and cache.bytes <= 500
    assert client.post("/api/v1/models/sentiment/predict", json=bodies[2]).headers["X-Cache"] == "hit"
    assert client.post("/api/v1/models/sentiment/predict", json=bodies[0]).headers["X-Cache"] == "miss"  # evicted

    off = make_app(tmp_path, CACHE_MB=0).test_client()
    body = text()
    for _ in range(2):
        answer = off.post("/api/v1/models/sentiment/predict", json=body)
        assert answer.status_code == 200 and "X-Cache" not in answer.headers


def test_two_hosts_share_results_through_redis_with_a_ttl(tmp_path, redis_url):
    server = redis.Redis.from_url(redis_url)
    for stale in server.scan_iter(match=PREFIX + "*"):  # the session's redis: other tests cache there too
        server.delete(stale)
    one = make_app(tmp_path, REDIS_URL=redis_url, CACHE_TTL=120).test_client()
    two = make_app(tmp_path, REDIS_URL=redis_url, CACHE_TTL=120).test_client()
    body = text()
    first = one.post("/api/v1/models/sentiment/predict", json=body)
    second = two.post("/api/v1/models/sentiment/predict", json=body)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert task_result(second.json) == task_result(first.json)
    key = f"{PREFIX}sentiment:{first.json['version']}:{first.json['variant']}:"
    keys = [k.decode() for k in server.scan_iter(match=key + "*")]
    assert keys and all(0 < server.ttl(k) <= 120 for k in keys)
    assert body["text"] not in repr([server.get(k) for k in keys])  # the result, never the input


def test_a_redis_outage_answers_every_prediction_as_a_miss_logged_once(tmp_path):
    process, url = start_redis(tmp_path)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("browserml")
    logger.addHandler(handler)
    try:
        client = make_app(tmp_path, REDIS_URL=url).test_client()
        body = text()
        assert client.post("/api/v1/models/sentiment/predict", json=body).headers["X-Cache"] == "miss"
        assert client.post("/api/v1/models/sentiment/predict", json=body).headers["X-Cache"] == "hit"
        process.kill()
        process.wait(timeout=10)
        for payload in (body, body, text()):
            answer = client.post("/api/v1/models/sentiment/predict", json=payload)
            assert answer.status_code == 200 and answer.headers["X-Cache"] == "miss"
            assert answer.json["labels"]
        time.sleep(FLUSH_SECONDS + 0.5)  # let the drift counts' flush fail (and say so) while the test runs
    finally:
        logger.removeHandler(handler)
        if process.poll() is None:
            process.kill()
    assert len([line for line in lines if line.startswith("result cache: Redis unreachable")]) == 1
