"""Who may call what: API keys for programs, a session cookie for the host's own pages.

``BROWSERML_AUTH=off`` (the default, for local use) lets everyone in. With
``BROWSERML_AUTH=keys`` a route marked ``@requires("predict")`` (the task API, the
pipelines, V2 infer) or ``@requires("admin")`` needs one of:

- ``Authorization: Bearer <key>``: a key from ``browserml keys create`` (``app/keys.py``);
  an admin key may do everything a predict key may. A missing or unknown key gets 401
  saying how to authenticate; the wrong scope gets 403.
- the page session: a key baked into JavaScript would be public, so the host gives its
  own pages something else. Every page load (``/``) sets ``browserml_session``, a signed
  (HMAC, the app's secret key), short-lived (``SESSION_TTL`` seconds, renewed by each page
  load), ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/api/`` and ``/v2/``,
  carrying the predict scope and a random session id. SameSite=Strict keeps other sites'
  pages from using it; HttpOnly keeps scripts (and injected ones) from reading it; the
  session id is what the rate limiter counts, so one browser cannot take more than a
  session's share.

Public stays public: pages, ``/lib``, artifacts, the catalog, health and metadata.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from app.errors import ApiError
from app.keys import KeyStore, Principal

COOKIE = "browserml_session"
AUTH_MODES = ("off", "keys")
HOWTO = ("send 'Authorization: Bearer <key>' (an operator creates one with: browserml keys create "
         "--name NAME --scope predict), or use this host's own pages, which carry a session")

F = TypeVar("F", bound=Callable[..., Any])


def view_marker(attribute: str, value: str) -> Callable[[F], F]:
    """A decorator that sets ``view.<attribute> = value`` (read back from ``app.view_functions``)."""

    def mark(view: F) -> F:
        setattr(view, attribute, value)
        return view

    return mark


def requires(scope: str) -> Callable[[F], F]:
    """Mark a view as needing ``scope`` when auth is on (and as that rate-limit class)."""
    return view_marker("browserml_scope", scope)


def scope_of(endpoint: str | None) -> str | None:
    """The scope the view behind ``endpoint`` needs (None: public)."""
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "browserml_scope", None)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="browserml-session")


def session_principal() -> Principal | None:
    """The page session of this request, if its cookie is valid and fresh."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        data = _serializer().loads(token, max_age=int(current_app.config["SESSION_TTL"]))
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("scope") != "predict" or not isinstance(data.get("sid"), str):
        return None
    return Principal(f"session:{data['sid'][:12]}", "predict", "session")


def issue_session(response: Response) -> Response:
    """Give a page its session cookie (when auth is on)."""
    if current_app.config["AUTH"] != "keys":
        return response
    token = _serializer().dumps({"sid": secrets.token_urlsafe(16), "scope": "predict"})
    for path in ("/api/", "/v2/"):
        response.set_cookie(COOKIE, token, max_age=int(current_app.config["SESSION_TTL"]), path=path,
                            httponly=True, samesite="Strict", secure=request.is_secure)
    return response


def check_request() -> None:
    """``before_request``: authenticate, then authorise against the view's scope."""
    g.principal = None
    scope = scope_of(request.endpoint)
    header = request.headers.get("Authorization", "")
    store: KeyStore = current_app.extensions["browserml_keys"]
    if header.startswith("Bearer "):
        g.principal = store.verify(header[len("Bearer "):].strip())
        if g.principal is None and scope is not None and current_app.config["AUTH"] == "keys":
            raise ApiError(401, f"this API key is unknown or revoked; {HOWTO}.",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if g.principal is None:
        g.principal = session_principal()
    if scope is None or current_app.config["AUTH"] != "keys":
        return
    if g.principal is None:
        raise ApiError(401, f"{request.path} needs an API key with the {scope} scope; {HOWTO}.",
                       headers={"WWW-Authenticate": "Bearer"})
    if not g.principal.allows(scope):
        raise ApiError(403, f"the key {g.principal.name!r} has the {g.principal.scope} scope; "
                            f"{request.path} needs {scope}. Ask the operator for a {scope} key.")


def secret_key(app: Flask) -> str:
    """``SECRET_KEY`` from config, else one kept in the instance folder (shared by every
    worker of the host; created once, mode 0600)."""
    configured = app.config.get("SECRET_KEY")
    if configured:
        return str(configured)
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def keys_file(app: Flask) -> Path:
    """``KEYS_FILE`` from config, else ``instance/keys.json``."""
    return Path(app.config.get("KEYS_FILE") or Path(app.instance_path) / "keys.json")


def init_auth(app: Flask) -> None:
    mode = str(app.config["AUTH"])
    if mode not in AUTH_MODES:
        raise ValueError(f"BROWSERML_AUTH is {mode!r}; use one of: {', '.join(AUTH_MODES)}")
    app.secret_key = secret_key(app)
    app.extensions["browserml_keys"] = KeyStore(keys_file(app))
    app.before_request(check_request)
