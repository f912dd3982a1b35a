"""The host side of the lifecycle: which version a caller gets, and the admin API.

Every request that names a model without a version (the catalog's ``GET
/api/v1/models/<name>``, ``predict``, pipelines) goes through ``choose``: the model's
stable version, or its canary for the clients whose bucket falls in the canary's share
(``lifecycle/assign.py``). Callers are told which arm they got: ``lifecycle`` in the
catalog entry and manifest, ``version`` and ``arm`` in predict responses, and the
``X-Model-Version`` header.

The state is read from the shared store (``lifecycle/store.py``) at most every
``FOLLOW_SECONDS`` per process, so a promote, canary, rollback or kill switch done by
the CLI or this API on any worker reaches every worker of every process within a second,
without a restart. If the store cannot be read (Redis down), the host keeps the last
state it read and logs it once; it never fails a prediction over it.

Admin API (admin scope; the same verbs as the CLI):

- ``GET  /api/v1/admin/models/<name>``: status (versions, stable, canary, kill switch, audit)
- ``POST /api/v1/admin/models/<name>/promote`` ``{"version": N}``
- ``POST /api/v1/admin/models/<name>/canary`` ``{"version": N, "percent": P}`` (P = 0 ends it)
- ``POST /api/v1/admin/models/<name>/rollback``
- ``POST /api/v1/admin/models/<name>/fallback`` ``{"on": true|false}``
- ``GET  /api/v1/admin/audit``: the audit log, newest first
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, request

from app.auth import requires
from app.errors import ApiError
from app.inputs import json_object
from app.registry import ModelVersion, Registry
from lifecycle import aliases
from lifecycle.assign import in_canary
from lifecycle.store import Store, StoreError, fresh_state, open_store

log = logging.getLogger("browserml")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
RELOAD_SECONDS = 1.0  # at most one registry rescan per second when a state names a version not yet seen

bp = Blueprint("lifecycle", __name__, url_prefix="/api/v1/admin")


class Lifecycle:
    """The shared store, and this process's copy of its state (refreshed every FOLLOW_SECONDS)."""

    def __init__(self, store: Store, models_dir: Path) -> None:
        self.store = store
        self.models_dir = Path(models_dir)
        self._states: dict[str, dict[str, Any]] = {}
        self._read_at = -1e9
        self._reloaded_at = -1e9
        self._lock = threading.Lock()
        self._store_down = False

    def state(self, model: str) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._read_at >= aliases.FOLLOW_SECONDS:
            with self._lock:
                if now - self._read_at >= aliases.FOLLOW_SECONDS:
                    try:
                        self._states = self.store.states()
                        if self._store_down:
                            log.warning("lifecycle state readable again (%s)", self.store.where)
                        self._store_down = False
                    except StoreError as err:
                        if not self._store_down:
                            log.error("lifecycle state unreadable, keeping the last one read: %s", err)
                        self._store_down = True
                    self._read_at = now
        return self._states.get(model) or fresh_state(None)

    def version(self, registry: Registry, name: str, number: int) -> ModelVersion | None:
        """Version ``number`` of ``name`` if it is servable here (rescanning the models directory, at
        most once a second, for a version made after this process started)."""
        for attempt in (0, 1):
            try:
                model = registry.resolve(name, number)
            except ApiError:
                model = None
            if model is not None and model.passing_variants:
                return model
            now = time.monotonic()
            if attempt or now - self._reloaded_at < RELOAD_SECONDS:
                return None
            with self._lock:
                self._reloaded_at = now
                registry.reload()
        return None


def lifecycle() -> Lifecycle:
    return current_app.extensions["browserml_lifecycle_state"]


def client_id() -> str:
    """Who the caller is, for sticky arms: the key's name, else ``X-Client-ID``, else the page
    session, else the address."""
    principal = getattr(g, "principal", None)
    if principal is not None and principal.kind == "key":
        return f"key:{principal.name}"
    header = request.headers.get("X-Client-ID")
    if header is not None:
        if not CLIENT_ID.match(header):
            raise ApiError(400, "X-Client-ID must be 8 to 64 characters of A-Z a-z 0-9 . _ - "
                                "(a random id the client keeps, e.g. a UUID).")
        return f"client:{header}"
    if principal is not None:
        return principal.name
    return f"addr:{request.remote_addr}"


def choose(registry: Registry, name: str, version: str | int | None = None) -> tuple[ModelVersion, str]:
    """The version this caller gets, and its arm: "pinned" (asked for one), "canary" or "stable"."""
    if version not in (None, ""):
        return registry.resolve(name, version), "pinned"
    registry.versions(name)  # 404 for an unknown model
    state = lifecycle().state(name)
    if state["canary"] is not None and in_canary(name, int(state["canary"]), float(state["percent"]), client_id()):
        model = lifecycle().version(registry, name, int(state["canary"]))
        if model is not None:
            return model, "canary"
    if state["stable"] is not None:
        model = lifecycle().version(registry, name, int(state["stable"]))
        if model is not None:
            return model, "stable"
        log.error("%s: stable alias v%s is not servable here; serving the newest passing version",
                  name, state["stable"])
    return registry.resolve(name), "stable"


def describe(name: str, arm: str) -> dict[str, Any]:
    """The ``lifecycle`` block of catalog entries: the caller's arm, the aliases, the kill switch."""
    state = lifecycle().state(name)
    return {"arm": arm, "stable": state["stable"], "canary": state["canary"], "percent": state["percent"],
            "fallback": bool(state["fallback"])}


def switched_off(name: str) -> bool:
    """Whether the operator turned on the kill switch of ``name`` (browserml fallback NAME on)."""
    return bool(lifecycle().state(name)["fallback"])


def init_lifecycle(app: Flask) -> None:
    config = app.config
    store = open_store(config["MODELS_DIR"], config.get("LIFECYCLE_DB"), config.get("REDIS_URL"))
    app.extensions["browserml_lifecycle"] = store
    app.extensions["browserml_lifecycle_state"] = Lifecycle(store, Path(config["MODELS_DIR"]))

    @app.after_request
    def name_the_version(response: Any) -> Any:
        served = getattr(g, "served", None)
        if served and served.get("version") is not None:
            response.headers["X-Model-Version"] = str(served["version"])
        return response


# --- The admin API ------------------------------------------------------------------------------

def _actor() -> str:
    principal = getattr(g, "principal", None)
    return principal.name if principal is not None else f"anonymous@{request.remote_addr} (auth off)"


def _act(name: str, verb: Any, *args: Any) -> dict[str, Any]:
    """Do ``verb(store, models_dir, name, *args)``; answer the model's status after it."""
    state = lifecycle()
    try:
        verb(state.store, state.models_dir, name, *args)
        return aliases.status(state.store, state.models_dir, name)
    except aliases.LifecycleError as err:
        raise ApiError(err.status, str(err)) from None
    except StoreError as err:
        raise ApiError(503, f"{err}; try again when the state store is back.") from None


def _body(*allowed: str) -> dict[str, Any]:
    body = json_object(request) if request.content_length else {}
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(422, f"unknown field(s) {', '.join(unknown)}; this route takes: {', '.join(allowed) or 'none'}.")
    return body


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, f"{key!r} must be an integer version number, e.g. {{\"{key}\": 3}}.")
    return value


@bp.get("/models/<name>")
@requires("admin")
def status(name: str) -> dict[str, Any]:
    state = lifecycle()
    try:
        return aliases.status(state.store, state.models_dir, name)
    except aliases.LifecycleError as err:
        raise ApiError(err.status, str(err)) from None
    except StoreError as err:
        raise ApiError(503, f"{err}; try again when the state store is back.") from None


@bp.post("/models/<name>/promote")
@requires("admin")
def promote(name: str) -> dict[str, Any]:
    version = _int(_body("version"), "version")
    return _act(name, aliases.promote, version, _actor())


@bp.post("/models/<name>/canary")
@requires("admin")
def canary(name: str) -> dict[str, Any]:
    body = _body("version", "percent")
    percent = body.get("percent")
    if not isinstance(percent, (int, float)) or isinstance(percent, bool):
        raise ApiError(422, "'percent' must be a number from 0 to 100 (0 ends the canary).")
    return _act(name, aliases.canary, _int(body, "version"), float(percent), _actor())


@bp.post("/models/<name>/rollback")
@requires("admin")
def rollback(name: str) -> dict[str, Any]:
    _body()
    return _act(name, aliases.rollback, _actor())


@bp.post("/models/<name>/fallback")
@requires("admin")
def fallback(name: str) -> dict[str, Any]:
    on = _body("on").get("on")
    if not isinstance(on, bool):
        raise ApiError(422, "'on' must be true (answer with the fallback) or false (the model answers again).")
    return _act(name, aliases.fallback, on, _actor())


@bp.get("/audit")
@requires("admin")
def audit() -> dict[str, Any]:
    try:
        return {"audit": lifecycle().store.audit(request.args.get("model"), limit=500)}
    except StoreError as err:
        raise ApiError(503, f"{err}; try again when the state store is back.") from None
