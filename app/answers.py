"""A model prediction's answer and what is recorded for it, shared by sync predict
(``app/predict.py``) and async jobs (``app/jobs.py``): the same body, the same drift counts,
metrics and stored prediction (for feedback), whichever path computed the result.

Metrics are counted before the answer leaves. The drift features (which look at the input again)
and the stored prediction (a database insert) are left to the ``Recorder``: one thread per process
that takes them from a queue, in batches (one insert for everything queued meanwhile), so the
caller does not wait for them. They are written within milliseconds; whatever reads them drains
the queue first (``/metrics``' drift gauges, ``POST /api/v1/feedback``), and the thread, not a
daemon, finishes the queue before the process exits (a ``kill -9`` loses what is queued).

The same thread deletes old predictions without feedback (``PREDICTION_DAYS``; feedback on one
then gets a 404): the first batch a process records starts a purge, and so does the first batch
``PURGE_EVERY_SECONDS`` after the previous one started. A purge deletes ``PURGE_CHUNK`` rows per
transaction (``FeedbackDB.purge_chunks``), one chunk after each batch it records, so predictions
keep being recorded and the database's write lock is never held long. Its errors are logged and
it tries again at the next purge.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app

from app.drift import observe_prediction
from app.feedback import top_label
from app.metrics import record_prediction
from app.registry import ModelVersion

log = logging.getLogger("browserml")
EXTENSION = "browserml_recorder"
IDLE_SECONDS = 1.0  # the recorder's thread ends after this long without work (a new one starts on demand)
PURGE_EVERY_SECONDS = 3600.0  # each process purges old predictions at most this often
PURGE_CHUNK = 10_000  # predictions deleted per transaction


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
    """Metrics now (``latency_ms`` None: not timed, e.g. a cache hit); drift counts and the stored
    prediction feedback refers to, by the app's ``Recorder``. Needs an app context."""
    seconds = None if latency_ms is None else latency_ms / 1000
    record_prediction(spec.model, spec.version, spec.variant, seconds, result)
    recorder: Recorder = current_app.extensions[EXTENSION]
    recorder.put((model, spec, sample, result))


Item = tuple[ModelVersion, Spec, Any, dict[str, Any]]


class Recorder:
    """A queue of answered predictions and the thread that records them (see the module's doc)."""

    def __init__(self, app: Flask, write: Callable[[list[Item]], None] | None = None) -> None:
        self.app = app
        self._write = write or _write
        self._queue: list[Item] = []
        self._busy = False
        self._cond = threading.Condition()
        self._thread: tuple[int, threading.Thread] | None = None  # (pid, thread): gunicorn forks
        self._days = prediction_days(app.config.get("PREDICTION_DAYS"))
        self._purge: Iterator[int] | None = None  # a purge under way: one chunk after each batch
        self._purged = 0  # rows the purge under way has deleted
        self._last_purge: float | None = None  # time.monotonic() when this process last started one

    def put(self, item: Item) -> None:
        with self._cond:
            self._queue.append(item)
            if self._thread is None or self._thread[0] != os.getpid() or not self._thread[1].is_alive():
                thread = threading.Thread(target=self._run, name="browserml-recorder")
                self._thread = (os.getpid(), thread)
                thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is recorded (False if that took over ``timeout`` s)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: bool(self._queue) or self._purge is not None, IDLE_SECONDS):
                    self._thread = None
                    return
                batch, self._queue, self._busy = self._queue, [], True
            try:
                with self.app.app_context():
                    if batch:
                        self._write(batch)
                    self._purge_chunk()
            except Exception as err:  # never let a recording failure end the thread with work queued
                log.warning("%d predictions not recorded: %s", len(batch), type(err).__name__)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _purge_chunk(self) -> None:
        """Delete one chunk of old predictions without feedback, starting a purge if one is due."""
        from app.feedback import feedback_db

        if self._purge is None:
            now = time.monotonic()
            if not self._days or (self._last_purge is not None and now - self._last_purge < PURGE_EVERY_SECONDS):
                return
            self._last_purge = now
            before = datetime.now(UTC) - timedelta(days=self._days)
            self._purge, self._purged = feedback_db().purge_chunks(before, PURGE_CHUNK), 0
        try:
            deleted = next(self._purge, None)
        except Exception as err:  # the predictions are recorded all the same; the next purge tries again
            log.warning("feedback: old predictions not purged (%s)", type(err).__name__)
            self._purge = None
            return
        if deleted is None:
            if self._purged:
                log.info("feedback: purged %d predictions older than %g days without feedback",
                         self._purged, self._days)
            self._purge = None
        else:
            self._purged += deleted


def prediction_days(value: Any) -> float | None:
    """``PREDICTION_DAYS`` checked: a number of days >= 0; None (and 0): keep every prediction."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value >= 0):
        return value or None
    raise ValueError(f"BROWSERML_PREDICTION_DAYS is {value!r}; give a number of days >= 0 "
                     "(0 or null: keep every prediction)")


def _write(batch: list[Item]) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from app.feedback import feedback_db

    for model, _spec, sample, result in batch:
        observe_prediction(model, sample, result)  # logs and skips on its own failures
    rows = [{"request_id": spec.request_id, "model": spec.model, "version": spec.version, "variant": spec.variant,
             "label": top_label(result), "source": "server"} for _model, spec, _sample, result in batch]
    try:
        feedback_db().record_predictions(rows)
    except SQLAlchemyError as err:  # the predictions were answered: feedback on them will 404
        log.warning("feedback: %d predictions of %s not recorded (%s)", len(rows),
                    ", ".join(sorted({str(r["model"]) for r in rows})), type(err).__name__)


def drain(app: Flask) -> None:
    """Record what ``app``'s recorder has queued, before reading what it writes."""
    recorder = app.extensions.get(EXTENSION)
    if recorder is not None and not recorder.drain():
        log.warning("the prediction recorder is more than 10 s behind")


def init_recorder(app: Flask) -> None:
    app.extensions[EXTENSION] = Recorder(app)
