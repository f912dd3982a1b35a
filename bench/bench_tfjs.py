"""TF.js against ONNX Runtime Web, both behind browserml's loadModel/run, in one Chromium.

    .venv/bin/python bench/bench_tfjs.py [--runs 40] [--warmup 5] [--warmup-seconds 3] [--blocks 4]
        [--cold-runs 3] [--backends tfjs-wasm tfjs-webgl] [MODEL ...]

For every catalog model with TF.js graph models (``[tfjs]`` in its recipe: emotion,
face-detector), on the same input (harness.browser.catalog_samples(): a PNG, decoded once into an
ImageData outside the timing):

- ``ort``: ``loadModel(name, {backend: "wasm"})``: the manifest's WASM pick, the runtime's thread
  policy (1 thread for these small variants: frontend/src/runtime/backends.ts);
- ``tfjs-wasm`` (and any other ``--backends``): ``loadModel(name, {backend})``: the manifest's
  pick for that TF.js backend, 1 thread (tfjs-backend-wasm 4.22: tfjs#8513).

1. Steady state: both sides loaded in one page, each warmed up (``--warmup`` runs and
   ``--warmup-seconds``), then timed in interleaved blocks (ort, tfjs, ort, tfjs, ...); the median
   of a full ``await model.run(input)`` from the page, and the first run after load. The sides'
   answers are compared: the same top label (emotion), the same number of faces with box IoU >= 0.9
   (face-detector).
2. Cold start: a fresh context per run (empty HTTP cache and Cache Storage), sides alternating;
   from navigation start: importing the library, ``loadModel`` and the first result, and the bytes
   transferred (encoded bodies + headers of every request, workers included).

Prints numbers and ratios from this one run, with the CPU and the load average; nothing is
asserted on times (the machines are noisy). Exit status 1 if the sides disagree or a side fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_browser import BLANK, INPUT_JS, bench_app, load_average, median  # noqa: E402

from app.registry import Registry  # noqa: E402
from contract.native_runtime import cpu  # noqa: E402
from convert.evaluate import box_iou  # noqa: E402
from harness.browser import catalog_samples  # noqa: E402
from harness.catalog import MODELS  # noqa: E402
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from harness.live_server import LiveServer  # noqa: E402

TFJS_CHOICES = ("tfjs-wasm", "tfjs-webgl", "tfjs-webgpu")

LOAD_JS = """
async ({sides, name, input}) => {
  const toArg = %s;
  const lib = await import('/lib/browserml.js');
  const bitmap = await createImageBitmap(toArg(input));
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
  context.drawImage(bitmap, 0, 0);
  const B = window.__bench = {input: context.getImageData(0, 0, bitmap.width, bitmap.height), models: {}};
  const out = {};
  for (const side of sides) {
    const started = performance.now();
    const model = await lib.loadModel(name, {backend: side === 'ort' ? 'wasm' : side});
    const loaded = performance.now();
    const first = await model.run(B.input);
    B.models[side] = model;
    out[side] = {load: loaded - started, first: performance.now() - loaded, backend: model.backend,
                 variant: model.variant, threads: model.threads, reason: model.reason};
  }
  return out;
}
""" % INPUT_JS

TIME_JS = """
async ({side, runs, seconds}) => {
  const model = window.__bench.models[side];
  const times = [];
  let result = null;
  const begun = performance.now();
  for (let i = 0; i < runs || performance.now() - begun < 1000 * seconds; i++) {
    const started = performance.now();
    result = await model.run(window.__bench.input);
    times.push(performance.now() - started);
  }
  return {times, result};
}
"""

COLD_JS = """
async ({side, name, input}) => {
  const toArg = %s;
  const arg = toArg(input);
  const start = performance.now();             // ms since navigation start
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel(name, {backend: side === 'ort' ? 'wasm' : side});
  const loaded = performance.now();
  await model.run(arg);
  const done = performance.now();
  return {start, loaded, done, variant: model.variant, backend: model.backend};
}
""" % INPUT_JS


def agree(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """"yes ..." when two answers are the same for a user, else "NO ..."."""
    if "labels" in ours:
        a, b = ours["labels"][0]["label"], theirs["labels"][0]["label"]
        gap = abs(ours["labels"][0]["score"] - theirs["labels"][0]["score"])
        return f"{'yes' if a == b else 'NO'} ({a} / {b}, top score differs by {gap:.1e})"
    faces_a, faces_b = ours["faces"], theirs["faces"]
    if len(faces_a) != len(faces_b):
        return f"NO ({len(faces_a)} / {len(faces_b)} faces)"
    worst = min((max(box_iou(f["box"], g["box"]) for g in faces_b) for f in faces_a), default=1.0)
    return f"{'yes' if worst >= 0.9 else 'NO'} ({len(faces_a)} face(s), box IoU >= {worst:.3f})"


def steady(browser: Any, url: str, name: str, sides: list[str], sample: Any, args: argparse.Namespace) -> dict:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{url}{BLANK}?sw=off")
        info = page.evaluate(LOAD_JS, {"sides": sides, "name": name, "input": sample.js_input()})
        for side in sides:
            page.evaluate(TIME_JS, {"side": side, "runs": args.warmup, "seconds": args.warmup_seconds})
        times: dict[str, list[float]] = {side: [] for side in sides}
        results: dict[str, Any] = {}
        per_block = max(1, args.runs // args.blocks)
        for _ in range(args.blocks):
            for side in sides:
                out = page.evaluate(TIME_JS, {"side": side, "runs": per_block, "seconds": 0})
                times[side] += out["times"]
                results[side] = out["result"]
        return {"info": info, "times": times, "results": results}
    except Exception as err:  # noqa: BLE001
        return {"error": str(err).splitlines()[0]}
    finally:
        context.close()


def cold(browser: Any, url: str, name: str, side: str, sample: Any) -> dict[str, Any]:
    context = browser.new_context()
    sizes: list[int] = []
    context.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]
                                                        + r.sizes()["responseHeadersSize"]))
    page = context.new_page()
    try:
        page.goto(f"{url}{BLANK}?sw=off")
        out = page.evaluate(COLD_JS, {"side": side, "name": name, "input": sample.js_input()})
        page.wait_for_timeout(300)  # the last requestfinished events
        return {**out, "bytes": sum(sizes), "requests": len(sizes)}
    except Exception as err:  # noqa: BLE001
        return {"error": str(err).splitlines()[0]}
    finally:
        context.close()


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=40, help="timed runs per side (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per side first (default 5)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0, help="and for at least this long (default 3)")
    parser.add_argument("--blocks", type=int, default=4, help="interleaved blocks (default 4)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts per side and model (default 3)")
    parser.add_argument("--backends", nargs="+", default=["tfjs-wasm"], choices=TFJS_CHOICES,
                        help="TF.js backends to compare with ORT Web's WASM (default tfjs-wasm)")
    parser.add_argument("models", nargs="*", help="models (default: every model with TF.js graph models)")
    args = parser.parse_args(argv)
    if min(args.runs, args.blocks, args.warmup + 1, args.cold_runs + 1) < 1:
        parser.error("--runs and --blocks must be at least 1; --warmup and --cold-runs at least 0")
    registry = Registry(MODELS)
    with_tfjs = [m.name for m in registry if m.manifest["recommended"].get("tfjs-wasm")]
    names = args.models or with_tfjs
    if unknown := sorted(set(names) - set(with_tfjs)):
        parser.error(f"{', '.join(unknown)}: no TF.js graph model served; models with one: {', '.join(with_tfjs)}")
    if not (ROOT / "frontend" / "dist" / "lib" / "browserml.js").is_file():
        parser.error("the frontend is not built; run: make frontend")

    from playwright.sync_api import sync_playwright

    for logger in ("werkzeug", "browserml.request"):  # no line per request
        logging.getLogger(logger).setLevel(logging.WARNING)
    sides = ["ort", *args.backends]
    samples = catalog_samples()
    load_before = load_average()
    site = LiveServer(bench_app(isolated=True))
    steady_rows: dict[str, dict] = {}
    cold_rows: list[tuple[str, dict[str, Any]]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                for name in names:
                    print(f"  steady: {name}", file=sys.stderr, flush=True)
                    steady_rows[name] = steady(browser, site.url, name, sides, samples[name], args)
                    for _ in range(args.cold_runs):
                        for side in sides:
                            print(f"  cold: {name} {side}", file=sys.stderr, flush=True)
                            cold_rows.append((name, {"side": side, **cold(browser, site.url, name, side,
                                                                            samples[name])}))
            finally:
                browser.close()
    finally:
        site.close()
    host = cpu()
    print(f"TF.js vs ONNX Runtime Web in browserml, Chromium ({CHROMIUM}); CPU {host.get('model', '?')} "
          f"({' '.join(host.get('flags', []))}); load average {load_before} -> {load_average()}; one run.\n")
    ok = True
    print(f"## Steady state: median of {args.runs} full run() calls per side from the page, interleaved in "
          f"{args.blocks} blocks, after {args.warmup} runs and {args.warmup_seconds:g} s of warm-up\n")
    rows = []
    for name, row in steady_rows.items():
        if "error" in row:
            ok = False
            rows.append((name, "error", row["error"], "", "", "", ""))
            continue
        base = median(row["times"]["ort"])
        for side in sides:
            info = row["info"][side]
            mid = median(row["times"][side])
            same = "-" if side == "ort" else agree(row["results"]["ort"], row["results"][side])
            ok = ok and not same.startswith("NO")
            threads = f"{info['threads']} thread" if info.get("threads") else "GPU"
            rows.append((name, f"{side}: {info['variant']} ({threads})", f"{mid:.2f}",
                         f"{mid / base:.2f}x", f"{info['first']:.1f}", f"{info['first'] / mid:.1f}x", same))
    table(("model", "side: variant", "steady ms", "x ort", "first run ms", "first / steady", "answers agree"), rows)
    if cold_rows:
        print(f"\n## Cold start: fresh context, navigation start to the first result ({args.cold_runs} per side, "
              "alternating)\n")
        rows = []
        for name in names:
            for side in sides:
                runs = [r for n, r in cold_rows if n == name and r["side"] == side]
                good = [r for r in runs if "error" not in r]
                ok = ok and len(good) == len(runs)
                if not good:
                    rows.append((name, side, "error: " + runs[0].get("error", "?") if runs else "-", "", "", ""))
                    continue
                rows.append((name, f"{side}: {good[0]['variant']}",
                             " / ".join(f"{r['done']:.0f}" for r in good),
                             " / ".join(f"{r['loaded'] - r['start']:.0f}" for r in good),
                             " / ".join(f"{r['bytes'] / 1e6:.2f}" for r in good),
                             " / ".join(str(r["requests"]) for r in good)))
        table(("model", "side", "first result ms", "import + loadModel ms", "MB transferred", "requests"), rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
