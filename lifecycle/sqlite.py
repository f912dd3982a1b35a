"""SQLite settings shared by the embedded stores: the lifecycle state, the feedback store and the job table."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

WAL_WAIT_SECONDS = 10.0


def use_wal(cursor: Any, wait: float = WAL_WAIT_SECONDS) -> None:
    """Put the database of ``cursor`` (a DB-API cursor or sqlite3 connection) in WAL mode.

    WAL is a property of the file: once one connection has set it, the others find it set and
    leave it. Switching takes an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting out the busy timeout, when another connection is writing the schema at that
    moment (gunicorn boots its workers together, each opening the same fresh file): so it is
    retried for up to ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def connect(path: Any) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` as the embedded stores use it: autocommit (they
    open their own transactions), a 10 s busy timeout, WAL, ``synchronous=NORMAL``. One per thread:
    sqlite3 connections are not shared across threads."""
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    return db
