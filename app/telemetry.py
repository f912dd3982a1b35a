"""Browser telemetry: ``POST /api/v1/telemetry``, counted as ``browserml_client_*`` metrics.

The browser runtime (``frontend/src/runtime/telemetry.ts``) reports, in batches, what
ran where: loads (backend, variant, load time, cache hit), runs (a latency histogram,
results, uncertain results, counts of top-1 labels), fallbacks (a fixed reason kind) and
predictions (each result's random id and top-1 label, stored for feedback: ``app/feedback.py``).
It never sends inputs or per-item scores, and the batch has no free text: the schema
(``contract/schemas/telemetry.schema.json``) fixes every shape and bound, and every
string must name something this host serves (a model, one of its versions, variants or
``postprocess.labels``), so metric labels stay bounded. A batch is all or nothing:
any bad event refuses it (4xx saying what to do) before anything is counted.

The route is public and rate-limited as the ``telemetry`` class
(``BROWSERML_RATE_LIMIT_TELEMETRY``, per caller). The metrics sit beside the server's
own in ``/metrics`` (``app/metrics.py``), multiprocess-aware the same way.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

from flask import Blueprint, request
from prometheus_client import Counter, Histogram
from werkzeug.exceptions import RequestEntityTooLarge

from app import host_state
from app.drift import observe_runs
from app.errors import ApiError
from app.feedback import record_browser_predictions
from app.inputs import json_object
from app.limits import limit_class
from app.metrics import LATENCY_BUCKETS
from contract.manifest import schema as contract_schema
from contract.manifest import validator

MAX_BYTES = 16_000  # 16 kB per batch; the runtime splits its reports to stay under it
SCHEMA_HINT = "reports follow contract/schemas/telemetry.schema.json"
EVENT_TYPES = ("load", "runs", "fallback", "predictions")


def schema() -> dict[str, Any]:
    return contract_schema("telemetry")


def _bucket_keys() -> list[str]:
    """The client's latency bucket keys (upper bounds in ms, then "+Inf"), as the schema lists them."""
    return list(schema()["$defs"]["runs"]["properties"]["latency_buckets"]["properties"])


# The run histogram's buckets are the client's bounds, in seconds: bucket counts are exact.
RUN_BUCKETS = tuple(sorted(float(key) / 1000 for key in _bucket_keys() if key != "+Inf"))
# Loads include downloads: the request buckets, then up to five minutes.
LOAD_BUCKETS = LATENCY_BUCKETS + (30.0, 60.0, 120.0, 300.0)

CLIENT_LOADS = Counter("browserml_client_loads_total", "model loads reported by browsers",
                       ["model", "backend", "variant", "cache"])
CLIENT_LOAD_LATENCY = Histogram("browserml_client_load_duration_seconds",
                                "browser-reported load time (download, verify, session)",
                                ["model", "backend"], buckets=LOAD_BUCKETS)
CLIENT_RUNS = Counter("browserml_client_runs_total", "runs reported by browsers", ["model", "backend", "variant"])
CLIENT_RUN_LATENCY = Histogram("browserml_client_run_duration_seconds",
                               "browser-reported run latency; _sum adds each bucket's upper bound (an estimate), "
                               "the buckets are exact", ["model", "backend"], buckets=RUN_BUCKETS)
CLIENT_RESULTS = Counter("browserml_client_results_total", "results reported by browsers", ["model"])
CLIENT_UNCERTAIN = Counter("browserml_client_uncertain_total", "uncertain results reported by browsers", ["model"])
CLIENT_LABELS = Counter("browserml_client_labels_total", "top-1 labels of classification results reported by browsers",
                        ["model", "label"])
CLIENT_FALLBACKS = Counter("browserml_client_fallbacks_total", "browser backends passed over or given up, by reason",
                           ["model", "from", "reason"])

bp = Blueprint("telemetry", __name__, url_prefix="/api/v1")


@bp.post("/telemetry")
@limit_class("telemetry")
def telemetry() -> tuple[dict[str, Any], int]:
    batch = _read_batch()
    events: list[dict[str, Any]] = batch["events"]
    _check_against_registry(events)
    for event in events:
        _count(event)
        observe_runs(event)  # drift: top-1 labels and uncertain counts (app/drift.py)
    return {"accepted": len(events)}, 202


# --- Reading and checking -----------------------------------------------------------------------

def _too_large(size: int | str) -> ApiError:
    return ApiError(413, f"the telemetry batch is {size} bytes; the limit is {MAX_BYTES} bytes (16 kB): "
                         "send fewer events per batch.")


def _read_batch() -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > MAX_BYTES:
        raise _too_large(length)
    # A body without Content-Length (chunked) is read to one byte past the limit, no further.
    request.max_content_length = MAX_BYTES + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > MAX_BYTES:
        raise _too_large(f"more than {MAX_BYTES}")
    body = json_object(request)  # reads the cached bytes: 415 / 400 / 422 with what to do
    errors = list(validator("telemetry").iter_errors(body))
    if errors:
        raise ApiError(422, _schema_message(body, errors))
    return body


@cache
def _event_validator(kind: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{kind}", "$defs": schema()["$defs"]})


def _where(path: Any) -> str:
    return "/".join(str(p) for p in path) or "(top level)"


def _schema_message(body: dict[str, Any], errors: list[Any]) -> str:
    """The first error, named by its field; an event is checked against its own type's schema,
    so the message says which of its fields is wrong rather than "matches none of the types"."""
    first = min(errors, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    path = list(first.absolute_path)
    if len(path) == 2 and path[0] == "events" and first.validator == "oneOf":
        index = path[1]
        event = body["events"][index]
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(event, dict):
            return f"telemetry field events/{index} is not an object; {SCHEMA_HINT}."
        if kind not in EVENT_TYPES:
            shown = json.dumps(kind)[:40] if kind is not None else "missing"
            return (f"telemetry field events/{index}/type is {shown}; use one of "
                    f"{', '.join(EVENT_TYPES)} ({SCHEMA_HINT}).")
        inner = sorted(_event_validator(kind).iter_errors(event), key=lambda e: list(map(str, e.absolute_path)))
        if inner:
            return _message(["events", index, *inner[0].absolute_path], inner[0])
    return _message(path, first)


def _message(path: list[Any], error: Any) -> str:
    where = _where(path)
    if error.validator in ("maxItems", "minItems") and path == ["events"]:
        count = len(error.instance) if isinstance(error.instance, list) else 0
        return f"telemetry field events has {count} events; send 1 to 50 per batch."
    if error.validator == "maxProperties":
        return f"telemetry field {where} has {len(error.instance)} keys; at most {error.validator_value}."
    if error.validator == "enum":
        shown = json.dumps(error.instance)[:60]
        return f"telemetry field {where} is {shown}; use one of {', '.join(map(str, error.validator_value))}."
    if error.validator == "additionalProperties":
        return f"telemetry field {where}: {error.message[:200]}; remove it ({SCHEMA_HINT})."
    return f"telemetry field {where}: {error.message[:200]} ({SCHEMA_HINT})."


def _check_against_registry(events: list[dict[str, Any]]) -> None:
    """Every name must be one this host serves: model, version, variant, label (bounded metric labels)."""
    registry = host_state().registry
    names = registry.names()
    for index, event in enumerate(events):
        where = f"telemetry field events/{index}"
        name = event["model"]
        if name not in names:
            known = ", ".join(names) or "none"
            raise ApiError(422, f"{where}/model: unknown model {name!r}; this host serves: {known}.")
        versions = registry.versions(name)
        if event["type"] == "load" and not math.isfinite(event["load_ms"]):  # JSON parsing lets NaN through
            raise ApiError(422, f"{where}/load_ms is {event['load_ms']}; send the load time in ms, a finite number.")
        if "version" in event and event["version"] not in {m.version for m in versions}:
            raise ApiError(422, f"{where}/version: {name} has no version {event['version']} here; versions: "
                                f"{', '.join(str(m.version) for m in versions)}.")
        variant = event.get("variant")
        if variant is not None:
            files = sorted({v["file"] for m in versions for v in m.manifest["variants"]})
            if variant not in files:
                raise ApiError(422, f"{where}/variant: {name} has no variant {variant!r}; "
                                    f"its variants: {', '.join(files)}.")
        if event["type"] == "runs":
            labels = {label for m in versions for label in m.manifest.get("postprocess", {}).get("labels") or []}
            for label in event["labels"]:
                if label not in labels:
                    raise ApiError(422, f"{where}/labels: {label[:64]!r} is not a label of {name}; report only "
                                        "labels of the model's postprocess.labels.")
            if event["uncertain"] > event["results"]:
                raise ApiError(422, f"{where}/uncertain is {event['uncertain']} but results is {event['results']}; "
                                    "uncertain counts results, so it cannot exceed them.")
            if sum(event["labels"].values()) > event["results"]:
                raise ApiError(422, f"{where}/labels count {sum(event['labels'].values())} results but results is "
                                    f"{event['results']}; count each result's top-1 label once.")
        if event["type"] == "predictions":  # feedback's predictions: labels of that very version
            model = next(m for m in versions if m.version == event["version"])
            labels = set(model.manifest.get("postprocess", {}).get("labels") or [])
            for item in event["predictions"]:
                if item["label"] is not None and item["label"] not in labels:
                    raise ApiError(422, f"{where}/predictions: {item['label'][:64]!r} is not a label of {name} "
                                        f"version {event['version']}; report the result's top-1 label, or null.")


# --- Counting ---------------------------------------------------------------------------------------

def _bucket_value(key: str) -> float:
    """What one run in bucket ``key`` is observed as: its upper bound in seconds; for "+Inf",
    just above the largest bound (so it lands in +Inf and adds that bound to _sum)."""
    if key == "+Inf":
        return math.nextafter(RUN_BUCKETS[-1], math.inf)
    return float(key) / 1000


def _observe_many(child: Any, value: float, times: int) -> None:
    """``child.observe(value)`` ``times`` times, in one step (a report may carry thousands of runs).
    Uses prometheus-client's per-bucket values (pinned version), else observes one by one."""
    buckets, total, bounds = (getattr(child, attr, None) for attr in ("_buckets", "_sum", "_upper_bounds"))
    if buckets is None or total is None or bounds is None:
        for _ in range(times):
            child.observe(value)
        return
    index = next(i for i, bound in enumerate(bounds) if value <= bound)
    total.inc(value * times)
    buckets[index].inc(times)


def _count(event: dict[str, Any]) -> None:
    model = event["model"]
    if event["type"] == "load":
        variant = event["variant"] or "none"
        cache_state = "hit" if event["from_cache"] else "miss"
        CLIENT_LOADS.labels(model, event["backend"], variant, cache_state).inc()
        CLIENT_LOAD_LATENCY.labels(model, event["backend"]).observe(event["load_ms"] / 1000)
    elif event["type"] == "runs":
        runs = sum(event["latency_buckets"].values())
        if runs:
            CLIENT_RUNS.labels(model, event["backend"], event["variant"] or "none").inc(runs)
        histogram = CLIENT_RUN_LATENCY.labels(model, event["backend"])
        for key, times in event["latency_buckets"].items():
            if times:
                _observe_many(histogram, _bucket_value(key), times)
        if event["results"]:
            CLIENT_RESULTS.labels(model).inc(event["results"])
        if event["uncertain"]:
            CLIENT_UNCERTAIN.labels(model).inc(event["uncertain"])
        for label, times in event["labels"].items():
            if times:
                CLIENT_LABELS.labels(model, label).inc(times)
    elif event["type"] == "predictions":  # stored for feedback (app/feedback.py), not counted
        record_browser_predictions(event)
    else:
        CLIENT_FALLBACKS.labels(model, event["from"], event["reason"]).inc()
