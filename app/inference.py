"""Server-side inference: one ONNX Runtime session per model variant per process.

Sessions are created on first use (or by ``warm_up``), under a lock so two
threads never build the same one, and then shared: ``InferenceSession.run``
is thread-safe. Pre- and post-processing are ``contract.tasks``, the same code the
conversion pipeline evaluated the variants with.

A new session must pass the version's self-check (``app.selfcheck``) before it
serves: a variant that does not reproduce its reference outputs on this host is
refused (503, with the reason), and ``server_variant`` moves to the next one.

Local sessions ask ONNX Runtime for the execution providers of ``ORT_PROVIDERS`` in order
(``parse_providers``: a name ONNX Runtime does not know is a start-up error; one this build lacks
is dropped with one warning per process; CPUExecutionProvider always last). The provider a
session got (``get_providers()[0]``) is in ``status`` and ``browserml_session_info``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np
import onnxruntime as ort

from app.batching import Batcher
from app.errors import ApiError
from app.metrics import record_session
from app.registry import ModelVersion, Registry
from app.remote import BackendError, Backends, RemoteSession, remote_session
from contract import selfcheck
from contract.native_runtime import session_options
from contract.tasks import task_module

log = logging.getLogger("browserml")

CPU = "CPUExecutionProvider"
# What to install for a provider the onnxruntime wheel in use lacks.
INSTALL = {"CUDAExecutionProvider": "onnxruntime-gpu", "TensorrtExecutionProvider": "onnxruntime-gpu",
           "OpenVINOExecutionProvider": "onnxruntime-openvino", "DmlExecutionProvider": "onnxruntime-directml",
           "QNNExecutionProvider": "onnxruntime-qnn"}
_warned: set[str] = set()  # warnings already logged by this process (one line each)
_warned_guard = threading.Lock()


def _warn_once(message: str) -> None:
    with _warned_guard:
        if message in _warned:
            return
        _warned.add(message)
    log.warning(message)


def parse_providers(value: Any) -> list[str]:
    """``ORT_PROVIDERS`` ("CUDAExecutionProvider,CPUExecutionProvider" or a list) as the providers to ask
    ONNX Runtime for, in order, CPUExecutionProvider appended when missing. ValueError, listing the
    valid names, for a name ONNX Runtime does not know, or CPUExecutionProvider before another."""
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
    elif isinstance(value, list) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value if n.strip()]
    else:
        raise ValueError(f"BROWSERML_ORT_PROVIDERS is {value!r}; give provider names separated by commas, "
                         f"e.g. CUDAExecutionProvider,{CPU}")
    names = list(dict.fromkeys(names))
    known = ort.get_all_providers()
    unknown = [n for n in names if n not in known]
    if unknown:
        import difflib

        hints = [f"{n!r} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(n, known, 1)) else repr(n)
                 for n in unknown]
        raise ValueError(f"BROWSERML_ORT_PROVIDERS names {', '.join(hints)}, which ONNX Runtime does not know; "
                         f"use names from: {', '.join(known)}")
    if CPU in names[:-1]:
        raise ValueError(f"BROWSERML_ORT_PROVIDERS puts {CPU} before {names[-1]}: {CPU} runs every operator, so "
                         f"nothing after it would run. Put {CPU} last, or leave it out (it is added last).")
    return names if names and names[-1] == CPU else [*names, CPU]


def available_providers(names: list[str]) -> tuple[list[str], str | None]:
    """``names`` without the providers this ONNX Runtime build lacks (``ort.get_available_providers()``),
    and the warning that names those and what to install (None: all are here)."""
    available = set(ort.get_available_providers())
    missing = [n for n in names if n not in available]
    kept = [n for n in names if n in available] or [CPU]
    if not missing:
        return kept, None
    wheels = sorted({INSTALL[n] for n in missing if n in INSTALL})
    how = f"install {' or '.join(wheels)} instead of onnxruntime" if wheels else "install an onnxruntime build with it"
    if len(wheels) == 1:
        how += f" (pip uninstall -y onnxruntime && pip install {wheels[0]}=={ort.__version__})"
    return kept, (f"ORT_PROVIDERS asks for {', '.join(missing)}, which this ONNX Runtime build (onnxruntime "
                  f"{ort.__version__}, providers: {', '.join(ort.get_available_providers())}) does not have: "
                  f"sessions fall back to {kept[0]}. To use {', '.join(missing)}, {how}.")


class SessionPool:
    """ONNX Runtime sessions keyed by (model, version, variant file), each self-checked once."""

    def __init__(self, threads: int = 0, remote: Backends | None = None, batcher: Batcher | None = None,
                 providers: list[str] | None = None) -> None:
        self.threads = threads  # 0: ONNX Runtime's default (all cores)
        # ONNX Runtime execution providers to ask for, in order (parse_providers), less those this build lacks;
        # that warning is logged (once per process) as the first local session loads, when the log is set up
        self.providers, self._missing = available_providers(providers or [CPU])
        self.batcher = batcher  # dynamic batching of concurrent run_outputs calls (app/batching.py); None: off
        self.remote = remote  # models whose inference runs on a V2 server (INFERENCE_URL: app/remote.py)
        self._sessions: dict[tuple[str, int, str], ort.InferenceSession | RemoteSession] = {}
        self._refused: dict[tuple[str, int, str], str] = {}  # variants that failed to load or self-check
        self._checks: dict[tuple[str, int, str], str] = {}  # what the self-check of a served variant found
        self._providers: dict[tuple[str, int, str], str] = {}  # the execution provider each session got
        self._locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def session(self, model: ModelVersion, file: str) -> ort.InferenceSession | RemoteSession:
        """The session for ``file`` of ``model``; 503 (with the reason) if it cannot load or
        does not reproduce its reference outputs on this host. A model with a remote backend gets a
        ``RemoteSession``, self-checked the same way (503, not cached, while the backend is unreachable)."""
        key = (model.name, model.version, file)
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._sessions:
                return self._sessions[key]
            if key in self._refused:
                raise ApiError(503, self._refused[key])
            started = time.perf_counter()
            backend = self.remote.backend(model.name) if self.remote else None
            where = "on this host"
            if backend is not None:
                session = remote_session(backend, model, file)
                where = f"on its remote inference backend ({backend.shown})"
            else:
                if self._missing:
                    _warn_once(self._missing)
                artifact = model.artifacts[file]
                found = artifact.changed_to()  # the registry checked it at start; it may have changed since
                if found is not None:
                    self._refuse(key, f"{model.name} v{model.version} {file} changed on disk since the host started: "
                                      f"sha256 {found[:16]}..., the manifest says {artifact.sha256[:16]}.... "
                                      "Restore the file or convert the model again (browserml convert).")
                try:
                    session = ort.InferenceSession(str(artifact.path), session_options(self.threads),
                                                   providers=self.providers)
                except Exception as err:  # ORT raises its own Fail/InvalidGraph types
                    reason = str(err).replace(str(artifact.path), file)  # no server paths in errors
                    self._refuse(key, f"{model.name} v{model.version} {file} cannot be loaded by ONNX Runtime: "
                                      f"{reason}. Convert the model again, or ask the operator.")
            verdict = self._self_check(model, file, session)
            if not verdict.passed:
                self._refuse(key, f"{model.name} v{model.version} {file} failed its self-check {where}: "
                                  f"{verdict.message}. It is not served here.")
            provider = "remote" if isinstance(session, RemoteSession) else session.get_providers()[0]
            if provider not in ("remote", self.providers[0]):  # e.g. onnxruntime-gpu without a usable GPU
                _warn_once(f"ONNX Runtime could not give sessions {self.providers[0]} here (its own log says why); "
                           f"they run on {provider}.")
            self._sessions[key] = session
            self._checks[key] = verdict.message
            self._providers[key] = provider
            record_session(model.name, model.version, file, provider)
            log.info("loaded %s v%s %s %s in %.0f ms; self-check: %s", model.name, model.version, file,
                     where if provider == "remote" else f"{where} on {provider}",
                     1000 * (time.perf_counter() - started), verdict.message)
            return session

    def _refuse(self, key: tuple[str, int, str], reason: str) -> NoReturn:
        self._refused[key] = reason
        log.error(reason)
        raise ApiError(503, reason)

    @staticmethod
    def _self_check(model: ModelVersion, file: str,
                    session: ort.InferenceSession | RemoteSession) -> selfcheck.Verdict:
        names = [o["name"] for o in model.manifest["outputs"]]
        inputs = [i["name"] for i in model.manifest["inputs"]]
        try:
            return selfcheck.run(model.manifest["self_check"], model.self_check_arrays, file,
                                 lambda feeds: session.run(names, feeds), inputs)
        except BackendError:  # an unreachable remote is no verdict: the next request tries again
            raise
        except Exception as err:  # a broken runtime may raise anything: that is a failed check
            return selfcheck.Verdict(False, f"running the reference inputs raised {type(err).__name__}: {err}")

    def server_variant(self, model: ModelVersion) -> str:
        """The variant the server runs for ``model``: its first candidate that loads and passes
        the self-check here (503 naming every refusal if none does)."""
        reasons = []
        for file in model.server_candidates:
            try:
                self.session(model, file)
                return file
            except BackendError:  # the remote is down: other variants would not help
                raise
            except ApiError as err:
                reasons.append(err.message)
        raise ApiError(503, f"no variant of {model.name} v{model.version} can serve on this host: "
                            + (" ".join(reasons) or "none passed its gates on the server."))

    def status(self, model: ModelVersion) -> dict[str, Any]:
        """What this host knows of ``model``'s server variants: the one serving (if loaded yet), its
        self-check and execution provider ("remote" on a remote backend), and every variant refused here."""
        key = (model.name, model.version)
        serving = next((f for f in model.server_candidates if (*key, f) in self._sessions), None)
        return {
            "variant": serving,
            "self_check": self._checks.get((*key, serving)) if serving else None,
            "provider": self._providers.get((*key, serving)) if serving else None,
            "refused": {f: self._refused[(*key, f)] for f in model.server_candidates if (*key, f) in self._refused},
            **self._where(model.name),
        }

    def _where(self, name: str) -> dict[str, str]:
        """Where ``name``'s inference runs: here, or a remote backend (its URL without credentials)."""
        backend = self.remote.backend(name) if self.remote else None
        return {"inference": "remote", "backend": backend.shown} if backend else {"inference": "local"}


def run_outputs(
    pool: SessionPool, model: ModelVersion, file: str, feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """Run ``file`` of ``model`` on ``feeds``; outputs in the manifest's order."""
    session = pool.session(model, file)
    names = [o["name"] for o in model.manifest["outputs"]]
    if pool.batcher is not None:
        return pool.batcher.run(session, model, file, names, feeds)
    return session.run(names, dict(feeds))


def run_task(pool: SessionPool, model: ModelVersion, file: str, sample: Any) -> tuple[dict[str, Any], float]:
    """``prepare`` -> ONNX Runtime -> ``finish``: the task result and its latency in ms."""
    task = task_module(model.task)
    started = time.perf_counter()
    try:
        feeds, context = task.prepare(sample, model.manifest, model.assets)
    except ValueError as err:
        raise ApiError(422, f"input cannot be prepared for {model.name}: {err}") from None
    outputs = run_outputs(pool, model, file, feeds)
    result = task.finish(outputs, context, model.manifest, model.assets)
    return result, 1000 * (time.perf_counter() - started)


def warm_up(registry: Registry, pool: SessionPool) -> dict[str, dict[str, Any]]:
    """Load (and self-check) the server variant of every default version.

    Returns, by model name, ``pool.status`` plus ``error`` when no variant can serve.
    """
    report = {}
    for model in registry:
        error = None
        try:
            pool.server_variant(model)
        except ApiError as err:
            error = err.message
        report[model.name] = {**pool.status(model), **({"error": error} if error else {})}
    return report
