"""What dynamic batching (app/batching.py) buys: throughput and p50/p99 under concurrent HTTP clients.

For each server layout (``browserml serve`` with 1 worker: Werkzeug's threaded server; with
``--workers 2``: gunicorn, gthread), servers with batching off and on (``BROWSERML_BATCHING``; one
per ``--delay-ms``) start side by side and, for each model and each number of concurrent clients
(1, 4, 16, 64), that many threads here POST ``/api/v1/models/<name>/predict`` back to back on
keep-alive sessions for ``--seconds`` (after a warm-up) to each server in turn: the others idle,
and a change in the machine's load hits every arm of a cell alike. The result cache is off
(``BROWSERML_CACHE_MB=0``) and so is the per-address rate limit; lifecycle and feedback state go
to a temporary folder, never ``models/``.

The table: requests/s, p50 and p99 latency (ms), the mean batch size the server ran (from
``/metrics``: ``browserml_batch_size``), and, for batching on, the throughput relative to off.
The load generator runs on the same machine as the server: on a small machine it takes CPU
from the server, which the table does not hide (the load average is printed with it).

    .venv/bin/python bench/bench_batching.py [--models imagenet sentiment] [--clients 1 4 16 64]
        [--workers 1 2] [--seconds 5] [--delay-ms 2 0] [--max-size 16] [--gunicorn-threads N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_predict import photo_for  # noqa: E402 (after the sys.path line)
from contract.native_runtime import describe as describe_native  # noqa: E402 (after the sys.path line)
from harness.catalog import CATALOG  # noqa: E402 (after the sys.path line)
from harness.live_server import serve  # noqa: E402 (after the sys.path line)

TEXTS = [
    "The service was slow and the food was cold, but the dessert made up for it.",
    "Great film.",
    "I would not recommend this to anyone: the plot is thin and the acting is wooden throughout.",
    "An absolute joy from start to finish.",
]
TEXT_MODELS = {"sentiment", "text-embedder"}


def load(url: str, name: str, clients: int, seconds: float, warmup: float) -> dict[str, float]:
    """``clients`` threads posting back to back: requests/s, p50, p99 (ms), errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]
    measuring = threading.Event()
    photo = None if name in TEXT_MODELS else photo_for(name)

    def client(i: int) -> None:
        session = requests.Session()
        n = i
        while time.perf_counter() < stop_at[0]:
            if photo is None:
                kwargs: dict[str, Any] = {"json": {"text": TEXTS[n % len(TEXTS)]}}
            else:
                kwargs = {"files": {"image": ("photo.jpg", photo, "image/jpeg")}}
            n += 1
            started = time.perf_counter()
            try:
                ok = session.post(f"{url}/api/v1/models/{name}/predict", timeout=120, **kwargs).status_code == 200
            except requests.RequestException:
                ok = False
            spent = time.perf_counter() - started
            if measuring.is_set():
                with lock:
                    if ok:
                        latencies.append(spent)
                    else:
                        errors[0] += 1

    stop_at[0] = time.perf_counter() + warmup + seconds
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    measuring.set()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
    return {"rps": len(ordered) / elapsed, "p50": 1000 * statistics.median(ordered) if ordered else float("nan"),
            "p99": 1000 * p99, "errors": errors[0]}


def batch_counts(url: str, name: str) -> tuple[float, float]:
    """(rows, batches) the server has run for ``name`` so far, from /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = {}
    for kind in ("sum", "count"):
        match = re.search(rf'^browserml_batch_size_{kind}{{model="{re.escape(name)}"}} (\S+)$', text, re.M)
        found[kind] = float(match.group(1)) if match else 0.0
    return found["sum"], found["count"]


def drain(process: Any) -> None:
    """Read the server's output so its workers never block on a full pipe."""
    for _ in iter(process.stdout.readline, ""):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=CATALOG)
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--delay-ms", nargs="+", type=float, default=[2.0],
                        help="BROWSERML_BATCH_MAX_DELAY_MS of each batching server (one server per value)")
    parser.add_argument("--max-size", type=int, default=16, help="BROWSERML_BATCH_MAX_SIZE when on")
    parser.add_argument("--gunicorn-threads", type=int, default=0,
                        help="threads per gunicorn worker (0: app/gunicorn_conf.py's)")
    args = parser.parse_args()

    print(f"CPU: {describe_native()}; {os.cpu_count()} cores; load average before: {os.getloadavg()}")
    print(f"batching on: max size {args.max_size}; {args.seconds} s per cell; the servers run side by side "
          "(idle but the one measured) and each cell measures every arm back to back, so load drift hits all")
    rows: list[dict[str, Any]] = []
    state = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    arms = [("off", None), *((f"on {delay:g}ms", delay) for delay in args.delay_ms)]
    for workers in args.workers:
        servers = []
        try:
            for arm, delay in arms:
                env = {"BROWSERML_BATCHING": "0" if delay is None else "1", "BROWSERML_CACHE_MB": "0",
                       "BROWSERML_RATE_LIMIT_PREDICT": "null", "BROWSERML_BATCH_MAX_SIZE": str(args.max_size),
                       "BROWSERML_BATCH_MAX_DELAY_MS": str(delay or 0), "BROWSERML_LOG_LEVEL": "WARNING",
                       "BROWSERML_LIFECYCLE_DB": str(state / f"lifecycle-{workers}-{len(servers)}.sqlite"),
                       "BROWSERML_DATABASE_URL": f"sqlite:///{state / f'feedback-{workers}-{len(servers)}.sqlite'}"}
                if args.gunicorn_threads:
                    env["GUNICORN_CMD_ARGS"] = f"--threads {args.gunicorn_threads}"
                process, url = serve("--workers", str(workers), env=env, seconds=120)
                threading.Thread(target=drain, args=(process,), daemon=True).start()
                servers.append((arm, process, url))
            for name in args.models:
                for _, _, url in servers:
                    load(url, name, 2 * workers, 0.0, 2.0)  # load the sessions in every worker
                for clients in args.clients:
                    for arm, _, url in servers:
                        before = batch_counts(url, name)
                        found = load(url, name, clients, args.seconds, args.warmup)
                        after = batch_counts(url, name)
                        batches = after[1] - before[1]
                        mean = (after[0] - before[0]) / batches if batches else float("nan")
                        rows.append({"model": name, "workers": workers, "clients": clients, "arm": arm,
                                     **found, "batch": mean, "load": os.getloadavg()[0]})
                        print(f"  {name} workers={workers} clients={clients} batching {arm}: {found['rps']:.1f} req/s "
                              f"p50 {found['p50']:.1f} ms p99 {found['p99']:.1f} ms batch {mean:.1f}", flush=True)
        finally:
            for _, process, _ in servers:
                process.terminate()
                process.wait(30)
    print()
    print(f"{'model':<14}{'workers':>8}{'clients':>8}{'batching':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'p99/p50':>8}{'batch':>7}{'x off':>7}{'load':>6}")
    for row in rows:
        off = next((r for r in rows if r["arm"] == "off" and all(r[k] == row[k] for k in ("model", "workers",
                                                                                          "clients"))), None)
        on = row["arm"] != "off"
        gain = f"{row['rps'] / off['rps']:.2f}" if on and off and off["rps"] else ""
        batch = f"{row['batch']:.1f}" if on else ""
        print(f"{row['model']:<14}{row['workers']:>8}{row['clients']:>8}{row['arm']:>10}"
              f"{row['rps']:>9.1f}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['p99'] / row['p50']:>8.1f}{batch:>7}"
              f"{gain:>7}{row['load']:>6.1f}" + (f"  ({row['errors']} errors)" if row["errors"] else ""))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
