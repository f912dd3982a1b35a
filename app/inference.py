"""Server-side inference: one ONNX Runtime session per model variant per process.

Sessions are created on first use (or by ``warm_up``), under a lock so two
threads never build the same one, and then shared: ``InferenceSession.run``
is thread-safe. Pre- and post-processing are ``app.tasks``, the same code the
conversion pipeline evaluated the variants with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

from app.errors import ApiError
from app.registry import ModelVersion, Registry
from app.tasks import task_module

log = logging.getLogger("browserml")


class SessionPool:
    """ONNX Runtime sessions keyed by (model, version, variant file)."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads  # 0: ONNX Runtime's default (all cores)
        self._sessions: dict[tuple[str, int, str], ort.InferenceSession] = {}
        self._locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def session(self, model: ModelVersion, file: str) -> ort.InferenceSession:
        """The session for ``file`` of ``model``; 503 (with the reason) if it cannot load."""
        key = (model.name, model.version, file)
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._sessions:
                return self._sessions[key]
            artifact = model.artifacts[file]
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            started = time.perf_counter()
            try:
                session = ort.InferenceSession(str(artifact.path), options, providers=["CPUExecutionProvider"])
            except Exception as err:  # ORT raises its own Fail/InvalidGraph types
                reason = f"{model.name} v{model.version} {file} cannot be loaded by ONNX Runtime: {err}"
                log.error(reason)
                raise ApiError(503, reason + " Convert the model again, or ask the operator.") from None
            self._sessions[key] = session
            log.info("loaded %s v%s %s in %.0f ms", model.name, model.version, file,
                     1000 * (time.perf_counter() - started))
            return session


def run_outputs(
    pool: SessionPool, model: ModelVersion, file: str, feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """Run ``file`` of ``model`` on ``feeds``; outputs in the manifest's order."""
    session = pool.session(model, file)
    names = [o["name"] for o in model.manifest["outputs"]]
    return session.run(names, dict(feeds))


def run_task(pool: SessionPool, model: ModelVersion, file: str, sample: Any) -> tuple[dict[str, Any], float]:
    """``prepare`` -> ONNX Runtime -> ``finish``: the task result and its latency in ms."""
    task = task_module(model.task)
    manifest = model.task_manifest
    started = time.perf_counter()
    try:
        feeds, context = task.prepare(sample, manifest)
    except ValueError as err:
        raise ApiError(422, f"input cannot be prepared for {model.name}: {err}") from None
    outputs = run_outputs(pool, model, file, feeds)
    result = task.finish(outputs, context, manifest)
    return result, 1000 * (time.perf_counter() - started)


def warm_up(registry: Registry, pool: SessionPool) -> dict[str, str]:
    """Load the server variant of every default version; return failures by model name."""
    failures = {}
    for model in registry:
        try:
            pool.session(model, model.server_variant)
        except ApiError as err:
            failures[model.name] = err.message
    return failures
