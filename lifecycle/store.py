"""Where the lifecycle state lives, so that every worker of every process sees it.

Per model: the ``stable`` version (None: the newest version that passed its gates), the
previous stables (what ``rollback`` returns to), an optional ``canary`` version with its
``percent``, and the ``fallback`` kill switch. Beside it: the audit log (when, who,
what, from which version to which) and the live drift counts (``lifecycle/drift.py``).

Two backends with one interface:

- ``SqliteStore``: a SQLite file, by default ``<models dir>/lifecycle.sqlite``
  (``BROWSERML_LIFECYCLE_DB`` elsewhere). WAL mode, so readers never wait for a writer;
  every change is one ``BEGIN IMMEDIATE`` transaction, so two operators cannot interleave.
- ``RedisStore``: when ``BROWSERML_REDIS_URL`` is set, the same keys in Redis, for hosts on
  several machines. A state change is a WATCH/MULTI transaction on the model's key.

The store keeps raw state and checks only its own invariants; ``lifecycle/aliases.py``
checks versions against the models directory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from lifecycle.sqlite import connect

EMPTY_STATE: dict[str, Any] = {"stable": None, "history": [], "canary": None, "percent": 0.0, "fallback": False}
AUDIT_KEEP = 10_000  # audit entries kept in Redis (SQLite keeps all)


class StoreError(Exception):
    """The state store cannot be reached or written."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def fresh_state(raw: dict[str, Any] | None) -> dict[str, Any]:
    """A complete state from a stored one (keys added later get their defaults)."""
    return {**json.loads(json.dumps(EMPTY_STATE)), **(raw or {})}


Change = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
"""A state change: takes the current state, returns the new one and the audit entry's fields
(``action``, ``from_version``, ``to_version``, ``detail``). It may raise to refuse."""


class Store(Protocol):
    where: str

    def state(self, model: str) -> dict[str, Any]: ...
    def states(self) -> dict[str, dict[str, Any]]: ...
    def change(self, model: str, actor: str, change: Change) -> dict[str, Any]: ...
    def audit(self, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def add_counts(self, model: str, version: int, counts: dict[str, dict[str, int]]) -> None: ...
    def counts(self, model: str, version: int) -> dict[str, dict[str, int]]: ...
    def reset_counts(self, model: str, version: int | None = None) -> None: ...


class SqliteStore:
    """The state in one SQLite file (default: under the models directory)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS aliases (model TEXT PRIMARY KEY, state TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL, model TEXT NOT NULL,
        action TEXT NOT NULL, from_version INTEGER, to_version INTEGER, detail TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS audit_model ON audit (model, id);
    CREATE TABLE IF NOT EXISTS drift_counts (
        model TEXT NOT NULL, version INTEGER NOT NULL, feature TEXT NOT NULL, bin TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (model, version, feature, bin));
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = f"sqlite:{self.path}"
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(self.SCHEMA)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the lifecycle state {self.path}: {err}") from err

    def _connect(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections are not shared across threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def state(self, model: str) -> dict[str, Any]:
        row = self._connect().execute("SELECT state FROM aliases WHERE model = ?", (model,)).fetchone()
        return fresh_state(json.loads(row[0]) if row else None)

    def states(self) -> dict[str, dict[str, Any]]:
        rows = self._connect().execute("SELECT model, state FROM aliases").fetchall()
        return {model: fresh_state(json.loads(state)) for model, state in rows}

    def change(self, model: str, actor: str, change: Change) -> dict[str, Any]:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT state FROM aliases WHERE model = ?", (model,)).fetchone()
            new, entry = change(fresh_state(json.loads(row[0]) if row else None))
            db.execute("INSERT INTO aliases (model, state) VALUES (?, ?) "
                       "ON CONFLICT (model) DO UPDATE SET state = excluded.state", (model, json.dumps(new)))
            db.execute("INSERT INTO audit (ts, actor, model, action, from_version, to_version, detail) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (_now(), actor, model, entry["action"], entry.get("from_version"), entry.get("to_version"),
                        json.dumps(entry.get("detail", {}))))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return new

    def audit(self, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = "SELECT ts, actor, model, action, from_version, to_version, detail FROM audit"
        args: tuple[Any, ...] = ()
        if model is not None:
            query += " WHERE model = ?"
            args = (model,)
        rows = self._connect().execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [{"ts": ts, "actor": actor, "model": m, "action": action, "from_version": fv, "to_version": tv,
                 "detail": json.loads(detail)} for ts, actor, m, action, fv, tv, detail in rows]

    def add_counts(self, model: str, version: int, counts: dict[str, dict[str, int]]) -> None:
        rows = [(model, version, feature, str(b), int(n)) for feature, bins in counts.items() for b, n in bins.items()
                if n]
        if not rows:
            return
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO drift_counts (model, version, feature, bin, count) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (model, version, feature, bin) DO UPDATE SET count = count + excluded.count",
                           rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def counts(self, model: str, version: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        rows = self._connect().execute(
            "SELECT feature, bin, count FROM drift_counts WHERE model = ? AND version = ?", (model, version))
        for feature, b, n in rows:
            out.setdefault(feature, {})[b] = int(n)
        return out

    def reset_counts(self, model: str, version: int | None = None) -> None:
        if version is None:
            self._connect().execute("DELETE FROM drift_counts WHERE model = ?", (model,))
        else:
            self._connect().execute("DELETE FROM drift_counts WHERE model = ? AND version = ?", (model, version))


class RedisStore:
    """The same state in Redis: ``browserml:alias:<model>`` (JSON), ``browserml:audit`` (a list,
    newest first) and ``browserml:drift:<model>:<version>`` (a hash of ``feature\\x1fbin`` counts)."""

    PREFIX = "browserml"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.where = "redis"  # never the URL: it may hold a password
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._errors as err:
            raise StoreError(f"the lifecycle state in Redis cannot be {what}: {type(err).__name__}") from err

    def _key(self, *parts: object) -> str:
        return ":".join([self.PREFIX, *map(str, parts)])

    def state(self, model: str) -> dict[str, Any]:
        raw = self._call("read", lambda: self._redis.get(self._key("alias", model)))
        return fresh_state(json.loads(raw) if raw else None)

    def states(self) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            keys = sorted(self._redis.scan_iter(match=self._key("alias", "*")))
            values: list[Any] = list(self._redis.mget(keys)) if keys else []  # type: ignore[arg-type]
            return {k.decode().split(":", 2)[2]: fresh_state(json.loads(v)) for k, v in zip(keys, values) if v}

        return dict(self._call("read", read))

    def change(self, model: str, actor: str, change: Change) -> dict[str, Any]:
        import redis

        key = self._key("alias", model)

        def transaction() -> dict[str, Any]:
            with self._redis.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        raw: Any = pipe.get(key)
                        new, entry = change(fresh_state(json.loads(raw) if raw else None))
                        record = {"ts": _now(), "actor": actor, "model": model, "action": entry["action"],
                                  "from_version": entry.get("from_version"), "to_version": entry.get("to_version"),
                                  "detail": entry.get("detail", {})}
                        pipe.multi()
                        pipe.set(key, json.dumps(new))
                        pipe.lpush(self._key("audit"), json.dumps(record))
                        pipe.ltrim(self._key("audit"), 0, AUDIT_KEEP - 1)
                        pipe.execute()
                        return new
                    except redis.WatchError:
                        continue  # someone changed it meanwhile: read again and retry

        return dict(self._call("written", transaction))

    def audit(self, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        raw = self._call("read", lambda: self._redis.lrange(self._key("audit"), 0, AUDIT_KEEP - 1))
        entries = [json.loads(r) for r in raw]
        return [e for e in entries if model is None or e["model"] == model][:limit]

    def add_counts(self, model: str, version: int, counts: dict[str, dict[str, int]]) -> None:
        key = self._key("drift", model, version)

        def write() -> None:
            with self._redis.pipeline(transaction=False) as pipe:
                for feature, bins in counts.items():
                    for b, n in bins.items():
                        if n:
                            pipe.hincrby(key, f"{feature}\x1f{b}", int(n))
                pipe.execute()

        self._call("written", write)

    def counts(self, model: str, version: int) -> dict[str, dict[str, int]]:
        raw = self._call("read", lambda: self._redis.hgetall(self._key("drift", model, version)))
        out: dict[str, dict[str, int]] = {}
        for field, n in raw.items():
            feature, b = field.decode().split("\x1f", 1)
            out.setdefault(feature, {})[b] = int(n)
        return out

    def reset_counts(self, model: str, version: int | None = None) -> None:
        def delete() -> None:
            keys = ([self._key("drift", model, version)] if version is not None
                    else list(self._redis.scan_iter(match=self._key("drift", model, "*"))))
            if keys:
                self._redis.delete(*keys)

        self._call("written", delete)


def open_store(models_dir: Path | str, lifecycle_db: str | Path | None = None, redis_url: str | None = None) -> Store:
    """Redis when ``redis_url`` is set, else the SQLite file ``lifecycle_db`` (default
    ``<models_dir>/lifecycle.sqlite``)."""
    if redis_url:
        return RedisStore(redis_url)
    return SqliteStore(Path(lifecycle_db) if lifecycle_db else Path(models_dir) / "lifecycle.sqlite")
