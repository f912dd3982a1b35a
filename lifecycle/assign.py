"""Sticky assignment of clients to the arms of a canary split.

A client's bucket for a split is a number in [0, 10000): the first 8 bytes of
``sha256("<model>\\n<canary version>\\n<client id>")`` as a big-endian integer, modulo
10000. The client is in the canary arm when its bucket is below ``percent × 100``
(so ``percent`` has a resolution of 0.01 %). Hence:

- the same client always gets the same arm of a given split (model and canary version);
- raising the percentage only moves clients from stable to canary, never back;
- a new canary version is a new split: clients are drawn again, independently;
- the share is exact in expectation; over 10,000 random ids a 30 % split gives
  30 % ± 1.4 % at three standard deviations (tests/contract/test_assign.py measures it).

The client id is what the host knows of the caller (``app/lifecycle.py``):
``key:<the API key's name>``, else ``client:<the X-Client-ID header>`` (the browser runtime
sends a random id it keeps in localStorage), else the page session (``session:<id>``), else
``addr:<the client address>``.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(model: str, canary_version: int, client_id: str) -> int:
    """The client's bucket, in [0, BUCKETS), for the split of ``model`` towards ``canary_version``."""
    digest = hashlib.sha256(f"{model}\n{canary_version}\n{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_canary(model: str, canary_version: int, percent: float, client_id: str) -> bool:
    """Whether ``client_id`` is in the canary arm of a ``percent`` % split."""
    return bucket(model, canary_version, client_id) < round(percent * BUCKETS / 100)
