"""API keys: created by ``browserml keys create``, stored only as sha256 hashes.

A key is ``bml_`` + 32 random bytes (URL-safe base64): with 256 bits of entropy a
plain sha256 is enough to store it (no guessing to slow down, unlike a password);
the key itself is printed once and never written anywhere. The file
(``BROWSERML_KEYS_FILE``, default ``instance/keys.json``) is written atomically
with mode 0600, and re-read when it changes, so keys created or revoked while the
host runs take effect without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCOPES = ("predict", "admin")  # admin can do everything predict can
PREFIX = "bml_"


class KeyStoreError(ValueError):
    """A key operation that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a key's name, or a page session, with its scope."""

    name: str
    scope: str
    kind: str  # "key" or "session"

    def allows(self, scope: str) -> bool:
        return self.scope == "admin" or self.scope == scope


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file: create, list, revoke, and check a presented key."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[float, list[dict[str, Any]]] | None = None

    def _read(self) -> list[dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        with self._lock:
            if self._cache and self._cache[0] == stat.st_mtime_ns:
                return self._cache[1]
            try:
                keys = list(json.loads(self.path.read_text(encoding="utf-8"))["keys"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise KeyStoreError(f"{self.path} is not a keys file ({err}); fix or remove it") from None
            self._cache = (stat.st_mtime_ns, keys)
            return keys

    def _write(self, keys: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"keys": keys}, handle, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._cache = None

    def create(self, name: str, scope: str) -> str:
        """A new key for ``name`` with ``scope``; returns the key (the only time it exists in clear)."""
        if scope not in SCOPES:
            raise KeyStoreError(f"scope {scope!r} is not one of: {', '.join(SCOPES)}")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise KeyStoreError("a key name is 1-64 letters, digits, '-', '_' or '.'")
        keys = self._read()
        if any(k["name"] == name and not k.get("revoked") for k in keys):
            raise KeyStoreError(f"a key named {name!r} exists; revoke it first (browserml keys revoke {name})")
        key = PREFIX + secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        keys = [k for k in keys if k["name"] != name] + [
            {"name": name, "scope": scope, "sha256": _digest(key), "created": now}
        ]
        self._write(keys)
        return key

    def list(self) -> list[dict[str, Any]]:
        """Every key's name, scope, creation time and revocation (never a hash or a key)."""
        return [{k: v for k, v in entry.items() if k != "sha256"} for entry in self._read()]

    def revoke(self, name: str) -> None:
        keys = self._read()
        live = [k for k in keys if k["name"] == name and not k.get("revoked")]
        if not live:
            known = ", ".join(k["name"] for k in keys if not k.get("revoked")) or "none"
            raise KeyStoreError(f"no live key named {name!r}; live keys: {known}")
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        for entry in live:
            entry["revoked"] = now
        self._write(keys)

    def verify(self, key: str) -> Principal | None:
        """The principal of a presented key, or None if it is unknown or revoked."""
        if not key.startswith(PREFIX):
            return None
        digest = _digest(key)
        for entry in self._read():
            if hmac.compare_digest(entry["sha256"], digest) and not entry.get("revoked"):
                return Principal(entry["name"], entry["scope"], "key")
        return None
