"""Browser telemetry (``POST /api/v1/telemetry``): a valid batch is counted exactly into the
``browserml_client_*`` metrics; every bad input is a 4xx that says what to do and counts
nothing; the route has its own rate limit and stays public when auth is on.

The metrics are process-wide (other tests count into them too), so every check is a
difference between two scrapes of ``/metrics``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.catalog import MODELS, latest_manifest

pytestmark = pytest.mark.catalog

URL = "/api/v1/telemetry"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def tapp():
    """An app without a telemetry limit (the bursts here are the tests'); the limit has its own test."""
    from app import create_app

    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_TELEMETRY": None})


@pytest.fixture()
def tclient(tapp):
    return tapp.test_client()


def client_samples(client) -> Samples:
    """Every ``browserml_client_*`` sample of ``/metrics``, by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name.startswith("browserml_client_") and not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


LOAD = {"type": "load", "model": "imagenet", "version": 1, "backend": "wasm", "variant": "model.int8.onnx",
        "load_ms": 812.5, "from_cache": False}
RUNS = {"type": "runs", "model": "imagenet", "backend": "wasm", "variant": "model.int8.onnx",
        "latency_buckets": {"2.5": 1, "50": 2, "+Inf": 3}, "uncertain": 2, "results": 7,
        "labels": {"tabby": 4, "tiger cat": 1}}
FALLBACK = {"type": "fallback", "model": "imagenet", "from": "webgpu", "reason": "webgpu_software_adapter"}
SERVER_LOAD = {"type": "load", "model": "sentiment", "version": 1, "backend": "server", "variant": None,
               "load_ms": 0, "from_cache": True}


def test_the_run_histogram_has_the_clients_bounds_which_are_the_hosts_latency_buckets():
    from app.metrics import LATENCY_BUCKETS
    from app.telemetry import RUN_BUCKETS, schema

    keys = list(schema()["$defs"]["runs"]["properties"]["latency_buckets"]["properties"])
    assert keys[-1] == "+Inf" and [float(k) / 1000 for k in keys[:-1]] == list(RUN_BUCKETS)
    assert RUN_BUCKETS == LATENCY_BUCKETS


def test_a_valid_batch_is_accepted_and_counted_exactly(tclient):
    labels = latest_manifest("imagenet")["postprocess"]["labels"]
    assert {"tabby", "tiger cat"} <= set(labels)
    before = client_samples(tclient)
    response = tclient.post(URL, json={"events": [LOAD, RUNS, FALLBACK, SERVER_LOAD]})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"accepted": 4}
    after = client_samples(tclient)

    def d(name: str, **labels: str) -> float:
        return delta(after, before, name, **labels)

    model = {"model": "imagenet"}
    assert d("browserml_client_loads_total", **model, backend="wasm", variant="model.int8.onnx", cache="miss") == 1
    assert d("browserml_client_loads_total", model="sentiment", backend="server", variant="none", cache="hit") == 1
    load = {**model, "backend": "wasm"}
    assert d("browserml_client_load_duration_seconds_count", **load) == 1
    assert d("browserml_client_load_duration_seconds_sum", **load) == pytest.approx(0.8125)
    assert d("browserml_client_load_duration_seconds_bucket", **load, le="0.5") == 0
    assert d("browserml_client_load_duration_seconds_bucket", **load, le="1.0") == 1

    assert d("browserml_client_runs_total", **model, backend="wasm", variant="model.int8.onnx") == 6
    run = {**model, "backend": "wasm"}
    cumulative = {"0.001": 0, "0.0025": 1, "0.005": 1, "0.025": 1, "0.05": 3, "0.1": 3, "10.0": 3, "+Inf": 6}
    for le, count in cumulative.items():
        assert d("browserml_client_run_duration_seconds_bucket", **run, le=le) == count, le
    assert d("browserml_client_run_duration_seconds_count", **run) == 6
    # _sum adds each bucket's upper bound (the +Inf bucket: the largest finite one).
    assert d("browserml_client_run_duration_seconds_sum", **run) == pytest.approx(0.0025 + 2 * 0.05 + 3 * 10.0)
    assert d("browserml_client_results_total", **model) == 7
    assert d("browserml_client_uncertain_total", **model) == 2
    assert d("browserml_client_labels_total", **model, label="tabby") == 4
    assert d("browserml_client_labels_total", **model, label="tiger cat") == 1
    assert d("browserml_client_fallbacks_total", **model, **{"from": "webgpu"}, reason="webgpu_software_adapter") == 1
    changed = {key for key in after if after[key] != before.get(key, 0.0)}
    assert all(name.startswith("browserml_client_") for name, _ in changed)


def _body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"events": list(events)}}


def _raw(data: str | bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"data": data, "content_type": content_type}


BAD = [
    ("oversize", _raw(json.dumps({"events": [LOAD]}) + " " * 16_000), 413,
     "the limit is 16000 bytes (16 kB): send fewer events"),
    ("not-json", _raw(json.dumps({"events": [LOAD]}), "text/plain"), 415, "expected application/json"),
    ("form", {"data": {"events": "x"}}, 415, "expected application/json"),
    ("malformed", _raw('{"events": [}'), 400, "malformed JSON at line 1"),
    ("not-an-object", _raw("[]"), 422, "expected an object"),
    ("no-events", {"json": {}}, 422, "'events' is a required property"),
    ("empty", _body(), 422, "send 1 to 50 per batch"),
    ("too-many-events", _body(*[FALLBACK] * 51), 422, "has 51 events; send 1 to 50 per batch"),
    ("extra-top-level", {"json": {"events": [LOAD], "user": "me"}}, 422, "'user' was unexpected); remove it"),
    ("unknown-event-type", _body({"type": "click", "model": "imagenet"}), 422,
     "events/0/type is \"click\"; use one of load, runs, fallback"),
    ("event-not-object", _body("load"), 422, "events/0 is not an object"),  # type: ignore[arg-type]
    ("extra-field-input", _body({**RUNS, "input": "One funny popcorn flick."}), 422,
     "events/0: Additional properties are not allowed ('input' was unexpected); remove it"),
    ("extra-field-scores", _body({**RUNS, "scores": [0.61, 0.2]}), 422, "('scores' was unexpected)"),
    ("free-text-reason", _body({**FALLBACK, "reason": "WebGPU unavailable: navigator.gpu is missing"}), 422,
     "events/0/reason is \"WebGPU unavailable: navigator.gpu is missing\"; use one of webgpu_unavailable"),
    ("text-as-count", _body({**RUNS, "labels": {"tabby": "a cat on a mat"}}), 422,
     "events/0/labels/tabby: 'a cat on a mat' is not of type 'integer'"),
    ("text-as-variant", _body({**LOAD, "variant": "my private note"}), 422, "events/0/variant: 'my private note' does"),
    ("unknown-bucket", _body({**RUNS, "latency_buckets": {"7": 1}}), 422, "('7' was unexpected)"),
    ("negative-count", _body({**RUNS, "results": -1}), 422, "events/0/results: -1 is less than the minimum of 0"),
    ("bad-backend", _body({**LOAD, "backend": "gpu"}), 422, "events/0/backend is \"gpu\"; use one of webgpu, wasm"),
    ("fallback-from-server", _body({**FALLBACK, "from": "server"}), 422,
     "events/0/from is \"server\"; use one of webgpu"),
    ("missing-field", _body({k: v for k, v in LOAD.items() if k != "load_ms"}), 422,
     "events/0: 'load_ms' is a required property"),
    ("too-many-labels", _body({**RUNS, "results": 100, "labels": {f"l{i}": 1 for i in range(51)}}), 422,
     "events/0/labels has 51 keys; at most 50"),
    ("nan-load-time", _raw(json.dumps({"events": [{**LOAD, "load_ms": float("nan")}]})), 422,
     "events/0/load_ms is nan; send the load time in ms, a finite number"),
    ("unknown-model", _body({**LOAD, "model": "nope"}), 422,
     "events/0/model: unknown model 'nope'; this host serves: emotion, face-detector, imagenet"),
    ("unknown-version", _body({**LOAD, "version": 99}), 422, "events/0/version: imagenet has no version 99 here"),
    ("unknown-variant", _body({**LOAD, "variant": "model.int4.onnx"}), 422,
     "events/0/variant: imagenet has no variant 'model.int4.onnx'; its variants: model.fp16.onnx"),
    ("unknown-label", _body({**RUNS, "labels": {"zebra-ish": 1}}), 422,
     "events/0/labels: 'zebra-ish' is not a label of imagenet; report only labels of the model's postprocess.labels"),
    ("label-of-a-model-without-labels", _body({**RUNS, "model": "text-embedder", "labels": {"tabby": 1}}), 422,
     "'tabby' is not a label of text-embedder"),
    ("more-uncertain-than-results", _body({**RUNS, "uncertain": 8}), 422,
     "events/0/uncertain is 8 but results is 7; uncertain counts results"),
    ("more-labels-than-results", _body({**RUNS, "labels": {"tabby": 8}}), 422,
     "count each result's top-1 label once"),
    ("one-bad-event-refuses-the-batch", _body(LOAD, RUNS, {**FALLBACK, "model": "nope"}), 422,
     "events/2/model: unknown model 'nope'"),
]


@pytest.mark.parametrize(("case", "request_kwargs", "status", "message"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_a_4xx_saying_what_to_do_and_counts_nothing(tclient, case, request_kwargs, status, message):
    before = client_samples(tclient)
    response = tclient.post(URL, **request_kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert message in error, error
    assert len(error) < 400, error
    assert client_samples(tclient) == before


def test_a_chunked_body_over_16kb_is_413(live_server):
    """No Content-Length to check up front: reading stops at the limit."""
    import requests

    body = (json.dumps({"events": [LOAD]}) + " " * 16_000).encode()

    def chunks():
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    response = requests.post(f"{live_server.url}{URL}", data=chunks(), timeout=30,
                             headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert "16 kB" in response.json()["error"]


def test_a_burst_over_the_telemetry_limit_is_429():
    from app import create_app

    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_TELEMETRY": "3/minute"})
    client = app.test_client()
    answers = [client.post(URL, json={"events": [FALLBACK]}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    refused = answers[-1]
    assert "too many telemetry requests: the limit is 3/minute per caller" in refused.get_json()["error"]
    assert int(refused.headers["Retry-After"]) > 0
    # Telemetry has a budget of its own: the catalog (public) still answers.
    assert client.get("/api/v1/models").status_code == 200


def test_telemetry_stays_public_when_auth_is_on(tmp_path):
    from app import create_app

    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys", "SECRET_KEY": "s" * 32,
                      "KEYS_FILE": str(tmp_path / "keys.json")})
    client = app.test_client()
    assert client.post(URL, json={"events": [FALLBACK]}).status_code == 202
    assert client.post("/api/v1/models/sentiment/predict", json={"text": "hi"}).status_code == 401


def test_the_schema_forbids_free_text_and_unbounded_shapes():
    """Every object closes its properties (labels: a bounded map of counts), every string and
    array is bounded or an enum: a guard against a field that could carry an input."""
    from app.telemetry import schema

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert "additionalProperties" in node, where
                if node["additionalProperties"] is not False:
                    assert "maxProperties" in node and "propertyNames" in node, where
            if node.get("type") == "array":
                assert "maxItems" in node, where
            kinds = node.get("type")
            if kinds == "string" or (isinstance(kinds, list) and "string" in kinds):
                assert "maxLength" in node and "pattern" in node, where
            if kinds in ("integer", "number"):
                assert "maximum" in node and math.isfinite(node["maximum"]), where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(schema(), "#")
