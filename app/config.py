"""Configuration defaults; override with ``create_app({...})`` or ``BROWSERML_*`` environment variables.

Environment values are parsed as JSON when they can be
(``BROWSERML_MAX_CONTENT_LENGTH=20000000``), else taken as strings.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Where `browserml convert` wrote models/<name>/<version>/.
    "MODELS_DIR": "models",
    # Largest request body (uploads), in bytes: 413 above it.
    "MAX_CONTENT_LENGTH": 10 * 1000 * 1000,
    # Largest image, in pixels, checked from the header before decoding.
    "MAX_IMAGE_PIXELS": 40_000_000,
    # Smallest image side accepted (a 1x1 image has nothing to recognise).
    "MIN_IMAGE_SIDE": 16,
    # Texts: longest text (characters) and most texts per request.
    "MAX_TEXT_CHARS": 10_000,
    "MAX_TEXTS": 64,
    # ONNX Runtime intra-op threads per session (0: ONNX Runtime decides).
    "ORT_THREADS": 0,
    # ONNX Runtime execution providers, in order ("CUDAExecutionProvider,CPUExecutionProvider" or a JSON
    # list). A name ONNX Runtime does not know stops start-up; one this build lacks (CUDA on the CPU wheel:
    # install onnxruntime-gpu) is skipped with one warning. CPUExecutionProvider is always last.
    "ORT_PROVIDERS": "CPUExecutionProvider",
    # Load every model's server variant at start-up, in the background.
    "WARM_UP": False,
    # COOP + COEP on every response: lets the browser use WASM threads.
    "CROSS_ORIGIN_ISOLATION": True,
    # The built demo UI and runtime library (frontend/dist).
    "FRONTEND_DIST": "frontend/dist",
    "JSON_SORT_KEYS": False,
    # --- Protect (app/auth.py, app/keys.py, app/limits.py) ---
    # "off" (local use: everyone may call everything) or "keys" (API keys and page sessions).
    "AUTH": "off",
    # Where API keys live, hashed (browserml keys create/list/revoke); default: instance/keys.json.
    "KEYS_FILE": None,
    # Signs the pages' session cookies; default: a random key kept in instance/secret_key.
    "SECRET_KEY": None,
    # Lifetime of a page's session cookie, in seconds (each page load renews it).
    "SESSION_TTL": 3600,
    # Rate limits per route class, per key (or page session, or client address): flask-limiter
    # syntax ("20/second", "600 per minute; 20/second"); None: no limit. Only predict by default.
    "RATE_LIMIT_PREDICT": "50/second",
    "RATE_LIMIT_ADMIN": None,
    "RATE_LIMIT_TELEMETRY": "10/second",
    "RATE_LIMIT_PUBLIC": None,
    # Shared state (rate limit counters) in Redis instead of in each process: redis://host:port/db.
    "REDIS_URL": None,
    # --- Result cache (app/cache.py) ---
    # Predict results by model, version, variant and input hash: an in-process LRU of at most this
    # many MB in each process (0 turns the cache off), or Redis when REDIS_URL is set.
    "CACHE_MB": 64,
    # Lifetime of a result in the Redis cache, in seconds.
    "CACHE_TTL": 3600,
    # --- Observe (app/metrics.py, app/request_log.py) ---
    # /metrics for everyone ("public"), for admin keys only ("private"), or not counted at all ("off").
    "METRICS": "public",
    # Level of the JSON request log and the host's own messages.
    "LOG_LEVEL": "INFO",
    # --- Lifecycle (lifecycle/, app/lifecycle.py) ---
    # Aliases (stable, canary), kill switches, the audit log and live drift counts: a SQLite file,
    # default <MODELS_DIR>/lifecycle.sqlite; with REDIS_URL set they live in Redis instead.
    "LIFECYCLE_DB": None,
    # Feedback and the predictions it refers to (SQLAlchemy URL; Postgres works too):
    # default sqlite:///<MODELS_DIR>/feedback.sqlite.
    "DATABASE_URL": None,
    # Days an answered prediction is kept for feedback to refer to; older ones without feedback are
    # deleted (hourly, by each process's recorder: app/answers.py). 0 or None: keep every prediction.
    "PREDICTION_DAYS": 30,
    # --- Dynamic batching (app/batching.py) ---
    # Concurrent requests for one model variant run as one batch of at most BATCH_MAX_SIZE rows; the
    # oldest waits at most BATCH_MAX_DELAY_MS for company (0: a lone request runs at once). False: off.
    "BATCHING": True,
    "BATCH_MAX_SIZE": 16,
    # 0 by default: a lone request never waits (measured: 0 and 2 ms formed batches alike under load,
    # because one batch per variant runs at a time and the next gathers meanwhile).
    "BATCH_MAX_DELAY_MS": 0,
    # --- Remote inference (app/remote.py) ---
    # Run the raw tensor inference on a V2 server (Triton, KServe, another browserml host): one URL for
    # every model ("http://triton:8000") or {"<model>": "<url>"} for some; None: all run here. Pre- and
    # post-processing, auth, limits and metrics stay on this host. user:password@ in the URL: basic auth.
    "INFERENCE_URL": None,
    # Seconds to connect to, and to wait for an answer from, the remote inference server.
    "INFERENCE_TIMEOUT": 30,
    # Trust X-Forwarded-For/-Proto from this many proxies in front (0: none): see the README.
    "PROXIES": 0,
}


def setting(name: str) -> Any:
    """A setting as ``create_app`` reads it, for processes without an app (``browserml worker`` and the
    other CLI verbs): ``BROWSERML_<name>`` parsed as JSON when it parses (Flask's
    ``from_prefixed_env``), else the string; else the default above."""
    import json
    import os

    raw = os.environ.get(f"BROWSERML_{name}")
    if raw is None:
        return DEFAULTS[name]
    try:
        return json.loads(raw)
    except ValueError:
        return raw
