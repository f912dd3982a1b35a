"""One JSON line per request, instead of Werkzeug's and gunicorn's access lines.

Each line has a request id (taken from a well-formed ``X-Request-ID`` header, else
made here, and returned as ``X-Request-ID``), the method, the route pattern, the
model, version and variant that answered (when one did), the status, the latency and
the name of the key or page session. Never the key itself, never a payload: no
image bytes, no text, no query string. ``BROWSERML_LOG_LEVEL`` sets the level.

Every response also carries ``Server-Timing`` (the W3C header browsers' developer tools and
``PerformanceResourceTiming.serverTiming`` read): ``app`` is the time inside the app, from the
first to the last hook, and views add their own steps with ``timing`` (predict: ``input``, reading
and decoding the upload; ``cache``, hashing the input and the lookup; ``infer``, prepare + ONNX
Runtime + finish, absent on a cache hit).
``bench/bench_predict.py`` reads it to tell the host's own cost from the model's.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, g, request
from werkzeug.wrappers import Response

log = logging.getLogger("browserml.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}`` per record, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure_logging(level: str) -> None:
    """The host's loggers write JSON lines to stderr at ``level``; Werkzeug's access lines go."""
    handler = logging.StreamHandler(sys.stderr)  # the stderr of now (a test may have replaced it)
    handler.setFormatter(JsonFormatter())
    for name in ("browserml", "browserml.request"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h.formatter, JsonFormatter)] + [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its per-request lines are replaced here


def served(model: str, version: int, variant: str | None) -> None:
    """Record which model version and variant answered this request (for the log and metrics)."""
    g.served = {"model": model, "version": version, "variant": variant}


def timing(step: str, ms: float) -> None:
    """Report ``step`` (a token: letters, digits, ``-``/``_``) as taking ``ms`` in ``Server-Timing``."""
    g.setdefault("timings", []).append(f"{step};dur={ms:.3f}")


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = getattr(g, "started", None)
    latency = round(1000 * (time.perf_counter() - started), 3) if started else None
    response.headers["X-Request-ID"] = getattr(g, "request_id", "")
    if latency is not None:
        response.headers["Server-Timing"] = ", ".join([*g.get("timings", []), f"app;dur={latency:.3f}"])
    principal = getattr(g, "principal", None)
    fields: dict[str, Any] = {
        "request_id": getattr(g, "request_id", None),
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule else None,
        "status": response.status_code,
        "latency_ms": latency,
        "caller": principal.name if principal is not None else None,
        **getattr(g, "served", {}),
    }
    log.info("request", extra={"fields": fields})
    return response


def init_request_log(app: Flask) -> None:
    configure_logging(str(app.config["LOG_LEVEL"]))
    app.before_request(_start)
    app.after_request(_finish)
