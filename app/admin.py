"""``/admin``: what an operator needs on one page, per model: versions and traffic (stable,
canary and its share, kill switch), the drift of the versions in traffic (reference against
live distributions, PSI and verdict per feature, as bar charts), and the audit log.

Admin scope. A browser cannot send ``Authorization`` on a navigation, so with
``BROWSERML_AUTH=keys`` the page asks for an admin key once (``POST /admin/login``) and
keeps a signed, ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/admin`` carrying
the key's name (never the key) for ``SESSION_TTL`` seconds. The page is read-only: the
verbs are the CLI and the admin API (``app/lifecycle.py``), which are audited.
Server-rendered HTML with inline SVG: no script, so the strict CSP holds.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from app import host_state
from app.keys import KeyStore
from app.lifecycle import lifecycle
from lifecycle import aliases, drift
from lifecycle.store import StoreError

bp = Blueprint("admin", __name__)
COOKIE = "browserml_admin"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="browserml-admin")


def _admin_name() -> str | None:
    """The admin this request acts for: anyone with auth off; else an admin bearer key or cookie."""
    if current_app.config["AUTH"] != "keys":
        return "anyone (auth off)"
    principal = getattr(g, "principal", None)
    if principal is not None and principal.kind == "key" and principal.allows("admin"):
        return str(principal.name)
    token = request.cookies.get(COOKIE)
    if token:
        try:
            data = _serializer().loads(token, max_age=int(current_app.config["SESSION_TTL"]))
        except BadSignature:
            return None
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return data["name"]
    return None


def _bars(spec: dict[str, Any], live: dict[str, int]) -> dict[str, Any]:
    """Reference and live shares per bin, and the SVG geometry of their paired bars."""
    names = drift.bin_names(spec)
    total = sum(live.get(b, 0) for b in names)
    rows = []
    for i, (name, expected) in enumerate(zip(names, spec["proportions"])):
        actual = live.get(name, 0) / total if total else 0.0
        if "categories" in spec:
            label = name
        else:
            edges = spec["edges"]
            low = f"{edges[i - 1]:g}" if i > 0 else "-inf"
            high = f"{edges[i]:g}" if i < len(edges) else "+inf"
            label = f"({low}, {high}]"
        rows.append({"label": label, "expected": float(expected), "actual": actual})
    return {"rows": rows, "n": total}


def _version_view(model: Any, role: str, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    reference = model.manifest.get("drift")
    view: dict[str, Any] = {"version": model.version, "role": role, "features": []}
    if not reference:
        view["note"] = "no drift reference in this version's manifest (converted before drift existed)"
        return view
    by_feature = {row["feature"]: row for row in drift.evaluate(reference, counts)}
    for name, spec in reference["features"].items():
        row = by_feature.get(name, {"psi": None, "verdict": "no live data", "n": 0})
        view["features"].append({"name": name, "kind": spec["kind"], **row,
                                 **_bars(spec, counts.get(name, {}))})
    view["thresholds"] = (reference["psi_warn"], reference["psi_alert"])
    return view


@bp.get("/admin")
def admin_page() -> Response | tuple[str, int] | str:
    who = _admin_name()
    if who is None:
        return render_template("admin_login.html", error=None), 401
    state = host_state()
    life = lifecycle()
    models: list[dict[str, Any]] = []
    for name in state.registry.names():
        try:
            status = aliases.status(life.store, life.models_dir, name)
        except (aliases.LifecycleError, StoreError) as err:
            models.append({"name": name, "error": str(err)})
            continue
        versions = []
        for role, number in (("stable", status["stable"]), ("canary", status["canary"])):
            if number is None:
                continue
            model = life.version(state.registry, name, int(number))
            if model is None:
                continue
            try:
                counts = life.store.counts(name, model.version)
            except StoreError:
                counts = {}
            versions.append(_version_view(model, role, counts))
        models.append({"name": name, "status": status, "versions": versions})
    return render_template("admin.html", who=who, models=models)


@bp.post("/admin/login")
def login() -> Response | tuple[str, int]:
    """An admin key from the form -> the admin cookie (the key itself is never stored or echoed)."""
    key = request.form.get("key", "").strip()
    keys: KeyStore = current_app.extensions["browserml_keys"]
    principal = keys.verify(key) if key else None
    if principal is None or not principal.allows("admin"):
        why = ("that key is unknown or revoked" if principal is None
               else f"the key {principal.name!r} is not an admin key")
        return render_template("admin_login.html", error=f"{why}; create one with: browserml keys create "
                                                          "--name NAME --scope admin"), 401
    response = make_response(redirect("/admin", code=303))
    response.set_cookie(COOKIE, _serializer().dumps({"name": principal.name}), path="/admin",
                        max_age=int(current_app.config["SESSION_TTL"]), httponly=True, samesite="Strict",
                        secure=request.is_secure)
    return response
