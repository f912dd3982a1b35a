"""A locust load run against ``browserml serve``: a mix of what clients do, many users at once.

For each server layout (``--workers 1``: Werkzeug's threaded server; ``--workers 2``: gunicorn,
gthread), this script starts ``browserml serve`` on a free loopback port (with ``--redis``, a private
Debian ``redis-server`` too, so rate limits, the result cache and lifecycle state live in Redis),
then runs locust as a library (``locust.env.Environment``, a ``LocalRunner``, ``FastHttpUser``):
``--users`` users, started within a second, each sending back to back, with no wait, a weighted mix of

- ``face-detector``: ``POST /api/v1/models/face-detector/predict``, a photo (multipart JPEG);
- ``imagenet``: the same route with another photo;
- ``emotion``: the same route with a face crop;
- ``sentiment``: ``POST /api/v1/models/sentiment/predict``, a text (never the same twice, so a miss);
- ``catalog``: ``GET /api/v1/models``;
- ``artifact``: ``GET /models/emotion/<v>/model.int8.onnx`` (a variant file, as a browser fetches it);
- ``v2-infer``: ``POST /v2/models/emotion/infer`` (JSON tensor), unless ``--no-v2``.

The photos repeat, so with the result cache on (the default; ``--no-cache`` turns it off) most image
predictions are cache hits, as re-uploads are; the share of ``X-Cache: hit`` is printed. After
``--warmup`` seconds (sessions load in every worker) the statistics are reset and measured for
``--seconds``. Printed per layout and request type: requests, requests/s, p50 and p99 (ms),
failures; then the load average. The predict and telemetry rate limits are lifted (one address sends
everything); lifecycle and feedback state go to a temporary folder, never ``models/``. The load
generator (one gevent loop) shares the machine with the server: read the load average before trusting
a number. Exit status 1 if any request failed.

    .venv/bin/python bench/bench_load.py [--users 50] [--seconds 60] [--workers 1 2] [--redis]
        [--warmup 5] [--no-cache] [--no-v2] [--json FILE]
"""

# ruff: noqa: E402, I001
# (locust monkey-patches the standard library with gevent when imported, so it comes before
# anything that imports ssl or socket, and the project's imports come after the sys.path line)
from __future__ import annotations

from locust import FastHttpUser, constant, events, task
from locust.env import Environment

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_batching import TEXTS
from bench.bench_predict import photo_for
from harness.live_server import serve, start_redis

TYPES = ["face-detector", "imagenet", "emotion", "sentiment", "catalog", "artifact", "v2-infer"]
BOUNDARY = "browserml-bench-load"


def multipart(photo: bytes) -> bytes:
    """A multipart/form-data body with one ``image`` part, as a browser uploads a JPEG."""
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


class Mix:
    """What the users send, built once before the run (bodies, the artifact's URL)."""

    bodies: dict[str, bytes] = {}
    artifact = ""
    v2 = True
    cache = Counter()  # (request type, X-Cache value) -> count
    serial = itertools.count()


class Client(FastHttpUser):
    """One user: the weighted mix, back to back."""

    wait_time = constant(0)
    network_timeout = 120.0
    connection_timeout = 30.0

    def _predict(self, name: str, **kwargs: Any) -> None:
        with self.client.post(f"/api/v1/models/{name}/predict", name=name, catch_response=True, **kwargs) as answer:
            Mix.cache[(name, answer.headers.get("X-Cache", "-") if answer.headers else "-")] += 1
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code}: {(answer.text or '')[:200]}")

    def _photo(self, name: str) -> None:
        self._predict(name, data=Mix.bodies[name],
                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})

    @task(2)
    def face_detector(self) -> None:
        self._photo("face-detector")

    @task(2)
    def imagenet(self) -> None:
        self._photo("imagenet")

    @task(2)
    def emotion(self) -> None:
        self._photo("emotion")

    @task(3)
    def sentiment(self) -> None:
        n = next(Mix.serial)
        self._predict("sentiment", json={"text": f"{TEXTS[n % len(TEXTS)]} (#{n})"})

    @task(2)
    def catalog(self) -> None:
        self.client.get("/api/v1/models", name="catalog")

    @task(1)
    def artifact(self) -> None:
        self.client.get(Mix.artifact, name="artifact")

    @task(1)
    def v2_infer(self) -> None:
        if Mix.v2:
            self.client.post("/v2/models/emotion/infer", name="v2-infer", data=Mix.bodies["v2"],
                             headers={"Content-Type": "application/json"})


def prepare(url: str, v2: bool) -> None:
    """The request bodies and the artifact URL (from the catalog, so the version is the served one)."""
    Mix.bodies = {name: multipart(photo_for(name)) for name in ("face-detector", "imagenet", "emotion")}
    manifest = requests.get(f"{url}/api/v1/models/emotion", timeout=60).json()
    shape = [1, *manifest["inputs"][0]["shape"][1:]]
    size = 1
    for dim in shape:
        size *= int(dim)
    Mix.bodies["v2"] = json.dumps({"inputs": [{"name": manifest["inputs"][0]["name"], "shape": shape,
                                               "datatype": "FP32", "data": [(i % 256) / 255 for i in range(size)]}]
                                   }).encode()
    Mix.artifact = next(v["url"] for v in manifest["variants"] if v.get("url") and "int8" in v["file"])
    Mix.v2 = v2


def run(url: str, users: int, seconds: float, warmup: float) -> tuple[dict[str, dict[str, float]], float]:
    """``users`` locust users against ``url``: per request type (and "total") the numbers, and the
    measured seconds."""
    env = Environment(user_classes=[Client], host=url, events=events)
    runner = env.create_local_runner()
    Mix.cache.clear()
    runner.start(users, spawn_rate=users)
    gevent.sleep(warmup)
    env.stats.reset_all()
    Mix.cache.clear()
    began = time.monotonic()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - began
    snapshot = {name: _numbers(env.stats.get(name, method), elapsed)
                for (name, method) in list(env.stats.entries)}
    snapshot["total"] = _numbers(env.stats.total, elapsed)
    runner.quit()
    return snapshot, elapsed


def _numbers(entry: Any, elapsed: float) -> dict[str, float]:
    done = entry.num_requests
    return {"requests": done, "rps": done / elapsed if elapsed else 0.0, "failures": entry.num_failures,
            "p50": entry.get_response_time_percentile(0.5) if done else float("nan"),
            "p99": entry.get_response_time_percentile(0.99) if done else float("nan")}


def drain(process: Any) -> None:
    """Read the server's output so its workers never block on a full pipe."""
    for _ in iter(process.stdout.readline, ""):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--redis", action="store_true",
                        help="a private redis-server per layout (BROWSERML_REDIS_URL): limits, cache, lifecycle")
    parser.add_argument("--no-cache", action="store_true", help="turn the result cache off (BROWSERML_CACHE_MB=0)")
    parser.add_argument("--no-v2", action="store_true", help="leave V2 infer out of the mix")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    if args.users < 1 or args.seconds <= 0 or args.warmup < 0 or any(w < 1 for w in args.workers):
        parser.error("--users and --workers need at least 1, --seconds more than 0, --warmup 0 or more")

    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()}", flush=True)
    state = Path(tempfile.mkdtemp(prefix="bench-load-"))
    results: list[dict[str, Any]] = []
    try:
        for workers in args.workers:
            redis_server = None
            env = {"BROWSERML_RATE_LIMIT_PREDICT": "null", "BROWSERML_RATE_LIMIT_TELEMETRY": "null",
                   "BROWSERML_LOG_LEVEL": "WARNING",
                   "BROWSERML_LIFECYCLE_DB": str(state / f"lifecycle-{workers}.sqlite"),
                   "BROWSERML_DATABASE_URL": f"sqlite:///{state / f'feedback-{workers}.sqlite'}"}
            if args.no_cache:
                env["BROWSERML_CACHE_MB"] = "0"
            if args.redis:
                folder = state / f"redis-{workers}-{uuid.uuid4().hex[:6]}"
                folder.mkdir()
                redis_server, redis_url = start_redis(folder)
                env["BROWSERML_REDIS_URL"] = json.dumps(redis_url)
            process = None
            try:
                process, url = serve("--workers", str(workers), env=env, seconds=180)
                threading.Thread(target=drain, args=(process,), daemon=True).start()
                prepare(url, not args.no_v2)
                layout = f"{workers} worker" + ("s (gunicorn)" if workers > 1 else " (Werkzeug)") + \
                    (" + Redis" if args.redis else "")
                print(f"{layout}: {args.users} users, {args.warmup:g} s warm-up, {args.seconds:g} s measured ...",
                      flush=True)
                numbers, elapsed = run(url, args.users, args.seconds, args.warmup)
                results.append({"layout": layout, "workers": workers, "redis": args.redis, "users": args.users,
                                "seconds": elapsed, "load": os.getloadavg()[0], "types": numbers,
                                "cache": {f"{k[0]} {k[1]}": v for k, v in sorted(Mix.cache.items())}})
            finally:
                if process is not None:
                    process.terminate()
                    process.wait(30)
                if redis_server is not None:
                    redis_server.kill()
                    redis_server.wait(10)
    finally:
        shutil.rmtree(state, ignore_errors=True)

    for result in results:
        print(f"\n{result['layout']}, {result['users']} users, {result['seconds']:.0f} s "
              f"(load average after: {result['load']:.1f})")
        print(f"  {'request':<15}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'failures':>9}")
        for name in [*(t for t in TYPES if t in result["types"]), "total"]:
            row = result["types"][name]
            print(f"  {name:<15}{row['requests']:>9}{row['rps']:>8.1f}{row['p50']:>8.0f}{row['p99']:>8.0f}"
                  f"{row['failures']:>9}")
        hits = {t: result["cache"].get(f"{t} hit", 0) / max(1, sum(v for k, v in result["cache"].items()
                                                                     if k.startswith(t + " ")))
                for t in ("face-detector", "imagenet", "emotion", "sentiment")}
        print("  X-Cache hit share: " + ", ".join(f"{t} {share:.0%}" for t, share in hits.items()))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if any(r["types"]["total"]["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
