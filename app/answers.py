"""A model prediction's answer and what is recorded for it, shared by sync predict
(``app/predict.py``) and async jobs (``app/jobs.py``): the same body, the same drift counts,
metrics and stored prediction (for feedback), whichever path computed the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.drift import observe_prediction
from app.feedback import record_served
from app.metrics import record_prediction
from app.registry import ModelVersion


@dataclass
class Spec:
    """What answered and under which request id: for a job, fixed at submission."""

    model: str
    version: int
    arm: str
    variant: str
    request_id: str


def answer(spec: Spec, result: dict[str, Any], latency_ms: float) -> dict[str, Any]:
    """The predict body: the task result plus where and how it was computed."""
    return {**result, "model": spec.model, "version": spec.version, "arm": spec.arm, "variant": spec.variant,
            "backend": "server", "latency_ms": round(latency_ms, 3), "request_id": spec.request_id}


def record(model: ModelVersion, spec: Spec, sample: Any, result: dict[str, Any], latency_ms: float | None) -> None:
    """Drift counts, metrics (``latency_ms`` None: not timed, e.g. a cache hit) and the stored
    prediction feedback refers to. Needs an app context."""
    observe_prediction(model, sample, result)
    seconds = None if latency_ms is None else latency_ms / 1000
    record_prediction(spec.model, spec.version, spec.variant, seconds, result)
    record_served(spec.request_id, spec.model, spec.version, spec.variant, result)
