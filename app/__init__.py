"""browserml host: serves verified ONNX artifacts and answers server-side.

``create_app(config)`` is the Flask app factory (gunicorn: ``'app:create_app()'``).
``contract.tasks`` holds the reference pre/post-processing shared by the conversion
pipeline's evaluation and the server fallback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.auth import init_auth
from app.batching import Batcher
from app.config import DEFAULTS
from app.drift import init_drift
from app.errors import register_error_handlers
from app.headers import register_security_headers
from app.inference import SessionPool, parse_providers, warm_up
from app.lifecycle import init_lifecycle
from app.limits import init_limits
from app.metrics import init_metrics
from app.registry import Registry
from app.remote import backends_from_config
from app.request_log import init_request_log


@dataclass
class HostState:
    """What the blueprints share: the registry and the ONNX Runtime sessions."""

    registry: Registry
    pool: SessionPool


def host_state() -> HostState:
    """The registry and sessions of the app handling the current request."""
    from flask import current_app

    return current_app.extensions["browserml"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the host app; ``config`` overrides ``app.config.DEFAULTS`` and ``BROWSERML_*`` env vars."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("BROWSERML")
    if config:
        app.config.from_mapping(config)
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own provider, the only one set here
        app.json.sort_keys = False
    if int(app.config["PROXIES"]) > 0:  # trust X-Forwarded-For/-Proto from that many proxies
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    state = HostState(Registry(Path(app.config["MODELS_DIR"])),
                      SessionPool(int(app.config["ORT_THREADS"]), remote=backends_from_config(app.config),
                                  batcher=Batcher.from_config(app.config),
                                  providers=parse_providers(app.config["ORT_PROVIDERS"])))
    app.extensions["browserml"] = state

    from app import admin, artifacts, catalog, feedback, jobs, lifecycle, openapi, pages, predict, telemetry, v2

    for module in (artifacts, catalog, predict, jobs, feedback, telemetry, v2, lifecycle, admin, openapi, pages):
        app.register_blueprint(module.bp)
    register_error_handlers(app)
    register_security_headers(app)
    # Order matters: the request id and timing first, then metrics, then who is calling,
    # then the rate limits (which count by caller).
    init_request_log(app)
    init_metrics(app)
    init_auth(app)
    init_limits(app)
    init_lifecycle(app)
    init_drift(app)  # after init_metrics: adds browserml_drift_psi to /metrics
    from app.answers import init_recorder  # imports the blueprints' modules, as the line above them does

    init_recorder(app)  # drift counts and stored predictions, off the request path (app/answers.py)

    if app.config["WARM_UP"]:
        threading.Thread(target=warm_up, args=(state.registry, state.pool), daemon=True).start()
    return app
