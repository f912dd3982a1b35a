"""The result cache of ``POST /api/v1/models/<name>/predict``: the same input to the same model
version and variant answers from memory instead of running the model again.

The key is the model, its version, the variant and the sha256 of the canonical input: the
decoded pixels (after EXIF orientation: the array ``app.inputs.read_image`` gives, its shape,
dtype and bytes) or the JSON encoding of the text or list of texts. So one photo sent as PNG,
BMP or base64 JSON hits the same entry, and another version never does. The value is the task
result (as JSON), never the request's own fields (``request_id``, ``latency_ms``); only
successful results are stored.

Two backends:

- ``LruCache``: in this process, least recently used out first, bounded by ``CACHE_MB`` of
  JSON (``0`` turns the cache off altogether). Its size is the gauge ``browserml_cache_bytes``
  (summed over live workers).
- ``RedisCache``: when ``REDIS_URL`` is set, shared by every worker of every host, keys
  ``browserml:cache:<model>:<version>:<variant>:<sha256>`` expiring after ``CACHE_TTL`` seconds.
  Redis failing never fails a prediction: the lookup answers as a miss, the error is logged once
  per outage, and Redis is tried again after ``RETRY_SECONDS``.

``Cache-Control: no-cache`` from the client skips the lookup (``bypass``) and stores the fresh
result. Every predict answer says which with ``X-Cache: hit|miss|bypass``, counted in
``browserml_cache_requests_total{model,result}``. The key holds a hash of the input, never the
input; nothing here logs a key, an input or a result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from flask import Flask, Request
from prometheus_client import Counter, Gauge

log = logging.getLogger("browserml")

PREFIX = "browserml:cache:"
RETRY_SECONDS = 1.0  # after a Redis failure, answer as a miss without trying for this long
REDIS_TIMEOUT = 0.5  # seconds: a slow Redis costs a request at most this much, then it is a miss
EXTENSION = "browserml_cache"

CACHE_REQUESTS = Counter("browserml_cache_requests_total", "result cache lookups of predict by model and result",
                         ["model", "result"])
CACHE_BYTES = Gauge("browserml_cache_bytes", "bytes of results in the in-process result caches",
                    multiprocess_mode="livesum")


class Backend(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes) -> None: ...


class LruCache:
    """Results in this process, least recently used evicted first, at most ``max_bytes`` of
    keys and JSON values in all. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        size = len(key) + len(value)
        if size > self.max_bytes:
            return  # larger than the whole cache: never stored
        with self._lock:
            before = self.bytes
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= len(key) + len(old)
            self._entries[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes:
                evicted, gone = self._entries.popitem(last=False)
                self.bytes -= len(evicted) + len(gone)
            CACHE_BYTES.inc(self.bytes - before)


class RedisCache:
    """Results in Redis with a TTL; a Redis error is a miss (logged once per outage), never a failure."""

    def __init__(self, url: str, ttl: int) -> None:
        import redis

        self.ttl = ttl
        self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        value = self._call(lambda: self._redis.get(PREFIX + key))
        return bytes(value) if value is not None else None

    def put(self, key: str, value: bytes) -> None:
        self._call(lambda: self._redis.set(PREFIX + key, value, ex=self.ttl))

    def _call(self, fn: Any) -> Any:
        if self._down_since is not None and time.monotonic() < self._retry_at:
            return None
        try:
            answer = fn()
        except self._errors as err:
            with self._lock:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.error("result cache: Redis unreachable (%s); predictions go on uncached until it is back",
                              type(err).__name__)
            return None
        if self._down_since is not None:
            with self._lock:
                if self._down_since is not None:
                    log.warning("result cache: Redis reachable again after %.0f s",
                                time.monotonic() - self._down_since)
                    self._down_since = None
        return answer


def input_digest(sample: Any) -> str:
    """sha256 of the canonical input: an image's decoded pixels (shape, dtype, bytes), or the
    JSON of a text or list of texts."""
    digest = hashlib.sha256()
    if isinstance(sample, (str, list)):
        digest.update(b"text\n" + json.dumps(sample, ensure_ascii=False).encode("utf-8"))
    else:
        pixels = np.ascontiguousarray(np.asarray(sample))
        digest.update(f"pixels\n{pixels.shape}\n{pixels.dtype.str}\n".encode())
        digest.update(pixels.data)
    return digest.hexdigest()


@dataclass
class Lookup:
    """One predict request's cache lookup: ``result`` on a hit; ``store`` the fresh result on a miss."""

    backend: Backend | None
    key: str = ""
    status: str | None = None  # hit, miss, bypass; None: the cache is off
    result: dict[str, Any] | None = None
    ms: float = 0.0  # hashing + lookup time (the latency a hit reports)
    headers: dict[str, str] = field(default_factory=dict)

    def store(self, result: dict[str, Any]) -> None:
        if self.backend is not None:
            self.backend.put(self.key, json.dumps(result, separators=(",", ":")).encode("utf-8"))


def backend_of(app: Flask) -> Backend | None:
    """The app's cache (made on first use from its config); None when ``CACHE_MB`` is 0."""
    if EXTENSION not in app.extensions:
        with _make_lock:
            if EXTENSION not in app.extensions:
                app.extensions[EXTENSION] = _make(app.config)
    backend: Backend | None = app.extensions[EXTENSION]
    return backend


_make_lock = threading.Lock()


def _make(config: Any) -> Backend | None:
    megabytes = float(config.get("CACHE_MB") or 0)
    if megabytes <= 0:
        return None
    if config.get("REDIS_URL"):
        return RedisCache(str(config["REDIS_URL"]), int(config.get("CACHE_TTL") or 3600))
    return LruCache(int(megabytes * 1_000_000))


def lookup(app: Flask, request: Request, model: Any, variant: str, sample: Any) -> Lookup:
    """Look ``sample`` up for ``model`` (a ``registry.ModelVersion``) run by ``variant``; counted."""
    backend = backend_of(app)
    if backend is None:
        return Lookup(None)
    started = time.perf_counter()
    key = f"{model.name}:{model.version}:{variant}:{input_digest(sample)}"
    result = None
    if request.cache_control.no_cache:
        status = "bypass"
    else:
        raw = backend.get(key)
        result = json.loads(raw) if raw is not None else None
        status = "hit" if result is not None else "miss"
    CACHE_REQUESTS.labels(model.name, status).inc()
    return Lookup(backend, key, status, result, 1000 * (time.perf_counter() - started), {"X-Cache": status})
