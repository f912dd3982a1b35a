"""Shared parts of the browser tests: inputs per catalog model, running them through
``/lib/browserml.js`` or the demo pages, and comparing with the server's ``predict``.

Agreement rules (the issue's): same top-1 label, scores within 1e-3, face boxes
IoU >= 0.9, embeddings within 1e-3 per component. The server is asked for the
same variant the browser ran, so the comparison is of runtimes, not of variants.

One measured exception: *dynamic* int8 variants (the transformers) quantise
activations at run time, so a 1e-7 difference between ORT Web's and native
ORT's float kernels can flip a rounding step; measured here, browser and server
then differ by up to 3e-3 (fp16 of the same models: under 1e-4, and the
integer MatMul itself is exact in both). Those variants are held to 5e-3, and
the fp16 variants of the same models are checked at 1e-3 as well.

A TF.js graph-model variant (which "auto" may choose: `auto_backend`) is compared with the
server's own variant (ONNX: the host runs no TF.js), within the bound that
tests/browser/test_browser_tfjs.py's docstring derives from the variant's recorded evaluation.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import requests
from PIL import Image

SCORE_TOLERANCE = 1e-3
# A same-origin document that starts no model (the demo's pages start theirs as they open, imagenet
# on "/"), for a test whose "auto" depends on what already runs on the page (`auto_backend`).
NO_MODEL_PAGE = "/api/v1/models"
DYNAMIC_INT8_TOLERANCE = 5e-3
BOX_IOU = 0.9


LOSSY_DETECTION_SCORE_TOLERANCE = 0.03


def is_tfjs(manifest: dict[str, Any], variant: str | None) -> bool:
    return any(v["file"] == variant and v.get("format") == "tfjs-graph" for v in manifest["variants"])


def tfjs_tolerance(manifest: dict[str, Any], entry: dict[str, Any]) -> float:
    """A TF.js variant against the server's model.onnx (tests/browser/test_browser_tfjs.py's docstring)."""
    metrics = entry["evaluations"]["tfjs-wasm"]["metrics"]
    if manifest["task"] == "face-detection":
        return SCORE_TOLERANCE if metrics["box_iou_min"] == 1.0 else LOSSY_DETECTION_SCORE_TOLERANCE
    onnx = next(v for v in manifest["variants"] if v["file"] == "model.onnx")
    return SCORE_TOLERANCE + metrics["max_abs_diff"] + onnx["evaluations"]["server"]["metrics"]["max_abs_diff"]


def tolerance_for(manifest: dict[str, Any], variant: str) -> float:
    """1e-3, or 5e-3 for a dynamic int8 variant (see the module docstring); a TF.js variant's own."""
    entry = next(v for v in manifest["variants"] if v["file"] == variant)
    if entry.get("format") == "tfjs-graph":
        return tfjs_tolerance(manifest, entry)
    return DYNAMIC_INT8_TOLERANCE if entry.get("quantization") == "dynamic" else SCORE_TOLERANCE


def server_variant(manifest: dict[str, Any], variant: str | None) -> str | None:
    """The variant to ask the server for, to compare with one the browser ran: the same, or for a
    TF.js variant the host's own choice (the host runs ONNX)."""
    return None if is_tfjs(manifest, variant) else variant


# The runtime's cost model for "auto" on a WASM device (frontend/src/runtime/backends.ts
# `preferCheaperEngine`), to say what it must choose from the manifest's numbers.
BACKENDS_TS = Path(__file__).resolve().parents[1] / "frontend" / "src" / "runtime" / "backends.ts"
BYTES_PER_MS = 10e6 / 8 / 1000  # 10 Mbit/s, as convert/gates.py
COST_RUNS = 100


def runtime_bytes() -> dict[str, int]:
    """backends.ts's bytes a cold page downloads to start each engine on WASM ("ort", "tfjs")."""
    found = dict(re.findall(r"export const (ORT_WASM|TFJS_WASM)_RUNTIME_BYTES = ([\d_]+);", BACKENDS_TS.read_text()))
    assert set(found) == {"ORT_WASM", "TFJS_WASM"}, found
    return {"ort": int(found["ORT_WASM"].replace("_", "")), "tfjs": int(found["TFJS_WASM"].replace("_", ""))}


def engine_cost(manifest: dict[str, Any], engine: str, warm: bool) -> tuple[float, str]:
    """What the runtime prices ``engine`` ("ort", "tfjs") at for ``manifest`` (ms), and the figure
    its reason prints ("≈ 2,326 ms")."""
    file = manifest["recommended"]["wasm" if engine == "ort" else "tfjs-wasm"]
    variant = next(v for v in manifest["variants"] if v["file"] == file)
    latency = variant["evaluations"]["wasm" if engine == "ort" else "tfjs-wasm"]["latency_ms"]["threads_1"]
    cost = (variant["bytes"] + (0 if warm else runtime_bytes()[engine])) / BYTES_PER_MS + COST_RUNS * latency
    return cost, f"≈ {math.floor(cost + 0.5):,} ms"


def auto_backend(manifest: dict[str, Any], ort_warm: bool = False, tfjs_warm: bool = False) -> str:
    """The backend "auto" picks on a WASM device (no WebGPU): TF.js WASM where the manifest
    recommends a TF.js variant for it and it costs at least ENGINE_SWITCH_SAVING less, else ONNX
    Runtime's WASM (backends.ts ``preferCheaperEngine``)."""
    if not manifest["recommended"].get("tfjs-wasm"):
        return "wasm"
    saving = float(re.search(r"export const ENGINE_SWITCH_SAVING = ([\d.]+);", BACKENDS_TS.read_text()).group(1))
    tfjs, ort = engine_cost(manifest, "tfjs", tfjs_warm)[0], engine_cost(manifest, "ort", ort_warm)[0]
    return "tfjs-wasm" if tfjs <= (1 - saving) * ort else "wasm"

SENTENCES = [
    "This movie was absolutely wonderful, I loved every minute of it.",
    "The service was slow and the food was cold. Never again.",
    "It's a phone.",
    # The model is unsure of this one (negative 0.57); VADER's lexicon answers positive.
    "One funny popcorn flick.",
]
ASTRONAUT_FACE = (177.3, 80.6, 94.6, 94.6)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Sample:
    """One input for one model: PNG bytes for image models, texts for text models."""

    model: str
    png: bytes | None = None
    texts: tuple[str, ...] = ()

    @property
    def is_image(self) -> bool:
        return self.png is not None

    def js_input(self) -> dict[str, Any]:
        if self.is_image:
            return {"png": base64.b64encode(self.png).decode()}
        return {"texts": list(self.texts)}


def catalog_samples() -> dict[str, Sample]:
    """A real input per catalog model (PNG: lossless, so browser and server see the same pixels)."""
    from skimage import data

    from harness.catalog import face_crop

    astronaut = Image.fromarray(data.astronaut())
    return {
        "imagenet": Sample("imagenet", png=_png(Image.fromarray(data.chelsea()))),
        "face-detector": Sample("face-detector", png=_png(astronaut)),
        "emotion": Sample("emotion", png=_png(face_crop(astronaut, list(ASTRONAUT_FACE)))),
        "sentiment": Sample("sentiment", texts=tuple(SENTENCES)),
        "text-embedder": Sample("text-embedder", texts=tuple(SENTENCES)),
    }


RUN_JS = """
async ({name, input, options}) => {
  const lib = await import('/lib/browserml.js');
  const progress = [];
  const model = await lib.loadModel(name, {...options, onProgress: (p) => progress.push(p)});
  let arg;
  if (input.png) {
    const bytes = Uint8Array.from(atob(input.png), (c) => c.charCodeAt(0));
    arg = new Blob([bytes], {type: 'image/png'});
  } else {
    arg = input.texts;
  }
  const result = await model.run(arg);
  const info = {backend: model.backend, variant: model.variant, threads: model.threads,
                reason: model.reason, fallbackReason: model.fallbackReason, fromCache: model.fromCache,
                loadMs: model.loadMs, progress, isolated: crossOriginIsolated};
  await model.dispose();
  return {result, info};
}
"""


def run_in_browser(page, name: str, sample: Sample, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load ``name`` through /lib/browserml.js in ``page`` and run ``sample``: (result, model info)."""
    answer = page.evaluate(RUN_JS, {"name": name, "input": sample.js_input(), "options": options})
    return answer["result"], answer["info"]


def server_predict(base_url: str, name: str, sample: Sample, variant: str | None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The server's answer for the same input (and the same variant, when given)."""
    url = f"{base_url}/api/v1/models/{name}/predict"
    params = {"variant": variant} if variant else {}
    if sample.is_image:
        response = requests.post(url, params=params, files={"image": ("input.png", sample.png)}, timeout=120,
                                 headers=headers)
    else:
        response = requests.post(url, params=params, json={"texts": list(sample.texts)}, timeout=120,
                                 headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _iou(a: list[float], b: list[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def _assert_labels(got: dict[str, Any], want: dict[str, Any], where: str, tol: float) -> None:
    assert got["labels"][0]["label"] == want["labels"][0]["label"], f"{where}: top-1 differs"
    want_scores = {entry["label"]: entry["score"] for entry in want["labels"]}
    for entry in got["labels"]:
        if entry["label"] in want_scores:
            diff = abs(entry["score"] - want_scores[entry["label"]])
            assert diff <= tol, f"{where}: {entry['label']} {entry['score']} vs {want_scores[entry['label']]}"
    assert got["uncertain"] == want["uncertain"], f"{where}: uncertain differs"


def assert_agrees(
    got: dict[str, Any], want: dict[str, Any], where: str = "result", tol: float = SCORE_TOLERANCE
) -> None:
    """Browser result ``got`` agrees with server result ``want`` under the stated tolerances."""
    if "results" in want:
        assert len(got["results"]) == len(want["results"])
        for i, (g, w) in enumerate(zip(got["results"], want["results"])):
            assert_agrees(g, w, f"{where}[{i}]", tol)
        return
    if "labels" in want:
        _assert_labels(got, want, where, tol)
        if "fallback" in want:
            assert got["fallback"] == want["fallback"]
    if "faces" in want:
        assert len(got["faces"]) == len(want["faces"]), f"{where}: face count differs"
        for i, (g, w) in enumerate(zip(got["faces"], want["faces"])):
            assert _iou(g["box"], w["box"]) >= BOX_IOU, f"{where}: face {i} boxes {g['box']} vs {w['box']}"
            assert abs(g["score"] - w["score"]) <= tol
            if "emotion" in w:
                assert_agrees(g["emotion"], w["emotion"], f"{where}: face {i} emotion", tol)
    for key in ("embedding", "embeddings"):
        if key in want:
            import numpy as np

            diff = np.abs(np.asarray(got[key]) - np.asarray(want[key])).max()
            assert diff <= tol, f"{where}: {key} differ by {diff}"


def max_difference(got: dict[str, Any], want: dict[str, Any]) -> float:
    """The largest difference between two results' scores (same label), face scores and
    embedding components: what the tolerances above bound, as one number to report."""
    if "results" in want:
        return max((max_difference(g, w) for g, w in zip(got["results"], want["results"])), default=0.0)
    diffs = [0.0]
    if "labels" in want:
        scores = {entry["label"]: entry["score"] for entry in want["labels"]}
        diffs += [abs(e["score"] - scores[e["label"]]) for e in got["labels"] if e["label"] in scores]
    for g, w in zip(got.get("faces", []), want.get("faces", [])):
        diffs.append(abs(g["score"] - w["score"]))
        if "emotion" in w:
            diffs.append(max_difference(g["emotion"], w["emotion"]))
    for key in ("embedding", "embeddings"):
        if key in want:
            import numpy as np

            diffs.append(float(np.abs(np.asarray(got[key]) - np.asarray(want[key])).max()))
    return max(diffs)


def js_result(page, selector: str, timeout: float = 120_000) -> Any:
    """The JSON a demo page published in ``data-result`` of ``selector``."""
    page.wait_for_selector(f"{selector}[data-result]", state="attached", timeout=timeout)
    return json.loads(page.get_attribute(selector, "data-result"))


def manifest_of(base_url: str, name: str) -> dict[str, Any]:
    return requests.get(f"{base_url}/api/v1/models/{name}", timeout=30).json()


def check_model(page, base_url: str, name: str, sample: Sample, **options: Any) -> tuple[dict, dict]:
    """Run ``name`` in the browser and check it agrees with the server on the same variant."""
    result, info = run_in_browser(page, name, sample, **options)
    assert result["model"] == name and result["backend"] == info["backend"]
    manifest = manifest_of(base_url, name)
    jsonschema.validate(result, manifest["response"])  # the manifest's contract
    variant = info["variant"]
    want = server_predict(base_url, name, sample, server_variant(manifest, variant))
    assert_agrees(result, want, name, tolerance_for(manifest, variant))
    return result, info


def upload_to_demo(page, url: str, page_name: str, png: bytes, tmp_path) -> dict[str, Any]:
    """Open the demo page ``page_name`` (images / faces) at ``url``, choose ``png`` in its
    file input, and return the result the page published."""
    image = tmp_path / f"{page_name}.png"
    image.write_bytes(png)
    page.goto(url)
    page.set_input_files(f"[data-testid={page_name}-file]", str(image))
    return js_result(page, f"[data-testid={page_name}-result]")


def demo_auto_backends(base_url: str) -> dict[str, str]:
    """Where "auto" runs each model of ``check_demo_pages`` on a WASM device with nothing cached
    (``?sw=off``): the Images page runs imagenet on ONNX Runtime first, in the same document, so the
    Faces page's models find ORT Web already there (`auto_backend` with ``ort_warm``)."""
    from harness.catalog import CATALOG

    return {name: auto_backend(manifest_of(base_url, name), ort_warm=True) for name in CATALOG}


def check_demo_pages(page, base_url: str, query: str, tmp_path,
                     headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Run every catalog model through the three demo pages at ``base_url/?query``; each result
    must agree with the server's predict on the same variant. Returns the results by model."""
    samples = catalog_samples()
    out: dict[str, dict[str, Any]] = {}
    out["imagenet"] = upload_to_demo(page, f"{base_url}/?{query}#/images", "images", samples["imagenet"].png, tmp_path)
    faces = upload_to_demo(page, f"{base_url}/?{query}#/faces", "faces", samples["face-detector"].png, tmp_path)
    out["face-detector"] = faces
    out["emotion"] = faces["faces"][0]["emotion"]
    page.goto(f"{base_url}/?{query}#/text")
    out["sentiment"] = js_result(page, "[data-testid=text-result]")
    out["text-embedder"] = js_result(page, "[data-testid=sim-result]")
    text = page.input_value("[data-testid=text-input]")
    pair = [page.input_value("[data-testid=sim-a]"), page.input_value("[data-testid=sim-b]")]
    for name, body in (("sentiment", {"text": text}), ("text-embedder", {"texts": pair})):
        variant = out[name]["variant"]
        want = requests.post(f"{base_url}/api/v1/models/{name}/predict", params={"variant": variant}, headers=headers,
                             json=body, timeout=120).json()
        assert_agrees(out[name], want, f"demo {name}", tolerance_for(manifest_of(base_url, name), variant))
    for name in ("imagenet", "face-detector"):
        manifest = manifest_of(base_url, name)
        variant = out[name]["variant"]
        want = server_predict(base_url, name, samples[name], server_variant(manifest, variant), headers=headers)
        assert_agrees(out[name], want, f"demo {name}", tolerance_for(manifest, variant))
    emotion_variant = out["emotion"]["variant"]
    emotion = manifest_of(base_url, "emotion")
    from harness.catalog import face_crop  # the page crops as the pipeline manifest says

    crop = face_crop(Image.open(io.BytesIO(samples["face-detector"].png)), faces["faces"][0]["box"])
    crop_sample = Sample("emotion", png=_png(crop))
    want = server_predict(base_url, "emotion", crop_sample, server_variant(emotion, emotion_variant), headers=headers)
    assert_agrees(out["emotion"], want, "demo emotion", tolerance_for(emotion, emotion_variant))
    return out
