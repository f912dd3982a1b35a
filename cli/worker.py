"""``browserml worker``: run the hosts' async predict jobs (``app/jobs.py``) on this machine.

Hosts with ``BROWSERML_REDIS_URL`` set queue ``Prefer: respond-async`` requests (and large text
batches) in Redis; a worker takes them one at a time and runs ``app.inference.run_task`` with its
own registry and ONNX Runtime sessions, built from ``--models-dir`` (a copy of the hosts' models:
the job names the version and variant the client's arm got, and the worker runs exactly those).
Run as many workers, on as many machines, as the load needs. ``--burst`` stops when the queue is
empty (for scripts and tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _redis_url(given: str | None) -> str | None:
    if given:
        return given
    raw = os.environ.get("BROWSERML_REDIS_URL")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return str(value) if value else None


def _worker(args: argparse.Namespace) -> int:
    url = _redis_url(args.redis_url)
    if not url:
        print("error: the worker takes jobs from Redis: pass --redis-url redis://HOST:PORT/DB or set "
              "BROWSERML_REDIS_URL (the hosts' setting).", file=sys.stderr)
        return 2
    models_dir = Path(args.models_dir)
    if not models_dir.is_dir():
        print(f"error: {models_dir} is not a directory; pass --models-dir with a copy of the hosts' models.",
              file=sys.stderr)
        return 2
    import logging

    from redis.exceptions import RedisError

    from app.jobs import QUEUE, work

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    print(f"browserml worker: jobs from queue {QUEUE!r}, models from {models_dir.resolve()}", flush=True)
    try:
        work(url, models_dir, burst=args.burst)
    except RedisError as err:
        print(f"error: Redis cannot be reached ({type(err).__name__}: {err}); start it or fix the URL.",
              file=sys.stderr)
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="run async predict jobs from Redis (hosts with BROWSERML_REDIS_URL)")
    worker.add_argument("--models-dir", default="models", help="this machine's copy of the models (default: models)")
    worker.add_argument("--redis-url", help="default: BROWSERML_REDIS_URL")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(func=_worker)
