"""Observe: one JSON log line per request (request id, route, model, variant, status, latency,
caller; never a key or a payload), Prometheus metrics with bounded labels, one total across
gunicorn workers, and TLS with HSTS."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from app import create_app
from app.keys import KeyStore
from harness.catalog import MODELS
from harness.live_server import metric_value as sample
from harness.live_server import serve

SECRET_TEXT = "Zanzibar marmalade is surprisingly wonderful"




def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_each_request_is_one_json_line_without_keys_or_payloads(tmp_path, capfd):
    store = KeyStore(tmp_path / "keys.json")
    key = store.create("reporting", "predict")
    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys", "KEYS_FILE": str(store.path)})
    client = app.test_client()
    capfd.readouterr()
    ok = client.post("/api/v1/models/sentiment/predict", json={"text": SECRET_TEXT},
                     headers={"Authorization": f"Bearer {key}", "X-Request-ID": "trace-42"})
    refused = client.post("/api/v1/models/sentiment/predict", json={"text": SECRET_TEXT},
                          headers={"Authorization": f"Bearer {key}x", "X-Request-ID": "bad id with spaces"})
    assert ok.headers["X-Request-ID"] == "trace-42"
    assert refused.headers["X-Request-ID"] != "bad id with spaces" and len(refused.headers["X-Request-ID"]) == 32
    err = capfd.readouterr().err
    assert key not in err and SECRET_TEXT not in err and "Zanzibar" not in err
    lines = [line for line in log_lines(err) if line["msg"] == "request"]
    assert lines[0] | {"latency_ms": None} == {
        "ts": lines[0]["ts"], "level": "info", "logger": "browserml.request", "msg": "request",
        "request_id": "trace-42", "method": "POST", "route": "/api/v1/models/<name>/predict", "status": 200,
        "latency_ms": None, "caller": "reporting", "model": "sentiment", "version": lines[0]["version"],
        "variant": lines[0]["variant"],
    }
    assert lines[1]["status"] == 401 and lines[1]["caller"] is None


def test_metrics_count_predictions_errors_and_results_with_bounded_labels():
    client = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None}).test_client()
    before = client.get("/metrics").get_data(as_text=True)
    texts = ["Great!", "One funny popcorn flick."]  # the second one goes to the lexicon
    answer = client.post("/api/v1/models/sentiment/predict", json={"texts": texts}).json
    for name in ("nope-1", "nope-2", "nope-3"):
        assert client.post(f"/api/v1/models/{name}/predict", json={"text": "x"}).status_code == 404
    after = client.get("/metrics").get_data(as_text=True)
    series = {"model": "sentiment", "version": str(answer["version"]), "variant": answer["variant"]}
    assert sample(after, "browserml_predictions_total", **series) - sample(before, "browserml_predictions_total",
                                                                           **series) == 1
    assert sample(after, "browserml_results_total", model="sentiment") - sample(
        before, "browserml_results_total", model="sentiment") == 2
    assert sample(after, "browserml_lexicon_fallbacks_total", model="sentiment") - sample(
        before, "browserml_lexicon_fallbacks_total", model="sentiment") == 1
    assert sample(after, "browserml_errors_total", kind="not_found") - sample(
        before, "browserml_errors_total", kind="not_found") == 3
    route = "/api/v1/models/<name>/predict"
    assert sample(after, "browserml_http_requests_total", route=route, method="POST", status="404") >= 3
    assert "nope-1" not in after  # an unknown name is never a label value


def test_two_gunicorn_workers_report_one_total_and_log_no_key_or_text(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    key = store.create("load", "predict")
    env = {"BROWSERML_AUTH": "keys", "BROWSERML_KEYS_FILE": str(store.path), "BROWSERML_RATE_LIMIT_PREDICT": "null"}
    process, url = serve("--workers", "2", env=env, seconds=90)
    try:
        count = 40
        with requests.Session() as session:
            for i in range(count):
                answer = session.post(url + "/api/v1/models/sentiment/predict", timeout=60,
                                      json={"text": f"{SECRET_TEXT} {i}"}, headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200
        total = sum(
            sample(requests.get(url + "/metrics", timeout=30).text, "browserml_predictions_total",
                   model="sentiment", variant=variant)
            for variant in ("model.onnx", "model.fp16.onnx", "model.int8.onnx")
        )
        assert total == count
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    lines = log_lines(output)
    assert sum(1 for line in lines if line.get("route") == "/api/v1/models/<name>/predict") == count
    assert key not in output and "Zanzibar" not in output
    assert "GET /metrics HTTP" not in output  # no access log beside the JSON lines


@pytest.mark.parametrize("workers", ["1", "2"])
def test_tls_serves_https_with_hsts(tmp_path, workers):
    cert, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(keyfile), "-out", str(cert)],
                   check=True, capture_output=True)
    process, url = serve("--workers", workers, "--certfile", str(cert), "--keyfile", str(keyfile),
                         scheme="https", verify=str(cert), seconds=90)
    try:
        answer = requests.get(url + "/api/v1/models", timeout=30, verify=str(cert))
        assert answer.status_code == 200
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_plain_http_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/api/v1/models").headers
