"""JSON errors: every failure answers ``{"error": "<what is wrong and what to do>"}``.

Bad input never reaches a stack trace: handlers turn ``ApiError`` and
werkzeug's HTTP exceptions into JSON with the right status, and anything
unexpected into a 500 that names a request id (the traceback stays in the log).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger("browserml")


class ApiError(Exception):
    """An error the client can act on: ``status`` and a message saying what to do."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def _limit_text(limit: int | None) -> str:
    return f"{limit / 1_000_000:g} MB" if limit else "the configured"


def _http_message(err: HTTPException) -> str:
    """A message for werkzeug's own errors that says what to do next."""
    if err.code == 404:
        return f"no such route: {request.method} {request.path}. The API is listed at /api/v1/models and /v2."
    if err.code == 405 and isinstance(err, MethodNotAllowed):
        methods = set(err.valid_methods or []) - {"OPTIONS", "HEAD"}
        allowed = " or ".join(sorted(methods))
        return f"{request.method} is not allowed on {request.path}; use {allowed}."
    if err.code == 413:
        from flask import current_app

        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return (
            f"the request body is larger than the {_limit_text(limit)} upload limit; "
            "send a smaller file (downscale the image) or raise BROWSERML_MAX_CONTENT_LENGTH."
        )
    if err.code == 400:
        return f"malformed request: {err.description}"
    return err.description or err.name


def register_error_handlers(app: Flask) -> None:
    """Answer every error as JSON."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> tuple[Response, int, dict[str, str]]:
        return jsonify({"error": err.message, **err.extra}), err.status, err.headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        response = jsonify({"error": _http_message(err)})
        response.status_code = err.code or 500
        if err.code == 405 and isinstance(err, MethodNotAllowed) and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[Response, int]:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", incident, request.method, request.path)
        return jsonify({"error": f"internal error (incident {incident}); the server log has the details."}), 500
