"""How much the host adds: POST /api/v1/models/<name>/predict over HTTP vs ONNX Runtime in-process.

For each catalog model, on one real input, timings are taken one path at a time (each after its
own warm-up):

- HTTP: ``POST /api/v1/models/<name>/predict`` through a keep-alive ``requests.Session``, with
  ``Cache-Control: no-cache`` (the result cache would answer a repeated input without running the
  model): the upload as the body itself (``Content-Type: image/jpeg``, as the browser runtime sends
  it) or JSON for text; for images also as a multipart form (``HTTP form``);
- what the host reports in ``Server-Timing`` for the same requests: ``input`` (reading and decoding
  the upload), ``infer`` (prepare, ONNX Runtime, finish) and ``app`` (all of the app);
- ORT: ``InferenceSession.run`` on the prepared feeds, in this process, on the same variant file
  with the same intra-op thread count;
- run_task: ``app.inference.run_task`` in this process (prepare, ONNX Runtime, finish) on the
  already-decoded input.

``outside`` = HTTP - infer: what a request costs beyond the model's own work (the HTTP exchange,
gunicorn, Flask, auth, limits, the upload's decoding, the cache lookup, metrics and the log line).

By default the host runs as production runs it, ``browserml serve --workers 2`` (gunicorn) on a
free port, with its request log on (drained by this process); ``--werkzeug`` runs it in this
process on Werkzeug's threaded server instead. With ``--url`` it measures a running server; the
variant is the one that server reports, read from ``--models-dir`` here (give ``--threads`` the
server's ORT_THREADS).

    .venv/bin/python bench/bench_predict.py [--runs 100] [--warmup 10] [--werkzeug | --url http://host:port]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import DEFAULTS  # noqa: E402
from app.inference import SessionPool, run_task  # noqa: E402 (after the sys.path line)
from app.inputs import decode_image  # noqa: E402 (after the sys.path line)
from app.registry import Registry  # noqa: E402 (after the sys.path line)
from contract.native_runtime import describe as describe_native  # noqa: E402 (after the sys.path line)
from contract.native_runtime import session_options  # noqa: E402 (after the sys.path line)
from contract.tasks import IMAGE_TASKS, task_module  # noqa: E402 (after the sys.path line)
from harness.catalog import face_crop  # noqa: E402 (after the sys.path line)
from harness.live_server import LiveServer  # noqa: E402 (after the sys.path line)

SENTENCE = "The service was slow and the food was cold, but the dessert made up for it."
# The astronaut's face in skimage's astronaut photo, [x, y, w, h] (as in tests/host/test_predict.py).
ASTRONAUT_FACE = [177.3, 80.6, 94.6, 94.6]


def photo_for(name: str) -> bytes:
    """A real photo from scikit-image, JPEG-encoded as a browser would upload it."""
    from skimage import data

    if name == "imagenet":
        image = Image.fromarray(data.chelsea())
    else:
        image = Image.fromarray(data.astronaut())
        if name == "emotion":  # a face crop, as the face-emotion chain makes it
            image = face_crop(image, list(ASTRONAUT_FACE))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def start_server(models_dir: Path, threads: int) -> LiveServer:
    """The host on Werkzeug's threaded server, on a free port, in a thread (as the tests run it)."""
    from app import create_app

    return LiveServer(create_app({"MODELS_DIR": str(models_dir), "ORT_THREADS": threads}))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - started)


def numbers(value: Any) -> list[float]:
    """Every number in a task result, in order (to check that HTTP and in-process agree)."""
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in numbers(value[key])]
    if isinstance(value, list):
        return [x for item in value for x in numbers(item)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def http_calls(http: requests.Session, url: str, name: str, headers: dict[str, str]) -> Any:
    """A function posting one predict request for ``name`` over HTTP."""
    if name in ("imagenet", "face-detector", "emotion"):
        post: dict[str, Any] = {"files": {"image": ("photo.jpg", photo_for(name), "image/jpeg")}}
    else:
        post = {"json": {"text": SENTENCE}}

    def call() -> None:
        response = http.post(f"{url}/api/v1/models/{name}/predict", headers=headers, timeout=120, **post)
        response.raise_for_status()

    return call


def bench_protect(models_dir: Path, names: list[str], runs: int, warmup: int, threads: int) -> None:
    """What auth, rate limits, metrics and the request log add to a request: two hosts side by
    side in this process, one with all of them off, one with all of them on (a real key, a limit
    no test reaches, /metrics counting, one JSON log line per request written to /dev/null)."""
    import contextlib
    import os
    import tempfile

    from app import create_app
    from app.keys import KeyStore

    keys = KeyStore(Path(tempfile.mkdtemp(prefix="bench-keys-")) / "keys.json")
    key = keys.create("bench", "predict")
    bare = {"AUTH": "off", "RATE_LIMIT_PREDICT": None, "METRICS": "off", "LOG_LEVEL": "WARNING"}
    full = {"AUTH": "keys", "KEYS_FILE": str(keys.path), "RATE_LIMIT_PREDICT": "100000/second",
            "METRICS": "public", "LOG_LEVEL": "INFO"}
    rows = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        servers = {label: LiveServer(create_app({"MODELS_DIR": str(models_dir), "ORT_THREADS": threads, **cfg}))
                   for label, cfg in (("bare", bare), ("full", full))}
        try:
            with requests.Session() as http:
                for name in names:
                    calls = {label: http_calls(http, server.url, name,
                                               {"Authorization": f"Bearer {key}"} if label == "full" else {})
                             for label, server in servers.items()}
                    times: dict[str, list[float]] = {"bare": [], "full": []}
                    for call in calls.values():
                        for _ in range(warmup):
                            call()
                    # Alternate blocks of 10 so that drift in the machine's load hits both alike.
                    for _ in range(max(1, runs // 10)):
                        for label, call in calls.items():
                            times[label] += [timed(call) for _ in range(10)]
                    rows.append((name, statistics.median(times["bare"]), statistics.median(times["full"])))
        finally:
            for server in servers.values():
                server.close()
    print(f"{describe_native()}")
    print(f"median HTTP ms of {runs} predict requests each: auth + limits + metrics + request log off vs on")
    print(f"{'model':<15} {'off':>8} {'on':>8} {'added':>8}")
    for name, off, on in rows:
        print(f"{name:<15} {off:>8.3f} {on:>8.3f} {on - off:>+8.3f}")


def bench_floor(http: requests.Session, url: str, runs: int, warmup: int) -> dict[str, float]:
    """The cheapest request (liveness: no model, no body): what the HTTP exchange, the server and
    the app's hooks cost by themselves with this client."""
    times, apps = [], []
    for i in range(warmup + runs):
        started = time.perf_counter()
        response = http.get(f"{url}/v2/health/live", timeout=30)
        took = 1000 * (time.perf_counter() - started)
        response.raise_for_status()
        if i >= warmup:
            times.append(took)
            apps.append(server_timing(response.headers.get("Server-Timing", "")).get("app", 0.0))
    return {"http": statistics.median(times), "app": statistics.median(apps)}


def server_timing(header: str) -> dict[str, float]:
    """``Server-Timing: input;dur=0.6, infer;dur=0.3, app;dur=1.2`` -> {"input": 0.6, ...}."""
    steps = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if duration:
            steps[name] = float(duration)
    return steps


def bench_model(http: requests.Session, url: str, registry: Registry, pool: SessionPool,
                name: str, runs: int, warmup: int) -> dict[str, Any]:
    headers = {"Cache-Control": "no-cache"}  # every request runs the model
    posts: dict[str, dict[str, Any]] = {}
    if name in ("imagenet", "face-detector", "emotion"):
        payload = photo_for(name)
        posts["http"] = {"data": payload, "headers": {**headers, "Content-Type": "image/jpeg"}}
        posts["form"] = {"files": {"image": ("photo.jpg", payload, "image/jpeg")}, "headers": headers}
    else:
        posts["http"] = {"json": {"text": SENTENCE}, "headers": headers}
    reported: dict[str, list[dict[str, float]]] = {key: [] for key in posts}

    def call_http(key: str = "http") -> dict[str, Any]:
        response = http.post(f"{url}/api/v1/models/{name}/predict", timeout=60, **posts[key])
        response.raise_for_status()
        reported[key].append(server_timing(response.headers.get("Server-Timing", "")))
        return response.json()

    first = call_http()  # tells which version and variant the server runs
    model = registry.resolve(name, first["version"])
    variant = first["variant"]
    sample: Any = (decode_image(payload, DEFAULTS["MAX_IMAGE_PIXELS"], DEFAULTS["MIN_IMAGE_SIDE"])
                   if model.task in IMAGE_TASKS else SENTENCE)
    feeds, _ = task_module(model.task).prepare(sample, model.manifest, model.assets)

    session = ort.InferenceSession(str(model.artifacts[variant].path), session_options(pool.threads),
                                   providers=["CPUExecutionProvider"])
    names = [o["name"] for o in model.manifest["outputs"]]

    steps: dict[str, Any] = {key: (lambda key=key: call_http(key)) for key in posts}
    steps["ort"] = lambda: session.run(names, feeds)
    steps["task"] = lambda: run_task(pool, model, variant, sample)
    # One block per path, each after its own warm-up. (Round-robin would be unfair on a
    # small machine: after a run, a session's intra-op threads spin-wait for more work
    # and steal the cores from the next path's session.)
    times: dict[str, list[float]] = {}
    for key, step in steps.items():
        for _ in range(warmup):
            step()
        if key in reported:
            reported[key].clear()
        times[key] = [timed(step) for _ in range(runs)]

    over_http = call_http()
    local, _ = run_task(pool, model, variant, sample)
    meta = {"model", "version", "variant", "backend", "latency_ms", "request_id", "arm"}
    a = numbers({k: v for k, v in over_http.items() if k not in meta})
    b = numbers(local)
    agree = len(a) == len(b) and (not a or float(np.max(np.abs(np.subtract(a, b)))) <= 1e-5)
    medians = {key: statistics.median(values) for key, values in times.items()}
    host = {step: statistics.median(r.get(step, 0.0) for r in reported["http"]) for step in ("input", "infer", "app")}
    outside = statistics.median(t - r.get("infer", 0.0) for t, r in zip(times["http"], reported["http"]))
    return {"model": name, "variant": variant, **medians, **host, "outside": outside, "agree": agree}


def print_table(rows: list[dict[str, Any]], runs: int, threads: int, server: str) -> None:
    header = ("model", "variant", "HTTP ms", "HTTP form ms", "host input", "host infer", "host app",
              "outside", "ORT ms", "run_task ms", "HTTP/ORT", "same result")
    lines = [header]
    for r in rows:
        lines.append((
            r["model"], r["variant"], f"{r['http']:.2f}", f"{r['form']:.2f}" if "form" in r else "-",
            f"{r['input']:.2f}", f"{r['infer']:.2f}", f"{r['app']:.2f}", f"{r['outside']:.2f}",
            f"{r['ort']:.2f}", f"{r['task']:.2f}", f"{r['http'] / r['ort']:.2f}x", "yes" if r["agree"] else "NO",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(f"{describe_native()}")
    print(f"server: {server}; median of {runs} runs each; ORT intra-op threads: {threads or 'default (all cores)'}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("host input/infer/app: the host's Server-Timing; outside = HTTP - host infer (per request, median)")
    for i, line in enumerate(lines):
        cells = zip(line, widths)
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(cells)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def start_gunicorn(models_dir: Path, threads: int, workers: int) -> tuple[Any, str]:
    """``browserml serve --workers N`` on a free port, lifecycle and feedback state in a temporary
    folder, rate limits high enough never to bite (the limiter still runs); its log is read by a
    thread (a full pipe would stall the server)."""
    import tempfile
    import threading

    from harness.live_server import serve

    state = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    env = {"BROWSERML_ORT_THREADS": str(threads), "BROWSERML_LIFECYCLE_DB": str(state / "lifecycle.sqlite"),
           "BROWSERML_DATABASE_URL": f"sqlite:///{state / 'feedback.sqlite'}",
           "BROWSERML_RATE_LIMIT_PREDICT": "100000/second"}
    process, url = serve("--workers", str(workers), "--models-dir", str(models_dir), env=env, seconds=120)
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return process, url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running host (default: start browserml serve --workers 2)")
    where.add_argument("--werkzeug", action="store_true", help="the host in this process on Werkzeug")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the host started here")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--protect", action="store_true",
                        help="measure what auth, limits, metrics and logging add (two hosts side by side)")
    parser.add_argument("models", nargs="*", help="catalog models (default: all)")
    args = parser.parse_args(argv)
    if args.protect:
        names = args.models or sorted(p.stem for p in (args.models_dir / "catalog").glob("*.toml"))
        bench_protect(args.models_dir, names, args.runs, args.warmup, args.threads)
        return 0

    server, process = None, None
    if args.url:
        url, what = args.url.rstrip("/"), args.url
        registry, pool = Registry(args.models_dir), SessionPool(args.threads)
    elif args.werkzeug:
        server = start_server(args.models_dir, args.threads)
        state = server.app.extensions["browserml"]
        url, registry, pool, what = server.url, state.registry, state.pool, "Werkzeug in this process"
    else:
        process, url = start_gunicorn(args.models_dir, args.threads, args.workers)
        registry, pool = Registry(args.models_dir), SessionPool(args.threads)
        what = f"browserml serve --workers {args.workers} (gunicorn gthread)"
    names = args.models or sorted(p.stem for p in (args.models_dir / "catalog").glob("*.toml"))
    try:
        with requests.Session() as http:
            rows = [bench_model(http, url, registry, pool, name, args.runs, args.warmup)
                    for name in names]
            floor = bench_floor(http, url, args.runs, args.warmup)
    finally:
        if server:
            server.close()
        if process:
            process.terminate()
            process.wait(timeout=30)
    print_table(rows, args.runs, args.threads, what)
    print(f"the floor, no model: GET /v2/health/live {floor['http']:.2f} ms over HTTP, "
          f"{floor['app']:.3f} ms in the app")
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
