"""Rate limits per route class and caller: 429 JSON with Retry-After and the RateLimit headers,
one budget per key / page session / address, shared by every process through a real Redis."""

from __future__ import annotations

import pytest

from app import create_app
from app.keys import KeyStore
from harness.catalog import MODELS

TEXT = {"text": "A fine day"}
PREDICT = "/api/v1/models/sentiment/predict"


def app_with(**config):
    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, **config})


def test_over_the_limit_is_429_json_with_retry_after_and_ratelimit_headers():
    client = app_with(RATE_LIMIT_PREDICT="3/minute").test_client()
    answers = [client.post(PREDICT, json=TEXT) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3" and answers[1].headers["X-RateLimit-Remaining"] == "1"
    refused = answers[3]
    assert int(refused.headers["Retry-After"]) > 0
    assert "too many predict requests: the limit is 3/minute" in refused.json["error"]
    assert "Retry-After" in refused.json["error"]


def test_only_predict_is_limited_by_default():
    client = app_with(RATE_LIMIT_PREDICT="2/minute").test_client()
    assert all(client.get("/api/v1/models").status_code == 200 for _ in range(20))
    assert all(client.get("/v2/health/live").status_code == 200 for _ in range(20))


def test_every_predict_route_shares_one_budget_per_caller():
    client = app_with(RATE_LIMIT_PREDICT="2/minute").test_client()
    assert client.post(PREDICT, json=TEXT).status_code == 200
    assert client.post("/api/v1/models/text-embedder/predict", json=TEXT).status_code == 200
    assert client.post("/v2/models/sentiment/infer", json={"inputs": []}).status_code == 429


def test_each_key_and_each_page_session_has_its_own_budget(tmp_path):
    keys = KeyStore(tmp_path / "keys.json")
    first, second = keys.create("a", "predict"), keys.create("b", "predict")
    app = app_with(AUTH="keys", KEYS_FILE=str(tmp_path / "keys.json"), RATE_LIMIT_PREDICT="2/minute")
    client = app.test_client()
    for key in (first, second):
        codes = [client.post(PREDICT, json=TEXT, headers={"Authorization": f"Bearer {key}"}).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
    for _ in range(2):  # two browsers: each page load is a session of its own
        page = app.test_client()
        assert page.get("/").status_code == 200
        assert [page.post(PREDICT, json=TEXT).status_code for _ in range(3)] == [200, 200, 429]


def test_limits_in_redis_are_shared_by_every_process(redis_url):
    # Two apps stand for two gunicorn workers (or two hosts): one budget between them.
    config = {"RATE_LIMIT_PREDICT": "3/minute", "REDIS_URL": redis_url}
    one, two = app_with(**config).test_client(), app_with(**config).test_client()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    codes = [client.post(PREDICT, json=TEXT).status_code for client in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]
    assert any(b"browserml" in key for key in redis.Redis.from_url(redis_url).keys())  # the counters live there


def test_with_redis_down_predictions_go_on_and_the_limit_still_holds_per_process(tmp_path):
    from harness.live_server import start_redis

    server, url = start_redis(tmp_path)
    try:
        client = app_with(RATE_LIMIT_PREDICT="3/minute", REDIS_URL=url, LIFECYCLE_DB=str(tmp_path / "l.sqlite"),
                          DATABASE_URL=f"sqlite:///{tmp_path / 'f.sqlite'}").test_client()
        assert client.post(PREDICT, json=TEXT).status_code == 200
        server.kill()
        server.wait(timeout=10)
        codes = [client.post(PREDICT, json=TEXT).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]  # counted in memory now, with the same limit
    finally:
        server.kill()


@pytest.mark.parametrize("value", ["lots", "5 per fortnight"])
def test_a_malformed_limit_is_refused_at_start_naming_the_variable(value):
    with pytest.raises(ValueError, match="BROWSERML_RATE_LIMIT_PREDICT"):
        app_with(RATE_LIMIT_PREDICT=value)
