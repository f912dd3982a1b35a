"""Configuration: TF.js graph-model variants (issue 14), run by TensorFlow.js behind the same
``loadModel``/``run`` as the ONNX ones, against the real host and catalog.

Parity tolerance. The server runs the version's fp32 ONNX file (``model.onnx``); the browser
runs a TF.js variant of the same source. Each TF.js variant's manifest entry records how far
it is from the source on the conversion's evaluation set, on TF.js's own wasm kernels in Node
(``evaluations["tfjs-wasm"].metrics``).
- Classification (emotion: the raw output is the probabilities): a score may differ from the
  server's by the variant's recorded ``max_abs_diff`` (1e-6 for fp32 weights, 1.5e-3 fp16,
  5.4e-2 uint8) plus the ONNX file's own (1e-6), plus the 1e-3 the other browser tests allow
  between two runtimes (float32 kernels summing in another order, results rounded to 6 decimals).
  Measured here: 0, 3e-6, 6.3e-5.
- Detection (face-detector): the recorded ``max_abs_diff`` is of the raw outputs (logits and box
  offsets in pixels: 33.6 for uint8), not of scores, so it bounds nothing useful. Same face count
  and box IoU >= 0.9 as every browser test; scores within 1e-3 for a variant whose evaluation found
  exactly the source's boxes (``box_iou_min`` 1.0: fp32, and fp16, whose weights were fp16 already
  in the tflite source), else within 0.03: uint8 differed by 0.0119 on this input (IoU 0.97);
  that bound is a measurement with 2.5x headroom, not a derivation.
The top-1 label and the uncertain flag must be the same.

One browser context serves the module (the machine has 2 cores): the page that never asks for
TF.js first, then TF.js online and offline on that page, WebGL, a tampered shard, refusals. The
"auto" rule (TF.js WASM first where it costs less) gets fresh contexts: what is already on the
page decides it.
"""

from __future__ import annotations

import re

import jsonschema
import pytest
import requests

from harness.browser import (
    NO_MODEL_PAGE,
    assert_agrees,
    auto_backend,
    catalog_samples,
    engine_cost,
    manifest_of,
    run_in_browser,
    runtime_bytes,
    server_predict,
    tfjs_tolerance,
    upload_to_demo,
)
from harness.catalog import CATALOG, ROOT
from harness.live_server import metric_value

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
TFJS_URL = ("/tfjs/", "/assets/tfjs/")


def tfjs_variants(manifest: dict, backend: str = "tfjs-wasm") -> list[dict]:
    return [v for v in manifest["variants"]
            if v.get("format") == "tfjs-graph" and v["gates"].get(backend, {}).get("passed")]


def tolerance(manifest: dict, variant: dict) -> float:
    """The parity bound of the module docstring, from the manifest's own evaluations."""
    return tfjs_tolerance(manifest, variant)


@pytest.fixture(scope="module")
def manifests(site):
    """The newest version of each catalog model that has TF.js variants (emotion must)."""
    found = {name: m for name in CATALOG if tfjs_variants(m := manifest_of(site.url, name))}
    assert "emotion" in found, "emotion's newest version has no TF.js variant that passed on tfjs-wasm"
    return found


@pytest.fixture(scope="module")
def tab(browser):
    """One context and page for the module; ``requested`` holds every URL it asked for."""
    context = browser.new_context()
    page = context.new_page()
    page.requested = []
    context.on("request", lambda request: page.requested.append(request.url))
    yield page
    context.close()


def _controlled(page, url: str) -> None:
    page.goto(url)
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)


def _tfjs_requests(page) -> list[str]:
    return [u for u in page.requested if any(part in u for part in TFJS_URL)]


def test_the_host_serves_the_tfjs_wasm_from_the_build_and_no_precache_lists_it(site):
    response = requests.get(f"{site.url}/tfjs/tfjs-backend-wasm-simd.wasm", headers={"Accept-Encoding": "br"},
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/wasm"
    assert response.headers["Content-Encoding"] == "br"
    shell = requests.get(f"{site.url}/shell.json", timeout=30).json()
    assert not [u for u in shell if u.startswith(TFJS_URL)], shell
    assert "/ort/ort-wasm-simd-threaded.wasm" in shell  # the ORT build is precached as before


def test_a_page_that_never_asks_for_tfjs_downloads_no_tfjs_byte(tab, site, manifests):
    # The Faces page loads face-detector and emotion, here on ONNX Runtime asked for ("auto" may choose
    # TF.js: below).
    _controlled(tab, f"{site.url}/?backend=wasm#/faces")
    tab.reload()  # through the service worker now, which keeps this page for the offline visit below
    for name in ("face-detector", "emotion"):
        _, info = run_in_browser(tab, name, SAMPLES[name], backend="wasm")
        assert info["backend"] == "wasm", info
    assert [u for u in tab.requested if "/ort/" in u], "the listener saw no ORT request"
    assert _tfjs_requests(tab) == []
    # Nor did the service worker fetch any of it into its cache (its own requests are not the page's).
    cached = tab.evaluate("async () => (await (await caches.open('browserml-shell-v1')).keys()).map((r) => r.url)")
    assert cached and not [u for u in cached if any(part in u for part in TFJS_URL)], cached


def same(result: dict) -> dict:
    """A result without what differs from run to run (its id and time)."""
    return {k: v for k, v in result.items() if k not in ("request_id", "latency_ms")}


def test_tfjs_wasm_agrees_with_the_server_and_works_offline_on_the_second_visit(tab, site, manifests):
    # Still the page above, controlled by the service worker: a first visit for TF.js.
    online = {}
    for name, manifest in manifests.items():
        want = server_predict(site.url, name, SAMPLES[name], None)
        assert want["variant"] == "model.onnx"
        for variant in tfjs_variants(manifest):
            result, info = run_in_browser(tab, name, SAMPLES[name], backend="tfjs-wasm", variant=variant["file"])
            assert (info["backend"], info["variant"], info["threads"]) == ("tfjs-wasm", variant["file"], 1), info
            assert info["fallbackReason"] is None and "tfjs#8513" in info["reason"]
            assert (result["backend"], result["variant"]) == ("tfjs-wasm", variant["file"])
            # Progress ends at each file's own size: model.json, then every shard (a progress bar reaches 100%).
            sizes = {variant["file"]: variant["bytes"] - sum(s["bytes"] for s in variant["shards"]),
                     **{s["file"]: s["bytes"] for s in variant["shards"]}}
            last = {p["file"]: p for p in info["progress"] if p["file"] in sizes}
            assert {f: (p["loaded"], p["total"]) for f, p in last.items()} == {f: (n, n) for f, n in sizes.items()}
            jsonschema.validate(result, manifest["response"])  # the same result shape as every backend
            assert_agrees(result, want, f"{name} {variant['file']}", tolerance(manifest, variant))
            online[name, variant["file"]] = result
        # No variant asked for: the manifest's recommended one for tfjs-wasm.
        _, info = run_in_browser(tab, name, SAMPLES[name], backend="tfjs-wasm")
        assert info["variant"] == manifest["recommended"]["tfjs-wasm"], info
    # The host's /metrics counts the browsers' TF.js runs like the others (runtime/telemetry.ts).
    tab.evaluate("async () => (await import('/lib/browserml.js')).flushTelemetry()")
    metrics = requests.get(f"{site.url}/metrics", timeout=30).text
    runs = metric_value(metrics, "browserml_client_runs_total", model="emotion", backend="tfjs-wasm",
                        variant=manifests["emotion"]["recommended"]["tfjs-wasm"])
    assert runs >= 2, runs  # the recommended variant ran twice above (asked for by name, then by default)
    requested = _tfjs_requests(tab)
    assert [u for u in requested if u.endswith("/tfjs/tfjs-backend-wasm-simd.wasm")], requested
    assert not [u for u in requested if "threaded" in u]  # tfjs#8513: never the threaded build
    assert not [u for u in requested if not u.startswith(site.url)]  # nothing leaves the origin

    tab.context.set_offline(True)
    try:
        tab.reload()
        tab.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
        for (name, file), first in online.items():
            result, info = run_in_browser(tab, name, SAMPLES[name], backend="tfjs-wasm", variant=file)
            assert (info["backend"], info["variant"]) == ("tfjs-wasm", file), info
            assert info["fromCache"] is True and all(p["fromCache"] for p in info["progress"]), info
            assert same(result) == same(first)  # same kernels, same input: the same answer
    finally:
        tab.context.set_offline(False)


WEBGL_JS = "() => { try { return !!new OffscreenCanvas(1, 1).getContext('webgl2'); } catch { return false; } }"


def test_tfjs_webgl_runs_where_chromium_offers_webgl_else_says_why(tab, site, manifests):
    # Debian's Chromium here has SwiftShader's WebGL 2, in a worker's OffscreenCanvas too. (TF.js
    # WebGPU on its fallback adapter agrees as well, but takes 15 s of shader compiling: not here.)
    tab.goto(f"{site.url}/?sw=off")
    offered = tab.evaluate(WEBGL_JS)
    manifest = manifests["emotion"]
    result, info = run_in_browser(tab, "emotion", SAMPLES["emotion"], backend="tfjs-webgl")
    if offered:
        assert info["backend"] == "tfjs-webgl" and info["fallbackReason"] is None, info
        variant = next(v for v in manifest["variants"] if v["file"] == info["variant"])
        assert variant["file"] == manifest["recommended"]["tfjs-webgl"] and variant["gates"]["tfjs-webgl"]["passed"]
        want = server_predict(site.url, "emotion", SAMPLES["emotion"], None)
        assert_agrees(result, want, f"emotion {variant['file']} on WebGL", tolerance(manifest, variant))
    else:
        assert info["backend"] == "server", info
        assert "could not start its webgl backend" in info["fallbackReason"], info


def test_a_tampered_shard_is_refused_and_the_server_answers(tab, site, manifests):
    def tamper(route):
        response = route.fetch()
        body = bytearray(response.body())
        body[len(body) // 2] ^= 0x01
        route.fulfill(response=response, body=bytes(body))

    tab.goto(f"{site.url}/?sw=off")
    tab.evaluate("() => caches.delete('browserml-artifacts-v1')")  # the visits above cached the real shards
    shards = "**/models/*/*/*.bin"
    tab.context.route(shards, tamper)
    try:
        _, info = run_in_browser(tab, "emotion", SAMPLES["emotion"], backend="tfjs-wasm")
    finally:
        tab.context.unroute(shards)
    recommended = manifests["emotion"]["recommended"]["tfjs-wasm"]
    shard = next(v for v in manifests["emotion"]["variants"] if v["file"] == recommended)["shards"][0]["file"]
    assert info["backend"] == "server", info
    assert f"tfjs-wasm failed to load {recommended}" in info["fallbackReason"], info
    assert f"{shard}: sha256" in info["fallbackReason"] and "does not match the manifest's" in info["fallbackReason"]
    # Nothing tampered was cached: with the real file back, TF.js downloads and runs it.
    _, again = run_in_browser(tab, "emotion", SAMPLES["emotion"], backend="tfjs-wasm")
    assert again["backend"] == "tfjs-wasm" and again["fromCache"] is False, again


def test_demo_faces_page_on_tfjs_wasm(tab, site, manifests, tmp_path):
    # The demo's "Run on" control (here through ?backend=) offers the tfjs backends too.
    if "face-detector" not in manifests:
        pytest.skip("face-detector's newest version has no TF.js variant")
    url = f"{site.url}/?sw=off&backend=tfjs-wasm#/faces"
    result = upload_to_demo(tab, url, "faces", SAMPLES["face-detector"].png, tmp_path)
    assert result["backend"] == "tfjs-wasm" and len(result["faces"]) == 1, result
    assert result["faces"][0]["emotion"]["backend"] == "tfjs-wasm"
    assert result["faces"][0]["emotion"]["labels"][0]["label"] == "happy"
    for name in ("face-detector", "emotion"):
        status = tab.locator(f'[data-status="{name}"]')
        assert status.locator('[data-field="runs on"]').inner_text() == "TF.js WASM, 1 thread"


LOAD_JS = """
async ({name, options}) => {
  const lib = await import('/lib/browserml.js');
  try {
    const model = await lib.loadModel(name, options);
    await model.dispose();
    return {loaded: model.backend};
  } catch (err) {
    return {error: err.name, message: err.message};
  }
}
"""


def test_tfjs_asked_for_where_none_passed_is_refused_naming_what_exists(tab, site, manifests):
    tab.goto(f"{site.url}/?sw=off")
    before = len(tab.requested)
    emotion = manifests["emotion"]
    onnx = [v["file"] for v in emotion["variants"] if v.get("format", "onnx") == "onnx"]
    # An ONNX file on a tfjs backend, and a TF.js file on ONNX Runtime: refused, nothing downloaded.
    answer = tab.evaluate(LOAD_JS, {"name": "emotion", "options": {"backend": "tfjs-wasm", "variant": onnx[0]}})
    assert answer["error"] == "OptionError" and f"{onnx[0]}, is not a TF.js graph model" in answer["message"]
    tfjs_file = tfjs_variants(emotion)[0]["file"]
    answer = tab.evaluate(LOAD_JS, {"name": "emotion", "options": {"backend": "wasm", "variant": tfjs_file}})
    assert answer["error"] == "OptionError", answer
    assert f"{tfjs_file}, is a TF.js graph model: ONNX Runtime on WASM cannot run it" in answer["message"]
    # A model whose newest version has no TF.js variant (face-detector, unless it gained some).
    without = [name for name in CATALOG if name not in manifests]
    for name in without:
        answer = tab.evaluate(LOAD_JS, {"name": name, "options": {"backend": "tfjs-wasm"}})
        assert answer["error"] == "OptionError", answer
        assert f"{name}: no TF.js variant passed its gates on tfjs-wasm (version " in answer["message"]
        assert "has no TF.js variant (its variants are" in answer["message"]
    fetched = tab.requested[before:]
    assert not [u for u in fetched if u.endswith((".json", ".bin", ".onnx")) and "/models/" in u], fetched
    assert not [u for u in fetched if "/predict" in u or any(part in u for part in TFJS_URL)], fetched


# --- "auto": TF.js WASM first where it costs less (runtime/backends.ts `preferCheaperEngine`) ---

DIST = ROOT / "frontend" / "dist"
STATIC_IMPORT = re.compile(r'(?:\bfrom\s*|\bimport\s*)"(\.{1,2}/[^"]+\.js)"')
DYNAMIC_IMPORT = re.compile(r'\bimport\(\s*[`"](\.{1,2}/[^`"]+\.js)[`"]\s*\)')


def _relative(chunk: str, target: str) -> str:
    """The dist path of ``target`` as imported from ``chunk`` (both relative to dist)."""
    return (DIST / chunk).parent.joinpath(target).resolve().relative_to(DIST.resolve()).as_posix()


def _static_closure(start: str) -> set[str]:
    """``start`` (a path in dist) and every chunk it imports statically, transitively."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        chunk = todo.pop()
        if chunk in seen:
            continue
        seen.add(chunk)
        todo += [_relative(chunk, t) for t in STATIC_IMPORT.findall((DIST / chunk).read_text())]
    return seen


def _dynamic(chunk: str) -> list[str]:
    return [_relative(chunk, t) for t in DYNAMIC_IMPORT.findall((DIST / chunk).read_text())]


def engine_files() -> dict[str, set[str]]:
    """What a WASM worker of each engine loads beyond lib/worker.js and its static imports (the task
    code, which every worker loads): ORT Web's wasm entry chunk, its glue and wasm from /ort/; TF.js's
    chunk (runtime/tfjs.ts, core, converter), its WASM backend's chunk, and the SIMD wasm from /tfjs/."""
    common = _static_closure("lib/worker.js")
    ort_entry = [c for c in _dynamic("lib/worker.js") if re.fullmatch(r"assets/ort\.wasm\.min-[\w-]+\.js", c)]
    tfjs_entry = [c for c in _dynamic("lib/worker.js") if c.startswith("assets/tfjs/")]
    assert len(ort_entry) == 1 and len(tfjs_entry) == 1, (ort_entry, tfjs_entry)
    backend = [c for c in _dynamic(tfjs_entry[0]) if "tfjs-backend-wasm" in (DIST / c).read_text()]
    assert len(backend) == 1, backend  # the wasm backend's chunk names its .wasm files
    return {
        "ort": (_static_closure(ort_entry[0]) - common)
        | {"ort/ort-wasm-simd-threaded.mjs", "ort/ort-wasm-simd-threaded.wasm"},
        "tfjs": (_static_closure(tfjs_entry[0]) | _static_closure(backend[0])) - common
        | {"tfjs/tfjs-backend-wasm-simd.wasm"},
    }


def _wire_bytes(path: str) -> int:
    """As the host sends it to a browser that accepts brotli: the .br copy (files under 1 KiB have none)."""
    packed = DIST / f"{path}.br"
    return (packed if packed.is_file() else DIST / path).stat().st_size


def test_runtime_byte_constants_match_the_build(frontend_built):
    measured = {engine: sum(_wire_bytes(f) for f in files) for engine, files in engine_files().items()}
    constants = runtime_bytes()
    for engine, size in measured.items():
        assert abs(constants[engine] - size) <= 0.15 * size, (
            f"{engine}: backends.ts says {constants[engine]} bytes, the build's .br files sum to {size} "
            f"({sorted(engine_files()[engine])}); update the constant and its comment")
    assert measured["ort"] > 5 * measured["tfjs"]  # what the rule is about: ORT's wasm dominates


def _variant(manifest: dict, file: str) -> dict:
    return next(v for v in manifest["variants"] if v["file"] == file)


def _cost(manifest: dict, engine: str, warm: bool) -> tuple[float, str]:
    return engine_cost(manifest, engine, warm)


def _expected(manifest: dict, ort_warm: bool, tfjs_warm: bool) -> str:
    return auto_backend(manifest, ort_warm, tfjs_warm)


def _fresh(browser, url: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    return context, page


def test_auto_puts_tfjs_wasm_first_on_a_first_visit_and_says_why(browser, site, manifests):
    context, page = _fresh(browser, site.url + NO_MODEL_PAGE)  # no service worker, no model: nothing here
    try:
        for name, tfjs_warm in (("emotion", False), ("face-detector", True)):
            if name not in manifests:
                continue
            manifest = manifests[name]
            # face-detector second: a TF.js WASM worker already runs on this page (emotion's).
            expected = _expected(manifest, ort_warm=False, tfjs_warm=tfjs_warm)
            assert expected == "tfjs-wasm", (name, _cost(manifest, "tfjs", tfjs_warm), _cost(manifest, "ort", False))
            result, info = run_in_browser(page, name, SAMPLES[name])
            assert (info["backend"], info["variant"], info["threads"]) == (
                "tfjs-wasm", manifest["recommended"]["tfjs-wasm"], 1), info
            when = "TensorFlow.js already here" if tfjs_warm else "first visit"
            assert info["reason"].startswith(
                f"TensorFlow.js WASM with 1 thread: cheaper here ({when}, 10 Mbit/s): "), info
            for engine, warm in (("tfjs", tfjs_warm), ("ort", False)):
                assert _cost(manifest, engine, warm)[1] in info["reason"], (engine, info["reason"])
            assert f"ONNX Runtime Web ({manifest['recommended']['wasm']})" in info["reason"]
            want = server_predict(site.url, name, SAMPLES[name], None)
            variant = _variant(manifest, info["variant"])
            assert_agrees(result, want, f"{name} auto", tolerance(manifest, variant))
    finally:
        context.close()


def test_auto_after_an_ort_model_ran_follows_the_cost(browser, site, manifests):
    context, page = _fresh(browser, site.url + NO_MODEL_PAGE)
    try:
        _, first = run_in_browser(page, "imagenet", SAMPLES["imagenet"], backend="wasm")  # ORT Web now runs here
        assert first["backend"] == "wasm", first
        tfjs_warm = False  # until a model of this page picks TF.js (its worker then runs here)
        for name, manifest in manifests.items():
            expected = _expected(manifest, ort_warm=True, tfjs_warm=tfjs_warm)
            _, info = run_in_browser(page, name, SAMPLES[name])
            costs = (_cost(manifest, "tfjs", tfjs_warm), _cost(manifest, "ort", True))
            assert info["backend"] == expected, (name, info, costs)
            when = "both runtimes already here" if tfjs_warm else "ONNX Runtime Web already here"
            assert f"({when}, 10 Mbit/s)" in info["reason"], info["reason"]
            assert costs[0][1] in info["reason"] and costs[1][1] in info["reason"], (costs, info["reason"])
            tfjs_warm = tfjs_warm or info["backend"] == "tfjs-wasm"
    finally:
        context.close()


def test_demo_faces_page_with_default_settings_works_and_says_which_engine(browser, site, manifests, tmp_path):
    context = browser.new_context()
    page = context.new_page()
    try:
        result = upload_to_demo(page, f"{site.url}/#/faces", "faces", SAMPLES["face-detector"].png, tmp_path)
        assert len(result["faces"]) == 1 and result["faces"][0]["emotion"]["labels"][0]["label"] == "happy", result
        runs_on = {"tfjs-wasm": "TF.js WASM, 1 thread", "wasm": "WASM, 1 thread"}
        used = {"face-detector": result["backend"], "emotion": result["faces"][0]["emotion"]["backend"]}
        for name, backend in used.items():
            assert backend in runs_on, (name, backend)
            status = page.locator(f'[data-status="{name}"]')
            assert status.locator('[data-field="runs on"]').inner_text() == runs_on[backend]
            if name in manifests:  # the rule priced both engines, and the page says so
                why = status.locator('[data-field="why"]').inner_text()
                assert "TensorFlow.js WASM" in why and "ONNX Runtime Web" in why, why
    finally:
        context.close()
