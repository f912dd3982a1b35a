"""The browser runtime against native ONNX Runtime: latency, cold and warm start, bundle sizes.

    .venv/bin/python bench/bench_browser.py [--runs 20] [--warmup 5] [--warmup-seconds 3] [--skip-start]
        [--skip-latency] [--skip-breakdown] [--start-runs 1] [--baseline-dist DIR] [model ...]

Needs the converted catalog (``make models``), the built frontend (``make frontend``)
and Debian's Chromium (``/usr/bin/chromium``, or ``BROWSERML_CHROMIUM``). One
Chromium is launched (Playwright, the flags of ``harness/chromium.py``) and measures
everything; the host runs in this process on a free port: ``create_app()``
(COOP/COEP, cross-origin isolated; section 1 asks ``loadModel`` for 1 and for 2 WASM
threads, the ``threads`` option), and a second one for ``--baseline-dist``.
Inputs are ``harness.browser.catalog_samples()``.

What is printed, in the order it is measured (each path in its own block: on a
small machine, a thread pool that has just run spins for a while and steals the
cores from whatever runs next, so paths are never interleaved run by run):

1. Latency per model and per variant that passed its gates, suits WASM and fits
   the manifest's client budget. Blocks: browser with 2 threads (every variant),
   browser with 1 thread (every variant), then, with no page open, native ONNX
   Runtime with 1 and then 2 intra-op threads (inter-op 1), one session at a time.
   Browser: the ``latency_ms`` that ``model.run`` returns (pre-processing,
   inference and post-processing inside the worker) on an ImageData decoded once
   on the page outside the timing (the native side starts from decoded pixels
   too), after ``--warmup`` runs and at least
   ``--warmup-seconds`` of runs (ORT Web's wasm reaches its steady speed only after
   V8 has tiered its hot functions up, 0.2-3 s of inference: bench/README.md),
   median of ``--runs``; ``loadModel(name, {backend: "wasm", variant, threads})``
   on the isolated host (the worker a cross-origin isolated page runs). Native: the work
   of ``app.inference.run_task`` (``task.prepare`` + ``session.run`` +
   ``task.finish``) on the decoded input (``app.inputs.decode_image``), timed the
   same way. "same" says whether the browser's and native results agree under
   the browser tests' tolerances (``harness.browser.assert_agrees``). Then, per
   model, its recommended WASM variant: browser/native at 1 and at 2 threads, and
   the thread count the runtime's policy picks on this device (``wasmThreads``).
2. Cold and warm start per model (its recommended variant, ``loadModel(name)``,
   the runtime's own thread count: 1 on 2 cores): cold = a fresh browser context (empty HTTP cache and Cache
   Storage), warm = a second navigation in that context (artifacts from Cache
   Storage: ``model.fromCache`` must be true; the library and ORT Web come from
   the HTTP cache, revalidated). Times are taken in the page with
   ``performance.now()``, i.e. from ``performance.timeOrigin`` (navigation start)
   to the first result of ``run``; the wall clock around ``page.goto`` +
   ``evaluate`` in Python is printed beside them. The page is a blank HTML page
   that this script adds to its own app instances (``/__bench__/blank?sw=off``):
   the demo app at ``/`` starts loading models by itself, which would compete.
   No service worker is registered there (``sw=off`` is in the URL too), so only
   the runtime's own Cache Storage is measured. The host is on localhost: no
   network time is in these numbers. Bytes transferred (encoded bodies + headers)
   are counted per navigation. ``--start-runs N`` repeats each pair in N fresh
   contexts and prints medians; with ``--baseline-dist`` each model's pair runs on
   both builds, alternating (and their order alternating run by run).
3. Bundle sizes of ``frontend/dist``: raw and gzip -9 bytes (no timing).
4. Where a ``run()`` goes, per image model (``loadModel(name, {backend: "wasm"})``, 2
   threads, isolated), from a PNG Blob and from an ImageData made once on the page:
   ``run()`` on the page, the worker's ``latency_ms``, the gap between them, and the
   steps of ``model.lastTimings`` (page input, messaging both ways, pixels, prepare,
   ONNX Runtime, finish). With ``--baseline-dist DIR`` (an earlier ``vite build
   --outDir DIR``) the same is measured on that build too, served by a third host,
   in alternating blocks (baseline, current, baseline, current) of one Chromium, so
   a before/after is one run; a build without ``lastTimings`` shows totals only.

Numbers come from one run on a machine that may be busy; read ratios, not
absolute milliseconds, and run it again before trusting a small difference.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402

from app import create_app  # noqa: E402
from app.config import DEFAULTS  # noqa: E402
from app.inputs import decode_image  # noqa: E402
from app.registry import ModelVersion, Registry  # noqa: E402
from contract.manifest import passes  # noqa: E402
from contract.native_runtime import describe as describe_native  # noqa: E402
from contract.native_runtime import session_options  # noqa: E402
from contract.tasks import task_module  # noqa: E402
from harness.browser import (  # noqa: E402
    Sample,
    assert_agrees,
    catalog_samples,
    max_difference,
    tolerance_for,
)
from harness.catalog import CATALOG, MODELS  # noqa: E402
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from harness.live_server import LiveServer  # noqa: E402

DIST = ROOT / "frontend" / "dist"
BLANK = "/__bench__/blank"
BLANK_HTML = "<!doctype html><meta charset='utf-8'><title>browserml bench</title>"

# --- In the page -------------------------------------------------------------------------

INPUT_JS = """
(input) => input.png
  ? new Blob([Uint8Array.from(atob(input.png), (c) => c.charCodeAt(0))], {type: 'image/png'})
  : input.texts
"""

LATENCY_JS = """
async ({name, input, options, warmup, warmupSeconds, runs}) => {
  const toArg = %s;
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel(name, options);
  let arg = toArg(input);
  if (input.png) {  // decoded once, outside the timing, as native's decode_image is
    const bitmap = await createImageBitmap(arg);
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
    context.drawImage(bitmap, 0, 0);
    arg = context.getImageData(0, 0, bitmap.width, bitmap.height);
  }
  let result = null;
  const warm = performance.now() + 1000 * warmupSeconds;
  for (let i = 0; i < warmup || performance.now() < warm; i++) result = await model.run(arg);
  const latency = [], roundTrip = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    result = await model.run(arg);
    roundTrip.push(performance.now() - started);
    latency.push(result.latency_ms);
  }
  const info = {backend: model.backend, variant: model.variant, threads: model.threads,
                fallbackReason: model.fallbackReason, isolated: crossOriginIsolated};
  await model.dispose();
  return {latency, roundTrip, result, info};
}
""" % INPUT_JS

START_JS = """
async ({name, input}) => {
  const toArg = %s;
  const arg = toArg(input);
  const start = performance.now();       // ms since navigation start (performance.timeOrigin)
  const lib = await import('/lib/browserml.js');
  const imported = performance.now();
  const model = await lib.loadModel(name);
  const loaded = performance.now();
  const result = await model.run(arg);
  const done = performance.now();
  const info = {backend: model.backend, variant: model.variant, threads: model.threads,
                fromCache: model.fromCache, loadMs: model.loadMs, latency: result.latency_ms};
  await model.dispose();
  return {start, imported, loaded, done, info};
}
""" % INPUT_JS


BREAKDOWN_JS = """
async ({name, input, kind, warmup, runs}) => {
  const toArg = %s;
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel(name, {backend: 'wasm'});
  let arg = toArg(input);
  if (kind === 'imagedata') {      // decoded once, outside the timing: a camera or canvas app's input
    const bitmap = await createImageBitmap(arg);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    arg = context.getImageData(0, 0, bitmap.width, bitmap.height);
  }
  for (let i = 0; i < warmup; i++) await model.run(arg);
  const rows = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = await model.run(arg);
    rows.push({total: performance.now() - started, latency: result.latency_ms, steps: model.lastTimings ?? null});
  }
  const info = {backend: model.backend, variant: model.variant, threads: model.threads};
  await model.dispose();
  return {rows, info};
}
""" % INPUT_JS

BREAKDOWN_MODELS = ("face-detector", "emotion", "imagenet")
BREAKDOWN_INPUTS = ("blob", "imagedata")
STEPS = ("input", "toWorker", "pixels", "prepare", "infer", "finish", "fromWorker")


# --- Setup -------------------------------------------------------------------------------

def bench_app(isolated: bool, dist: Path | None = None):
    """The host as ``browserml serve`` builds it, plus a blank page to run the library from."""
    config: dict[str, Any] = {"MODELS_DIR": str(MODELS)}
    if dist is not None:
        config["FRONTEND_DIST"] = str(dist)
    if not isolated:
        config["CROSS_ORIGIN_ISOLATION"] = False
    flask_app = create_app(config)
    flask_app.add_url_rule(
        BLANK, "bench_blank",
        lambda: (BLANK_HTML, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}),
    )
    return flask_app


@dataclass
class Case:
    """One model variant to time, with its input."""

    model: ModelVersion
    variant: str
    bytes: int
    sample: Sample
    times: dict[str, list[float]] = field(default_factory=dict)  # path -> ms per run
    results: dict[str, Any] = field(default_factory=dict)  # path -> last result
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name


def wasm_variants(model: ModelVersion) -> list[dict[str, Any]]:
    """Variants that passed their gates, suit WASM and fit the client budget, in manifest order."""
    budget = model.manifest["client"]["max_client_bytes"]
    return [v for v in model.manifest["variants"]
            if passes(v, "wasm") and v["bytes"] <= budget]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --- 1. Latency --------------------------------------------------------------------------

def browser_block(browser, url: str, cases: list[Case], key: str, threads: int, isolated: bool,
                  warmup: int, warmup_seconds: float, runs: int) -> None:
    """Every case in one page of a fresh context at ``url``: load with ``threads``, warm up, time, dispose."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}{BLANK}?sw=off")
    try:
        for case in cases:
            print(f"  browser {threads}t: {case.name} {case.variant}", file=sys.stderr, flush=True)
            options = {"backend": "wasm", "variant": case.variant, "threads": threads}
            try:
                answer = page.evaluate(LATENCY_JS, {"name": case.name, "input": case.sample.js_input(),
                                                    "options": options, "warmup": warmup,
                                                    "warmupSeconds": warmup_seconds, "runs": runs})
            except Exception as err:  # noqa: BLE001 - a benchmark reports and goes on
                case.errors[key] = str(err).splitlines()[0]
                continue
            info = answer["info"]
            want = {"backend": "wasm", "variant": case.variant, "threads": threads, "isolated": isolated}
            got = {k: info[k] for k in want}
            if got != want:
                case.errors[key] = f"ran as {got} ({info['fallbackReason']})"
                continue
            case.times[key] = answer["latency"]
            case.times[key + " round trip"] = answer["roundTrip"]
            case.results[key] = answer["result"]
    finally:
        context.close()


def native_session(case: Case, threads: int) -> ort.InferenceSession:
    return ort.InferenceSession(str(case.model.artifacts[case.variant].path), session_options(threads),
                                providers=["CPUExecutionProvider"])


def native_block(cases: list[Case], threads: int, warmup: int, runs: int) -> None:
    """``run_task`` semantics (prepare, session.run, finish) with ``threads`` intra-op threads."""
    key = f"native {threads}t"
    for case in cases:
        print(f"  native {threads}t: {case.name} {case.variant}", file=sys.stderr, flush=True)
        sample: Any = (decode_image(case.sample.png, DEFAULTS["MAX_IMAGE_PIXELS"], DEFAULTS["MIN_IMAGE_SIDE"])
                       if case.sample.is_image else list(case.sample.texts))
        task = task_module(case.model.task)
        manifest, assets = case.model.manifest, case.model.assets
        names = [o["name"] for o in manifest["outputs"]]
        session = native_session(case, threads)

        def once() -> dict[str, Any]:
            feeds, context = task.prepare(sample, manifest, assets)
            return task.finish(session.run(names, feeds), context, manifest, assets)

        for _ in range(warmup):
            once()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            result = once()
            times.append(1000 * (time.perf_counter() - started))
        case.times[key] = times
        case.results[key] = result
        session = None  # release this session before the next one is made


def agrees(case: Case, threads: int) -> str:
    """Browser and native results for the same variant agree (the browser tests' tolerances);
    "yes" carries the largest score / embedding difference measured."""
    got, want = case.results.get(f"wasm {threads}t"), case.results.get(f"native {threads}t")
    if got is None or want is None:
        return "-"
    try:
        assert_agrees(got, want, case.name, tolerance_for(case.model.manifest, case.variant))
    except AssertionError as err:
        return f"NO ({err})"
    return f"yes {max_difference(got, want):.1e}"


# --- 2. Cold and warm start ---------------------------------------------------------------

def start_block(browser, url: str, name: str, sample: Sample, build: str = "current") -> list[dict[str, Any]]:
    """One model: a fresh context (cold), then a second navigation in it (warm), with the bytes each
    transferred (encoded bodies + headers, as the host sent them)."""
    print(f"  start {build}: {name}", file=sys.stderr, flush=True)
    rows = []
    context = browser.new_context()
    transferred = [0]

    def finished(request) -> None:
        sizes = request.sizes()
        transferred[0] += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    context.on("requestfinished", finished)
    page = context.new_page()
    try:
        for kind in ("cold", "warm"):
            transferred[0] = 0
            started = time.perf_counter()
            page.goto(f"{url}{BLANK}?sw=off")
            answer = page.evaluate(START_JS, {"name": name, "input": sample.js_input()})
            wall = 1000 * (time.perf_counter() - started)
            page.wait_for_timeout(200)  # the last requestfinished events (telemetry) come in
            rows.append({"model": name, "kind": kind, "build": build, "wall": wall, "bytes": transferred[0],
                         **answer})
    except Exception as err:  # noqa: BLE001
        rows.append({"model": name, "kind": "error", "build": build, "error": str(err).splitlines()[0]})
    finally:
        context.close()
    return rows


# --- 4. Where a run() goes ----------------------------------------------------------------

def breakdown_block(browser, url: str, build: str, names: list[str], samples: dict[str, Sample],
                    warmup: int, runs: int, into: dict[tuple[str, str, str], list[dict[str, Any]]]) -> None:
    """Every (model, input kind) in one page of a fresh context at ``url``; rows appended to ``into``."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}{BLANK}?sw=off")
    try:
        for name in names:
            for kind in BREAKDOWN_INPUTS:
                print(f"  breakdown {build}: {name} {kind}", file=sys.stderr, flush=True)
                answer = page.evaluate(BREAKDOWN_JS, {"name": name, "input": samples[name].js_input(), "kind": kind,
                                                      "warmup": warmup, "runs": runs})
                into.setdefault((name, kind, build), []).extend(answer["rows"])
    finally:
        context.close()


def print_breakdown(rows: dict[tuple[str, str, str], list[dict[str, Any]]], runs: int) -> None:
    print(f"\n4. Where a run() goes, wasm 2 threads, recommended wasm variant, median of {runs} runs per block "
          "(ms). run() = model.run on the page; latency = latency_ms (the worker); gap = run() - latency; "
          "steps from model.lastTimings: input = page side (Blob: decode to an ImageBitmap), to/from = "
          "messaging, pixels = bitmap to RGBA in the worker, prepare, infer = session.run, finish")
    out = []
    for (name, kind, build), values in rows.items():
        med = {key: median([r[key] for r in values]) for key in ("total", "latency")}
        gap = median([r["total"] - r["latency"] for r in values])
        steps = [median([r["steps"][s] for r in values]) if all(r["steps"] for r in values) else float("nan")
                 for s in STEPS]
        out.append((name, kind, build, ms(med["total"]), ms(med["latency"]), ms(gap), *[ms(v) for v in steps]))
    table(("model", "input", "build", "run()", "latency", "gap", *STEPS), out, left=3)


# --- 3. Bundle sizes ----------------------------------------------------------------------

IMPORT_RE = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}/[^"']+\.m?js)["']""")


def imported_files(entry: Path) -> list[Path]:
    """``entry`` and the chunks it imports, statically or dynamically (relative specifiers), recursively."""
    seen: list[Path] = []
    todo = [entry.resolve()]
    while todo:
        path = todo.pop(0)
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        for spec in IMPORT_RE.findall(path.read_text(errors="replace")):
            todo.append((path.parent / spec).resolve())
    return seen


def gzip9(path: Path) -> int:
    """Bytes after ``gzip -9`` (the gzip binary when present, else zlib level 9)."""
    if shutil.which("gzip"):
        return len(subprocess.run(["gzip", "-9", "-c", "-n", str(path)], check=True, capture_output=True).stdout)
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def bundle_groups() -> list[tuple[str, list[Path]]]:
    """What a page loads, grouped: the library, its worker, ONNX Runtime Web, the demo app."""
    library = imported_files(DIST / "lib" / "browserml.js")
    worker = [p for p in imported_files(DIST / "lib" / "worker.js") if p not in library]
    ort_files = sorted(p for p in (DIST / "ort").iterdir() if p.suffix in (".wasm", ".mjs"))
    shown = set(library) | set(worker)
    demo = [DIST / "index.html"] + sorted(
        p for p in (DIST / "assets").iterdir() if p.suffix in (".js", ".css") and p.resolve() not in shown)
    demo += [p for p in (DIST / "sw.js", DIST / "shell.json") if p.is_file()]
    return [("library (lib/browserml.js + chunks)", library),
            ("worker (lib/worker.js + chunks not above)", worker),
            ("ONNX Runtime Web (ort/)", ort_files),
            ("demo app (index.html, its own assets, sw.js)", demo)]


# --- Printing -----------------------------------------------------------------------------

def table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 2) -> None:
    """Plain aligned columns: the first ``left`` left-aligned, the rest right-aligned."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("  ".join(c.ljust(w) if j < left else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # nan -> "-"


def ratio(a: float, b: float) -> str:
    return "-" if a != a or b != b or not b else f"{a / b:.2f}x"


def print_latency(cases: list[Case], warmup: int, runs: int) -> None:
    print(f"\n1. Latency, median of {runs} runs after {warmup} warm-up runs (ms). browser = latency_ms of "
          "model.run (prepare + ORT Web + finish, in the worker); native = prepare + session.run + finish "
          "(run_task) with intra_op_num_threads = 1 or 2, inter_op 1; x = browser / native")
    rows = []
    for case in cases:
        m = {key: median(values) for key, values in case.times.items()}
        nan = float("nan")
        w1, n1 = m.get("wasm 1t", nan), m.get("native 1t", nan)
        w2, n2 = m.get("wasm 2t", nan), m.get("native 2t", nan)
        rows.append((case.name, case.variant, f"{case.bytes / 1e6:.2f}",
                     ms(w1), ms(n1), ratio(w1, n1), ms(w2), ms(n2), ratio(w2, n2),
                     ratio(w1, w2), ratio(n1, n2),
                     ms(m.get("wasm 2t round trip", nan)),
                     "/".join(agrees(case, t).split(" ")[0] for t in (1, 2)),
                     "/".join((agrees(case, t).split(" ") + ["-"])[1] for t in (1, 2))))
    table(("model", "variant", "MB", "wasm 1t", "native 1t", "x 1t", "wasm 2t", "native 2t", "x 2t",
           "wasm 1t/2t", "native 1t/2t", "run() 2t", "same 1t/2t", "max diff 1t/2t"), rows)
    print("run() 2t: the page's round trip of model.run with 2 threads (adds copying the ImageData to the "
          "worker and messaging).")
    for case in cases:
        for key, err in case.errors.items():
            print(f"! {case.name} {case.variant} {key}: {err}")
        for t in (1, 2):
            verdict = agrees(case, t)
            if verdict.startswith("NO"):
                print(f"! {case.name} {case.variant} {t}t: browser and native differ: {verdict[4:-1]}")
    print_recommended(cases)


# The runtime's thread policy on this machine (an isolated page): ``wasmThreads`` in
# frontend/src/runtime/backends.ts, for the "policy" column only.
HEAVY_VARIANT_BYTES = 2e6


def policy_threads(variant_bytes: int) -> int:
    cores = os.cpu_count() or 1
    if cores < 2 or variant_bytes < HEAVY_VARIANT_BYTES:
        return 1
    return min(4, max(2, -(-cores // 2)))


def print_recommended(cases: list[Case]) -> None:
    """browser/native per model on its recommended WASM variant, at 1 and 2 threads and at the policy's."""
    rows = []
    for case in cases:
        if case.variant != case.model.manifest["recommended"]["wasm"]:
            continue
        m = {key: median(values) for key, values in case.times.items()}
        nan = float("nan")
        cells: list[str] = [case.name, case.variant]
        for t in (1, 2):
            cells += [ms(m.get(f"wasm {t}t", nan)), ms(m.get(f"native {t}t", nan)),
                      ratio(m.get(f"wasm {t}t", nan), m.get(f"native {t}t", nan))]
        t = policy_threads(case.bytes)
        best_native = min(m.get("native 1t", nan), m.get("native 2t", nan))
        cells += [f"{t}t", ratio(m.get(f"wasm {t}t", nan), m.get(f"native {t}t", nan)),
                  ratio(m.get(f"wasm {t}t", nan), best_native)]
        rows.append(tuple(cells))
    if not rows:
        return
    print("\nbrowser/native on each model's recommended WASM variant (prepare + run + finish both sides; "
          "goal: at most 3x, 2x for face-detector). policy = the threads the runtime picks here "
          "(wasmThreads); x policy = browser / native at those threads; x best = browser at those "
          "threads / the faster native thread count")
    table(("model", "variant", "wasm 1t", "native 1t", "x 1t", "wasm 2t", "native 2t", "x 2t",
           "policy", "x policy", "x best"), rows)


def print_starts(rows: list[dict[str, Any]]) -> None:
    print("\n2. Cold and warm start, recommended variant, the runtime's threads (ms since navigation start, "
          "performance.timeOrigin, measured in the page; blank same-origin page, ?sw=off, localhost; medians "
          "of n fresh contexts, builds interleaved). page = document ready to script; import = "
          "/lib/browserml.js imported; loadModel = manifest + artifacts + session; first run = the first model.run")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    out = []
    for r in rows:
        if r["kind"] == "error":
            out.append((r["model"], "error", r["build"], r["error"], *[""] * 11))
        else:
            groups.setdefault((r["model"], r["kind"], r["build"]), []).append(r)
    for (model, kind, build), group in groups.items():
        info = group[-1]["info"]

        def med(value) -> float:
            return median([value(r) for r in group])

        out.append((model, kind, build, f"{info['variant']} ({info['backend']}, {info['threads']}t)", str(len(group)),
                    f"{med(lambda r: r['start']):.0f}", f"{med(lambda r: r['imported'] - r['start']):.0f}",
                    f"{med(lambda r: r['loaded'] - r['imported']):.0f}",
                    f"{med(lambda r: r['done'] - r['loaded']):.0f}",
                    f"{med(lambda r: r['done']):.0f}", f"{med(lambda r: r['done'] - r['start']):.0f}",
                    f"{med(lambda r: r['wall']):.0f}", f"{med(lambda r: r['info']['loadMs']):.0f}",
                    f"{med(lambda r: r['info']['latency']):.1f}", f"{med(lambda r: r['bytes']) / 1e6:.2f}",
                    "/".join(sorted({str(r["info"]["fromCache"]).lower() for r in group}))))
    table(("model", "start", "build", "variant", "n", "page", "import", "loadModel", "first run", "total",
           "from script", "wall (py)", "loadMs", "latency_ms", "MB", "fromCache"), out, left=4)
    print("total = navigation start to the first result, in the page (page includes Playwright's "
          "evaluate dispatch after the load event); from script = total - page (what a page's own script "
          "waits); wall (py) = page.goto + evaluate around it, from Python; loadMs = the worker's "
          "fetch/verify/cache + session create + warm-up (the first one in a page also initialises ORT Web: "
          "wasm compile/instantiate, threads); MB = bytes transferred (encoded bodies + headers).")
    for r in rows:
        if r["kind"] == "warm" and r["info"]["fromCache"] is not True:
            print(f"! {r['model']} ({r['build']}): the warm start did not come from Cache Storage")


def print_bundles() -> None:
    print("\n3. Bundle sizes (frontend/dist, source maps excluded), bytes")
    rows = []
    total_raw = total_gz = 0
    for group, files in bundle_groups():
        raw_sum = gz_sum = 0
        for path in files:
            raw, gz = path.stat().st_size, gzip9(path)
            raw_sum, gz_sum = raw_sum + raw, gz_sum + gz
            rows.append((str(path.relative_to(DIST)), group, f"{raw:,}", f"{gz:,}"))
        rows.append(("", f"= {group}", f"{raw_sum:,}", f"{gz_sum:,}"))
        total_raw, total_gz = total_raw + raw_sum, total_gz + gz_sum
    rows.append(("", "= everything above", f"{total_raw:,}", f"{total_gz:,}"))
    table(("file", "group", "raw", "gzip -9"), rows)


def header() -> str:
    web = ROOT / "frontend" / "node_modules" / "onnxruntime-web" / "package.json"
    web_version = re.search(r'"version":\s*"([^"]+)"', web.read_text()).group(1) if web.is_file() else "?"
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    return (f"browserml browser benchmark on {platform.machine()} {platform.system()}, "
            f"os.cpu_count() = {os.cpu_count()}; {chromium}; onnxruntime-web {web_version}, "
            f"{describe_native()}; numbers and ratios are from one run")


# --- Main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per path (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0,
                        help="browser: untimed runs for at least this long too (default 3: ORT Web's steady speed)")
    parser.add_argument("--skip-latency", action="store_true", help="no latency tables (1.)")
    parser.add_argument("--skip-start", action="store_true", help="no cold/warm start table (2.)")
    parser.add_argument("--skip-breakdown", action="store_true", help="no run() breakdown (4.)")
    parser.add_argument("--start-runs", type=int, default=1,
                        help="cold + warm starts per model and build, interleaved (default 1)")
    parser.add_argument("--baseline-dist", type=Path, default=None,
                        help="an earlier build (vite build --outDir DIR) to measure the starts and breakdown on too")
    parser.add_argument("models", nargs="*", help=f"catalog models (default: {' '.join(CATALOG)})")
    args = parser.parse_args(argv)
    names = args.models or CATALOG
    if unknown := sorted(set(names) - set(CATALOG)):
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(CATALOG)}")
    if not (DIST / "lib" / "browserml.js").is_file():
        parser.error("the frontend is not built; run: make frontend")
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} not found; install chromium or set BROWSERML_CHROMIUM")

    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    registry = Registry(MODELS)
    samples = catalog_samples()
    cases = [Case(registry.resolve(name), v["file"], v["bytes"], samples[name])
             for name in names for v in wasm_variants(registry.resolve(name))]
    load_before = load_average()
    if args.baseline_dist is not None and not (args.baseline_dist / "lib" / "browserml.js").is_file():
        parser.error(f"{args.baseline_dist} holds no lib/browserml.js; build one with vite build --outDir DIR")
    isolated_site = LiveServer(bench_app(isolated=True))
    baseline_site = LiveServer(bench_app(isolated=True, dist=args.baseline_dist)) if args.baseline_dist else None
    breakdown_names = [n for n in BREAKDOWN_MODELS if n in names]
    breakdown: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    starts: list[dict[str, Any]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                if not args.skip_latency:
                    # Order: browser 2 threads, browser 1 thread, native 1 thread, native 2 threads.
                    browser_block(browser, isolated_site.url, cases, "wasm 2t", 2, True, args.warmup,
                                  args.warmup_seconds, args.runs)
                    browser_block(browser, isolated_site.url, cases, "wasm 1t", 1, True, args.warmup,
                                  args.warmup_seconds, args.runs)
                    native_block(cases, 1, args.warmup, args.runs)
                    native_block(cases, 2, args.warmup, args.runs)
                if not args.skip_start:
                    # Fresh contexts, builds alternating model by model (and their order run by run).
                    start_sites = [("current", isolated_site)]
                    if baseline_site:
                        start_sites.insert(0, ("baseline", baseline_site))
                    for i in range(args.start_runs):
                        for name in names:
                            for build, site in (start_sites if i % 2 == 0 else start_sites[::-1]):
                                starts += start_block(browser, site.url, name, samples[name], build)
                if not args.skip_breakdown and breakdown_names:
                    sites = [("current", isolated_site)]
                    if baseline_site:
                        sites.insert(0, ("baseline", baseline_site))
                    for _ in range(2 if baseline_site else 1):  # alternate blocks: machine drift hits both
                        for build, site in sites:
                            breakdown_block(browser, site.url, build, breakdown_names, samples,
                                            args.warmup, args.runs, breakdown)
            finally:
                browser.close()
    finally:
        isolated_site.close()
        if baseline_site:
            baseline_site.close()

    print(header())
    print(f"load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")
    print("order: browser 2 threads (all variants), browser 1 thread (all variants), native 1 thread, "
          "native 2 threads, then cold/warm starts; each path in its own block, one Chromium launch")
    if not args.skip_latency:
        print_latency(cases, args.warmup, args.runs)
    if not args.skip_start:
        print_starts(starts)
    print_bundles()
    if breakdown:
        print_breakdown(breakdown, args.runs)
    failed = any(case.errors for case in cases) or any(r["kind"] == "error" for r in starts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
