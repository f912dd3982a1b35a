"""gunicorn settings ``browserml serve --workers N`` runs with (``--config python:app.gunicorn_conf``).

Metrics: every worker writes its samples under ``PROMETHEUS_MULTIPROC_DIR`` (set by
``browserml serve``); a worker that exits is marked dead so its live gauges (requests in
flight) stop counting. Access lines: none here; the app logs one JSON line per request.
"""

from __future__ import annotations

from typing import Any

accesslog = None
worker_class = "gthread"
threads = 4


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
