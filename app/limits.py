"""Rate limits (flask-limiter), per route class and per caller.

Route classes: ``predict`` (the task API, pipelines and V2 infer: views marked
``@requires("predict")``), ``admin`` (``@requires("admin")``), ``telemetry`` (browser
reports) and ``public`` (everything else). Each class has one budget per caller,
shared by every route of the class, set by ``BROWSERML_RATE_LIMIT_<CLASS>`` in
flask-limiter's syntax (``"20/second"``, ``"600 per minute; 20/second"``); unset means
no limit. Only predict (and telemetry, which browsers send unasked) are limited by
default (``app/config.py``).

The caller is the API key's name, else the page session, else the client address
(behind a proxy, set ``BROWSERML_PROXIES`` so the address is the client's). Counters
live in memory (one process) or, with ``BROWSERML_REDIS_URL``, in Redis, so every
worker of every host shares them. If Redis goes down, each process falls back to counting
in memory with the same limits (per process, so N workers allow up to N times the budget)
until Redis answers again: no request fails over it. Over the limit: 429 JSON naming the limit, with
``Retry-After`` and the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask_limiter import Limiter

from app.auth import scope_of, view_marker

CLASSES = ("predict", "admin", "telemetry", "public")
UNLIMITED = "1000000000/second"  # stands in for "no limit"; such a class is exempt anyway


def route_class(endpoint: str | None) -> str:
    """The class of the view behind ``endpoint``."""
    scope = scope_of(endpoint)
    if scope is not None:
        return scope
    view = current_app.view_functions.get(endpoint or "")
    return str(getattr(view, "browserml_limit_class", "public"))


def caller() -> str:
    """Who the budget belongs to: a key, a page session, or an address."""
    principal = getattr(g, "principal", None)
    if principal is not None:
        return f"{principal.kind}:{principal.name}"
    return f"address:{request.remote_addr or 'unknown'}"


def limit_of(cls: str) -> str | None:
    value = current_app.config.get(f"RATE_LIMIT_{cls.upper()}")
    return str(value) if value else None


def init_limits(app: Flask) -> Limiter:
    """Attach a limiter to ``app`` (after auth, whose principal it counts by)."""
    from limits import parse_many

    for cls in CLASSES:  # a malformed limit is an error at start, never a silent "no limit"
        value = app.config.get(f"RATE_LIMIT_{cls.upper()}")
        if value:
            try:
                parse_many(str(value))
            except ValueError as err:
                raise ValueError(f"BROWSERML_RATE_LIMIT_{cls.upper()} is {value!r}: {err}; "
                                 "write it like '20/second' or '600 per minute; 20/second'") from None
    storage = app.config.get("REDIS_URL") or "memory://"
    # Redis down: each process counts in memory with the same limits until Redis is back (so a
    # Redis outage neither fails requests nor lifts the limits), and the limiter logs it.
    limiter = Limiter(caller, app=None, storage_uri=storage, headers_enabled=True, strategy="moving-window",
                      key_prefix="browserml", in_memory_fallback_enabled=True, swallow_errors=True)
    for cls in CLASSES:
        shared = limiter.shared_limit(
            _value(cls), scope=cls, exempt_when=_unlimited(cls), error_message=_message(cls),
        )
        with app.app_context():
            for endpoint, view in list(app.view_functions.items()):
                if endpoint != "static" and route_class(endpoint) == cls:
                    app.view_functions[endpoint] = shared(view)  # type: ignore[assignment]
    limiter.init_app(app)
    app.extensions["browserml_limiter"] = limiter
    return limiter


def _value(cls: str) -> Callable[[], str]:
    return lambda: limit_of(cls) or UNLIMITED


def _unlimited(cls: str) -> Callable[[], bool]:
    return lambda: limit_of(cls) is None


def _message(cls: str) -> Callable[[], str]:
    return lambda: (f"too many {cls} requests: the limit is {limit_of(cls)} per caller "
                    f"({caller().split(':')[0]}); wait Retry-After seconds, or ask the operator for a higher limit")


F = TypeVar("F", bound=Callable[..., Any])


def limit_class(cls: str) -> Callable[[F], F]:
    """Mark a public view as another class (``telemetry``) for its rate limit."""
    return view_marker("browserml_limit_class", cls)
