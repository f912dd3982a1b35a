"""The lifecycle verbs: promote, canary, rollback, fallback, status.

The CLI (``browserml promote ...``) and the admin API (``/api/v1/admin/models/<name>/...``)
both call these; they check the version against the models directory (it must exist, be
intact and have a variant that passed its gates), then change the shared state in one
transaction with an audit entry. A running host follows within a second
(``app/lifecycle.py`` reads the state every ``FOLLOW_SECONDS``).

``stable`` None means "the newest version that passed its gates" (the behaviour before
any promote). Rollback returns to the stable before the last promote; the history is a
stack, so rollbacks can go back several steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.manifest import ManifestError, passes
from contract.versions import check_intact, version_dirs
from lifecycle.store import Store

FOLLOW_SECONDS = 0.5  # how long a host may use a state it read (every worker follows within 1 s)
HISTORY_KEEP = 20


class LifecycleError(Exception):
    """A verb that cannot be done; the message says why and what to do. ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def servable_versions(models_dir: Path, model: str) -> list[int]:
    """Versions of ``model`` that are intact and have a variant that passed its gates, oldest first."""
    out = []
    for directory in version_dirs(Path(models_dir), model):
        try:
            manifest = check_intact(directory)
        except (ManifestError, OSError, ValueError):
            continue
        if any(passes(v, b) for v in manifest["variants"] for b in v["backends"]):
            out.append(int(manifest["version"]))
    return out


def _known(models_dir: Path, model: str) -> None:
    if not version_dirs(Path(models_dir), model):
        raise LifecycleError(f"unknown model {model!r} in {models_dir}; see: browserml models list", 404)


def _check(models_dir: Path, model: str, version: int) -> list[int]:
    _known(models_dir, model)
    servable = servable_versions(models_dir, model)
    if version not in servable:
        raise LifecycleError(f"{model} has no servable version {version} (intact, with a variant that passed its "
                             f"gates); servable versions: {', '.join(map(str, servable)) or 'none'}", 404)
    return servable


def effective(state: dict[str, Any], servable: list[int]) -> int | None:
    """The stable version in effect: the alias, else the newest servable version."""
    if state["stable"] is not None:
        return int(state["stable"])
    return servable[-1] if servable else None


def promote(store: Store, models_dir: Path, model: str, version: int, actor: str) -> dict[str, Any]:
    """Make ``version`` the stable one (a canary of that version ends: it is now everyone's)."""
    servable = _check(models_dir, model, version)

    def change(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        before = effective(state, servable)
        if before == version and state["stable"] is not None and state["canary"] != version:
            raise LifecycleError(f"{model} v{version} is already stable")
        history = [*state["history"], before][-HISTORY_KEEP:] if before not in (None, version) else state["history"]
        canary = None if state["canary"] == version else state["canary"]
        new = {**state, "stable": version, "history": history, "canary": canary,
               "percent": state["percent"] if canary is not None else 0.0}
        return new, {"action": "promote", "from_version": before, "to_version": version}

    return store.change(model, actor, change)


def canary(store: Store, models_dir: Path, model: str, version: int, percent: float, actor: str) -> dict[str, Any]:
    """Send ``percent`` % of clients (sticky: ``lifecycle/assign.py``) to ``version``; 0 ends the canary."""
    if not 0 <= percent <= 100:
        raise LifecycleError(f"--percent must be between 0 and 100, not {percent}", 422)
    servable = _check(models_dir, model, version)

    def change(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        stable = effective(state, servable)
        if percent > 0 and version == stable:
            raise LifecycleError(f"{model} v{version} is the stable version; a canary must be another version")
        before = state["canary"]
        new = {**state, "canary": version if percent > 0 else None, "percent": float(percent) if percent > 0 else 0.0}
        return new, {"action": "canary" if percent > 0 else "end-canary", "from_version": before,
                     "to_version": version, "detail": {"percent": float(percent)}}

    return store.change(model, actor, change)


def rollback(store: Store, models_dir: Path, model: str, actor: str) -> dict[str, Any]:
    """Back to the stable version before the last promote (and end any canary)."""
    _known(models_dir, model)
    servable = servable_versions(models_dir, model)

    def change(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        history = list(state["history"])
        while history and history[-1] not in servable:
            history.pop()  # a version removed since cannot be returned to
        if not history:
            raise LifecycleError(f"{model} has no previous stable version to roll back to "
                                 "(promote a version first: browserml promote NAME VERSION)")
        target = history.pop()
        before = effective(state, servable)
        new = {**state, "stable": target, "history": history, "canary": None, "percent": 0.0}
        return new, {"action": "rollback", "from_version": before, "to_version": target,
                     "detail": {"ended_canary": state["canary"]} if state["canary"] is not None else {}}

    return store.change(model, actor, change)


def fallback(store: Store, models_dir: Path, model: str, on: bool, actor: str) -> dict[str, Any]:
    """The kill switch: server and browser answer with the model's non-ML fallback, or "unavailable"."""
    _known(models_dir, model)

    def change(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return {**state, "fallback": bool(on)}, {"action": "fallback-on" if on else "fallback-off",
                                                  "detail": {"fallback": bool(on)}}

    return store.change(model, actor, change)


def status(store: Store, models_dir: Path, model: str) -> dict[str, Any]:
    """What the host serves for ``model``: versions, stable (and whether by alias), canary, kill switch."""
    _known(models_dir, model)
    state = store.state(model)
    servable = servable_versions(models_dir, model)
    return {
        "model": model,
        "versions": [int(d.name) for d in version_dirs(Path(models_dir), model)],
        "servable": servable,
        "stable": effective(state, servable),
        "stable_pinned": state["stable"] is not None,
        "previous": state["history"][-1] if state["history"] else None,
        "canary": state["canary"],
        "percent": state["percent"],
        "fallback": state["fallback"],
        "audit": store.audit(model, limit=20),
    }
