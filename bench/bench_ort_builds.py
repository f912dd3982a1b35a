"""ONNX Runtime Web's builds and WASM thread counts in Chromium: warm-up, steady state, bytes.

    .venv/bin/python bench/bench_ort_builds.py [--seconds 14] [--threads 2] [--runs 30] [--rounds 2]
        [--before-dist DIR] [--skip-builds] [--skip-threads] [--skip-bytes]

Needs the converted catalog (``make models``), the built frontend (``make frontend``) and
Debian's Chromium. One Chromium (the flags of ``harness/chromium.py``); the host runs in this
process on free ports, cross-origin isolated (COOP/COEP). Three parts:

1. Builds. In a module worker of a blank page, ONNX Runtime Web itself (the two chunks the
   runtime's worker imports: ``onnxruntime-web``, the jsep build, and ``onnxruntime-web/wasm``,
   the plain WASM build) on the WASM execution provider, ``--threads`` threads: import, session
   create from the variant's bytes, then ``session.run`` back to back for ``--seconds`` on a fixed
   input. Per build and variant, cold (a fresh context: empty HTTP cache) then warm (a second
   worker after a reload: wasm from the HTTP cache, Chromium's compiled-code cache): setup ms,
   the first run, the median run of seconds 1, 2, 3, 5 and 8, the median of the last 3 s
   (steady), first/steady, and when (ms after the import started) a second's median first came
   within 1.25x of steady.
   The builds alternate (jsep, wasm, then wasm, jsep on the next variant).
2. Threads. The runtime itself (``loadModel(name, {backend: "wasm", threads})``, its recommended
   WASM variant, pre- and post-processing included: ``latency_ms`` of ``model.run``) with 1 and 2
   threads on the same isolated page kind, each in its own context; ``model.threads`` is checked.
   Blocks of ``--runs`` runs after 5 warm-up runs (and 3 s for a freshly loaded model), 1t then
   2t then 2t then 1t per round (``--rounds``), both contexts open; median over all runs of a
   thread count.
3. Bytes. A cold WASM page (blank page, fresh context, no service worker) that loads and runs
   face-detector and emotion: bytes transferred (encoded bodies + headers), grouped; with
   ``--before-dist DIR`` (an earlier ``vite build``) also for that build, side by side.

The load average is printed before and after each part: on a shared 2-core machine read
ratios from one run, not absolute milliseconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402
from flask import send_file  # noqa: E402

from app import create_app  # noqa: E402
from app.registry import Registry  # noqa: E402
from bench.bench_browser import table  # noqa: E402
from harness.browser import catalog_samples  # noqa: E402
from harness.catalog import MODELS  # noqa: E402
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from harness.live_server import LiveServer  # noqa: E402

DIST = ROOT / "frontend" / "dist"
BLANK = "/__bench__/blank"
BUILD_CASES = [("face-detector", "model.fp16.onnx"), ("face-detector", "model.onnx"), ("emotion", "model.onnx")]
THREAD_MODELS = ["face-detector", "emotion", "imagenet", "sentiment", "text-embedder"]
ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64"}

WORKER_JS = """
self.onmessage = async ({data}) => {
  const {url, threads, model, feeds, seconds} = data;
  const t0 = performance.now();
  const ort = await import(url);
  ort.env.wasm.wasmPaths = location.origin + '/ort/';
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes,
    {executionProviders: ['wasm'], graphOptimizationLevel: 'all'});
  const ready = performance.now() - t0;
  const tensors = {};
  for (const [name, f] of Object.entries(feeds)) {
    const n = f.dims.reduce((a, b) => a * b, 1);
    const data = f.type === 'int64' ? new BigInt64Array(n).fill(1n)
      : f.type === 'float16' ? new Uint16Array(n).fill(0x3800) : new Float32Array(n).map((_, i) => (i % 251) / 251);
    tensors[name] = new ort.Tensor(f.type, data, f.dims);
  }
  const runs = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const s = performance.now();
    const out = await session.run(tensors);
    const e = performance.now();
    runs.push([s - t0, e - s]);
    for (const t of Object.values(out)) t.dispose();
  }
  await session.release();
  self.postMessage({ready, runs});
};
"""

BUILD_JS = """
async (message) => {
  const worker = new Worker('/__bench__/ort-worker.js', {type: 'module'});
  const answer = await new Promise((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage(message);
  });
  worker.terminate();
  return answer;
}
"""

THREADS_JS = """
async ({name, input, runs, warmup, warmupSeconds, threads}) => {
  const lib = await import('/lib/browserml.js');
  window.__models ??= {};
  const fresh = !window.__models[name];
  const model = window.__models[name] ??= await lib.loadModel(name, {backend: 'wasm', threads});
  const arg = input.png ? await createImageBitmap(new Blob([Uint8Array.from(atob(input.png), (c) => c.charCodeAt(0))],
                                                           {type: 'image/png'})) : input.texts;
  const again = () => (input.png ? createImageBitmap(arg) : Promise.resolve(arg));
  // A fresh model warms up for warmupSeconds too: ORT Web's steady speed comes after V8's tier-up.
  const warm = performance.now() + (fresh ? 1000 * warmupSeconds : 0);
  for (let i = 0; i < warmup || performance.now() < warm; i++) await model.run(await again());
  const latency = [];
  for (let i = 0; i < runs; i++) latency.push((await model.run(await again())).latency_ms);
  return {latency, threads: model.threads, variant: model.variant, backend: model.backend,
          cores: navigator.hardwareConcurrency, isolated: crossOriginIsolated};
}
"""

BYTES_JS = """
async ({inputs}) => {
  const lib = await import('/lib/browserml.js');
  for (const [name, png] of Object.entries(inputs)) {
    const model = await lib.loadModel(name, {backend: 'wasm'});
    await model.run(new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], {type: 'image/png'}));
    await model.dispose();
  }
}
"""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_app(dist: Path, registry: Registry):
    flask_app = create_app({"MODELS_DIR": str(MODELS), "FRONTEND_DIST": str(dist), "LOG_LEVEL": "WARNING"})
    html = "<!doctype html><meta charset='utf-8'><title>browserml bench</title>"
    flask_app.add_url_rule(BLANK, "bench_blank", lambda: (html, 200, {"Content-Type": "text/html; charset=utf-8"}))
    flask_app.add_url_rule("/__bench__/ort-worker.js", "bench_worker",
                           lambda: (WORKER_JS, 200, {"Content-Type": "text/javascript", "Cache-Control": "no-store"}))
    flask_app.add_url_rule(
        "/__bench__/model/<name>/<variant>", "bench_model",
        lambda name, variant: send_file(registry.resolve(name).artifacts[variant].path, max_age=0))
    return flask_app


def ort_chunks() -> dict[str, str]:
    """The two ORT Web chunks of the build, by name: jsep (the default entry) and wasm."""
    chunks = {"jsep": sorted((DIST / "assets").glob("ort.min-*.js")),
              "wasm": sorted((DIST / "assets").glob("ort.wasm.min-*.js"))}
    if not all(len(found) == 1 for found in chunks.values()):
        raise SystemExit(f"expected one ort.min-*.js and one ort.wasm.min-*.js in {DIST / 'assets'}: {chunks}")
    return {build: f"/assets/{found[0].name}" for build, found in chunks.items()}


def feeds_of(path: Path) -> dict[str, dict[str, Any]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for spec in session.get_inputs():
        dims = [d if isinstance(d, int) else 1 for d in spec.shape]  # batch of one
        feeds[spec.name] = {"type": ORT_TYPES[spec.type], "dims": dims}
    return feeds


SECONDS_SHOWN = (1, 2, 3, 5, 8)


def summarise(answer: dict[str, Any]) -> dict[str, Any]:
    """Setup, the first runs, the median of each second shown, steady (the last 3 s) and when it was reached."""
    runs = answer["runs"]
    start, last = runs[0][0], runs[-1][0]
    steady = statistics.median([ms for at, ms in runs if at >= last - 3000])

    def second(k: int) -> float:  # median of the runs in the k-th second after the first run
        got = [ms for at, ms in runs if start + 1000 * (k - 1) <= at < start + 1000 * k]
        return statistics.median(got) if got else float("nan")

    total = int((last - start) // 1000) + 1
    reached = next((k for k in range(1, total + 1) if second(k) <= 1.25 * steady), total)
    return {"ready": answer["ready"], "first": runs[0][1], "seconds": [second(k) for k in SECONDS_SHOWN],
            "steady": steady, "reached": start + 1000 * (reached - 1), "runs": len(runs)}


def part_builds(browser, site: LiveServer, registry: Registry, threads: int, seconds: float) -> None:
    chunks = ort_chunks()
    print(f"\n1. ORT Web builds, WASM EP, {threads} threads, session.run back to back for {seconds:.0f} s "
          f"(load average before: {load_average()})")
    rows = []
    for index, (name, variant) in enumerate(BUILD_CASES):
        feeds = feeds_of(registry.resolve(name).artifacts[variant].path)
        order = ["jsep", "wasm"] if index % 2 == 0 else ["wasm", "jsep"]
        for build in order:
            print(f"  {build}: {name} {variant}", file=sys.stderr, flush=True)
            context = browser.new_context()
            page = context.new_page()
            message = {"url": chunks[build], "threads": threads, "model": f"/__bench__/model/{name}/{variant}",
                       "feeds": feeds, "seconds": seconds}
            try:
                for kind in ("cold", "warm"):
                    page.goto(f"{site.url}{BLANK}?sw=off")
                    s = summarise(page.evaluate(BUILD_JS, message))
                    rows.append((f"{name} {variant}", f"{build} {kind}", f"{s['ready']:.0f}", f"{s['first']:.1f}",
                                 *[f"{v:.2f}" for v in s["seconds"]], f"{s['steady']:.2f}",
                                 f"{s['first'] / s['steady']:.1f}x", f"{s['reached']:.0f}", str(s["runs"])))
            finally:
                context.close()
    table(("variant", "build", "setup ms", "run 1", *[f"s{k}" for k in SECONDS_SHOWN], "steady", "run 1/steady",
           "steady at ms", "runs"), rows)
    print("setup = import of the ORT chunk + wasm fetch/compile/instantiate + threads + session create; "
          "sN = median session.run of the N-th second after the first run; steady = median of the last 3 s; "
          "steady at = ms after the import started at which a second's median first came within 1.25x of "
          f"steady. Load average after: {load_average()}")


def part_threads(browser, site: LiveServer, runs: int, rounds: int) -> None:
    samples = catalog_samples()
    print(f"\n2. WASM threads, the runtime's model.run latency_ms (recommended WASM variant, loadModel's "
          f"threads option), median of {rounds * 2} blocks of {runs} runs per thread count after 3 s of "
          f"warm-up (load average before: {load_average()})")
    pages = {}
    contexts = []
    for t in (1, 2):
        context = browser.new_context()
        contexts.append(context)
        pages[t] = context.new_page()
        pages[t].goto(f"{site.url}{BLANK}?sw=off")
    times: dict[tuple[str, int], list[float]] = {}
    info: dict[str, str] = {}
    try:
        for _ in range(rounds):
            for name in THREAD_MODELS:
                for t in (1, 2, 2, 1):
                    print(f"  {t}t: {name}", file=sys.stderr, flush=True)
                    answer = pages[t].evaluate(THREADS_JS, {"name": name, "input": samples[name].js_input(),
                                                             "runs": runs, "warmup": 5, "warmupSeconds": 3,
                                                             "threads": t})
                    if answer["threads"] != t or answer["backend"] != "wasm" or not answer["isolated"]:
                        raise SystemExit(f"{name} ran as {answer}, not on WASM with {t} threads, isolated")
                    times.setdefault((name, t), []).extend(answer["latency"])
                    info[name] = answer["variant"]
    finally:
        for context in contexts:
            context.close()
    rows = []
    for name in THREAD_MODELS:
        one, two = statistics.median(times[(name, 1)]), statistics.median(times[(name, 2)])
        rows.append((name, info[name], f"{one:.2f}", f"{two:.2f}", f"{one / two:.2f}x"))
    table(("model", "variant", "1 thread ms", "2 threads ms", "1t/2t"), rows)
    print(f"1t/2t < 1: one thread is faster. Load average after: {load_average()}")


def page_bytes(browser, site: LiveServer) -> dict[str, int]:
    samples = catalog_samples()
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = {}
    ort_files: list[str] = []

    def finished(request) -> None:
        s = request.sizes()
        path = request.url.split(site.url, 1)[-1].split("?", 1)[0]
        group = ("ORT Web (/ort/)" if path.startswith("/ort/") else "models (.onnx)" if path.endswith(".onnx")
                 else "ORT Web chunks (ort.*.js)" if "/ort." in path else "other (page, library, manifests)")
        sizes[group] = sizes.get(group, 0) + s["responseBodySize"] + s["responseHeadersSize"]
        if path.startswith("/ort/"):
            ort_files.append(path.rsplit("/", 1)[-1])

    context.on("requestfinished", finished)
    try:
        page.goto(f"{site.url}{BLANK}?sw=off")
        page.evaluate(BYTES_JS, {"inputs": {n: samples[n].js_input()["png"] for n in ("face-detector", "emotion")}})
        page.wait_for_timeout(500)
    finally:
        context.close()
    sizes["total"] = sum(sizes.values())
    sizes["files: " + ", ".join(sorted(set(ort_files)))] = -1
    return sizes


def part_bytes(browser, sites: dict[str, LiveServer]) -> None:
    print(f"\n3. Bytes transferred by a cold WASM page (blank page, no service worker, face-detector + emotion "
          f"loaded and run once; encoded bodies + headers; br or gzip as negotiated). Load average: {load_average()}")
    for label, site in sites.items():
        sizes = page_bytes(browser, site)
        print(f"  {label}:")
        for group, size in sizes.items():
            print(f"    {group}" if size < 0 else f"    {group:40s} {size:>12,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=14, help="session.run back to back per build (default 14)")
    parser.add_argument("--threads", type=int, default=2, help="WASM threads in part 1 (default 2)")
    parser.add_argument("--runs", type=int, default=30, help="runs per block in part 2 (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 1t,2t,2t,1t blocks in part 2 (default 2)")
    parser.add_argument("--before-dist", type=Path, help="an earlier frontend build, for part 3")
    parser.add_argument("--skip-builds", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--skip-bytes", action="store_true")
    args = parser.parse_args(argv)
    if not (DIST / "lib" / "browserml.js").is_file():
        parser.error("the frontend is not built; run: make frontend")
    if args.before_dist and not (args.before_dist / "lib" / "browserml.js").is_file():
        parser.error(f"{args.before_dist} is not a frontend build (no lib/browserml.js)")

    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    registry = Registry(MODELS)
    site = LiveServer(bench_app(DIST, registry))
    before = LiveServer(bench_app(args.before_dist.resolve(), registry)) if args.before_dist else None
    print(f"browserml ORT Web builds and threads; os.cpu_count() = {os.cpu_count()}; load average (1, 5, 15 min): "
          f"{load_average()}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                if not args.skip_builds:
                    part_builds(browser, site, registry, args.threads, args.seconds)
                if not args.skip_threads:
                    part_threads(browser, site, args.runs, args.rounds)
                if not args.skip_bytes:
                    sites = {"this build": site} | ({f"before ({args.before_dist})": before} if before else {})
                    part_bytes(browser, sites)
            finally:
                browser.close()
    finally:
        site.close()
        if before:
            before.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
