"""sha256 of files: how every part checks that a file is the one a manifest names."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

# Digests already computed, keyed by (path, size, mtime): a new app (a test, a gunicorn
# worker) or a second conversion does not hash 300 MB again for unchanged files.
_KNOWN: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 hex of ``path``, remembered by path, size and modification time."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        known = _KNOWN.get(key)
    if known:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _LOCK:
        _KNOWN[key] = value
    return value
