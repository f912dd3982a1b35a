"""Prometheus metrics (prometheus-client), served at ``/metrics``.

Under gunicorn, ``browserml serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh folder, every worker writes its samples there and ``/metrics`` adds them up, so N
workers report one total (``app/gunicorn_conf.py`` marks dead workers). One process
uses the default in-memory registry.

Labels stay bounded: ``route`` is the URL rule (``/api/v1/models/<name>/predict``), not
the path; ``model`` is always a resolved model of this host's registry (a name from the URL
that resolves to nothing is a 404, counted only by route and status); ``kind`` is one of
``ERROR_KINDS``. Nothing here sees a key or a payload.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.auth import requires

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ERROR_KINDS = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "too_large", 415: "unsupported_media", 422: "invalid_input", 429: "rate_limited", 500: "internal",
    503: "unavailable",
}

REQUESTS = Counter("browserml_http_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"])
HTTP_LATENCY = Histogram("browserml_http_request_duration_seconds", "HTTP request latency, whole request",
                         ["route"], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge("browserml_http_requests_in_flight", "requests being handled", multiprocess_mode="livesum")
ERRORS = Counter("browserml_errors_total", "error responses by kind", ["kind"])
PREDICTIONS = Counter("browserml_predictions_total", "server-side predictions by model, version and variant",
                      ["model", "version", "variant"])
INFERENCE_LATENCY = Histogram("browserml_inference_duration_seconds",
                              "server-side prepare + inference + finish, per request",
                              ["model", "variant"], buckets=LATENCY_BUCKETS)
RESULTS = Counter("browserml_results_total", "results returned (one per input) by model", ["model"])
UNCERTAIN = Counter("browserml_uncertain_results_total", "results flagged uncertain by model", ["model"])
LEXICON_FALLBACKS = Counter("browserml_lexicon_fallbacks_total", "results answered by the lexicon by model",
                            ["model"])

BATCH_SIZE = Histogram("browserml_batch_size", "rows per dynamic batch (app/batching.py), by model", ["model"],
                       buckets=(1, 2, 4, 8, 16, 32, 64))
BATCH_QUEUE = Histogram("browserml_batch_queue_seconds", "time a request waited for its dynamic batch to run",
                        ["model"], buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))

# 1 per loaded session: the execution provider ONNX Runtime gave it ("remote": app/remote.py).
SESSIONS = Gauge("browserml_session_info", "loaded inference sessions by model, version, variant and the "
                 "execution provider each got", ["model", "version", "variant", "provider"],
                 multiprocess_mode="livemax")

bp = Blueprint("metrics", __name__)


def record_session(model: str, version: int, variant: str, provider: str) -> None:
    """A session of app/inference.py loaded and passed its self-check, on ``provider``."""
    SESSIONS.labels(model, str(version), variant, provider).set(1)


def record_batch(model: str, rows: int, waits: list[float]) -> None:
    """One batch run by app/batching.py: its rows and how long each of its requests queued."""
    BATCH_SIZE.labels(model).observe(rows)
    for seconds in waits:
        BATCH_QUEUE.labels(model).observe(seconds)


def record_prediction(model: str, version: int, variant: str, seconds: float | None, result: dict[str, Any]) -> None:
    """Count one answered predict request and its results (one per input: a list of texts gives several).
    ``seconds`` None: answered from the result cache (app/cache.py), no inference to time."""
    PREDICTIONS.labels(model, str(version), variant).inc()
    if seconds is not None:
        INFERENCE_LATENCY.labels(model, variant).observe(seconds)
    for item in result.get("results", [result]):
        RESULTS.labels(model).inc()
        if item.get("uncertain"):
            UNCERTAIN.labels(model).inc()
        if item.get("fallback") == "lexicon":
            LEXICON_FALLBACKS.labels(model).inc()


def _start() -> None:
    IN_FLIGHT.inc()
    g.metrics_started = time.perf_counter()


def _finish(response: Any) -> Any:
    started = g.pop("metrics_started", None)
    if started is not None:
        IN_FLIGHT.dec()
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
        if response.status_code >= 400:
            ERRORS.labels(ERROR_KINDS.get(response.status_code, "other")).inc()
    return response


def _registry() -> CollectorRegistry | None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return None


@bp.get("/metrics")
def metrics() -> Response:
    registry = _registry()
    body = generate_latest(registry) if registry is not None else generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


@requires("admin")
def private_metrics() -> Response:
    return metrics()


def init_metrics(app: Flask) -> None:
    """Count every request; serve /metrics (admin-only when ``METRICS`` is "private"; "off" for
    measuring what the counting costs: bench/bench_predict.py --protect)."""
    mode = str(app.config["METRICS"])
    if mode not in ("public", "private", "off"):
        raise ValueError(f"BROWSERML_METRICS is {mode!r}; use public, private or off")
    if mode == "off":
        return
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
    if mode == "private":
        app.view_functions["metrics.metrics"] = private_metrics
