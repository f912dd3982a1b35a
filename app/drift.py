"""Live drift: bin what the host sees with each version's reference, add it up across workers,
report PSI in ``/metrics`` as ``browserml_drift_psi{model,version,feature}``.

- ``observe_prediction`` (called from ``app/predict.py`` after ``run_task``): the input's
  features (image size, brightness, contrast on a nearest-neighbour sample of at most
  256 x 256 of the already-decoded image; text length and unknown-token share, from the
  version's tokenizer) and the result's (label, confidence, uncertain; faces, face score)
  are binned with the manifest's ``drift`` bins (``lifecycle/drift.py``) and counted in
  this process. Versions without a ``drift`` reference are skipped.
- ``observe_runs`` (called from ``app/telemetry.py`` for a ``runs`` event): the browsers'
  top-1 label counts and uncertain counts go to the ``label`` and ``uncertain`` features of the
  version the event names (the runtime sends the version it loaded; an event without one counts
  for the model's default version). Browser inputs are not reported (no input features from browsers).
- Counts are flushed from memory into the shared lifecycle store (``lifecycle/store.py``,
  SQLite or Redis) about once a second (a one-shot timer armed by the first pending count),
  never per request, so every gunicorn worker's counts add up; ``/metrics`` flushes its own
  process first.
- The collector computes PSI from the store at scrape time. It is served by wrapping the
  ``/metrics`` view, so it works the same with one process and with
  ``PROMETHEUS_MULTIPROC_DIR`` (where the default registry is not what ``/metrics`` reads).

A drift failure never fails a prediction: it is logged (without the payload) and skipped.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from lifecycle import drift

log = logging.getLogger("browserml")
FLUSH_SECONDS = 1.0
EXTENSION = "browserml_drift"


class DriftCounter:
    """This process's counts not yet in the store, per (model, version); flushed by a thread."""

    def __init__(self, store_of: Callable[[], Any]) -> None:
        self._store_of = store_of
        self._pending: dict[tuple[str, int], drift.Counts] = {}
        self._lock = threading.Lock()
        self._timer: tuple[int, threading.Timer] | None = None  # (pid, timer): gunicorn forks

    def add(self, model: str, version: int, counts: drift.Counts) -> None:
        """Add to the pending counts; the first pending count arms a flush FLUSH_SECONDS later."""
        if not counts:
            return
        with self._lock:
            drift.add_counts(self._pending.setdefault((model, version), {}), counts)
            if self._timer is None or self._timer[0] != os.getpid():
                # A one-shot, non-daemon timer: the interpreter waits for it at exit (so nothing
                # pending is lost), and no daemon thread is left running while ONNX Runtime's
                # native code shuts down (a sleeping daemon thread made gunicorn workers hang there).
                timer = threading.Timer(FLUSH_SECONDS, self._tick)
                timer.name = "browserml-drift-flush"
                self._timer = (os.getpid(), timer)
                timer.start()

    def _tick(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write this process's pending counts to the store (kept for the next try if it fails)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        for (model, version), counts in pending.items():
            try:
                self._store_of().add_counts(model, version, counts)
            except Exception as err:  # the store may be down: keep the counts, say so
                log.warning("drift counts of %s v%s not written to the lifecycle store: %s", model, version, err)
                with self._lock:
                    drift.add_counts(self._pending.setdefault((model, version), {}), counts)


def _store(app: Flask) -> Any:
    """The lifecycle store ``init_lifecycle`` set up (``create_app`` calls it before ``init_drift``)."""
    return app.extensions["browserml_lifecycle"]


def _counter() -> DriftCounter | None:
    return current_app.extensions.get(EXTENSION)


def observe_prediction(model: Any, sample: Any, result: Mapping[str, Any]) -> None:
    """Count one server prediction's features for ``model`` (a ``registry.ModelVersion``)."""
    counter = _counter()
    reference = model.manifest.get("drift")
    if counter is None or not reference:
        return
    try:
        observed = drift.observe_input(model.task, sample, getattr(model.assets, "tokenizer", None))
        drift.merge_into(observed, drift.observe_result(model.task, result))
        counter.add(model.name, model.version, drift.count(reference["features"], observed))
    except Exception as err:  # never fail a prediction over its drift counts
        log.warning("drift features of %s v%s not counted: %s", model.name, model.version, type(err).__name__)


def observe_runs(event: Mapping[str, Any]) -> None:
    """Count a browser ``runs`` event's top-1 labels and uncertain results."""
    counter = _counter()
    if counter is None or event.get("type") != "runs":
        return
    from app import host_state

    model = host_state().registry.resolve(event["model"], event.get("version"))
    reference = model.manifest.get("drift")
    if not reference:
        return
    features = reference["features"]
    counts: drift.Counts = {}
    if "label" in features:
        counts["label"] = {}
        for label, n in event.get("labels", {}).items():
            key = drift.bin_of(features["label"], label)
            counts["label"][key] = counts["label"].get(key, 0) + int(n)
    if "uncertain" in features:
        uncertain, results = int(event.get("uncertain", 0)), int(event.get("results", 0))
        counts["uncertain"] = {"yes": uncertain, "no": max(0, results - uncertain)}
    counter.add(model.name, model.version, {k: {b: n for b, n in v.items() if n} for k, v in counts.items() if v})


class DriftCollector:
    """``browserml_drift_psi`` and ``browserml_drift_samples`` per (model, version, feature), from the store."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        psi = GaugeMetricFamily("browserml_drift_psi", "PSI of live traffic against the version's evaluation data "
                                "(lifecycle/drift.py); 0.1 warn, 0.25 alert by default", labels=["model", "version",
                                                                                                  "feature"])
        samples = GaugeMetricFamily("browserml_drift_samples", "live values counted for the drift PSI",
                                    labels=["model", "version", "feature"])
        from app.answers import drain

        drain(self.app)  # the predictions answered so far are counted (app/answers.py's recorder)
        counter = self.app.extensions.get(EXTENSION)
        if counter is not None:
            counter.flush()
        store = _store(self.app)
        from app import HostState

        state: HostState = self.app.extensions["browserml"]
        for name in state.registry.names():
            for model in state.registry.versions(name):
                reference = model.manifest.get("drift")
                if not reference:
                    continue
                for row in drift.evaluate(reference, store.counts(model.name, model.version)):
                    labels = [model.name, str(model.version), row["feature"]]
                    psi.add_metric(labels, row["psi"])
                    samples.add_metric(labels, row["n"])
        yield psi
        yield samples


def init_drift(app: Flask) -> None:
    """Count drift in this app, and add the drift gauges to its ``/metrics`` (if served)."""
    app.extensions[EXTENSION] = DriftCounter(lambda: _store(app))
    view = app.view_functions.get("metrics.metrics")
    if view is None:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(app))

    def metrics_with_drift() -> Any:
        response = view()
        if isinstance(response, Response) and response.status_code == 200:
            try:
                response.set_data(response.get_data() + generate_latest(registry))
            except Exception as err:  # the store may be down: serve the other metrics
                log.warning("drift metrics left out of /metrics: %s", err)
        return response

    # Keep the view's markers (its scope: admin-only with METRICS=private, and its limit class).
    metrics_with_drift.__dict__.update(view.__dict__)
    app.view_functions["metrics.metrics"] = metrics_with_drift
