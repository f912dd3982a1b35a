"""ONNX Runtime Web's own WebAssembly build, run from the conversion pipeline.

A browser variant is judged on the runtime that will run it. ``frontend/`` ships
onnxruntime-web; ``frontend/tools/ort_wasm_run.mjs`` loads that same package in
Node (WebAssembly SIMD has one semantics on every CPU) and runs a model on the
evaluation feeds. Native ONNX Runtime is not a stand-in: measured on an AVX2-only
AMD EPYC, imagenet's static-QDQ int8 agreed with fp32 on 8/10 photos natively but
10/10 in ORT Web's WASM build (the native u8s8 kernels saturate without VNNI).

The Node process is started once per variant (its start-up is about 1.5 s); from
PARALLEL_SAMPLES samples on, twice at once for the outputs and once more for the latency.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convert.errors import ConversionError

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
SCRIPT = FRONTEND / "tools" / "ort_wasm_run.mjs"
PACKAGE = FRONTEND / "node_modules" / "onnxruntime-web" / "package.json"

Feeds = dict[str, np.ndarray]


@dataclass
class WasmRun:
    """Outputs of every sample (in the order asked), the median latency and what ran them."""

    outputs: list[list[np.ndarray]]
    latency_ms: float | None
    runtime: dict[str, Any]


def runtime_version() -> str:
    """The onnxruntime-web version ``frontend/`` ships (package.json of the installed package)."""
    _check_installed()
    return str(json.loads(PACKAGE.read_text())["version"])


def _check_installed() -> None:
    if shutil.which("node") is None:
        raise ConversionError("node is not on PATH: browser variants are judged with ONNX Runtime Web in Node. "
                              "Install Node 20 (make test and make run expect it).")
    if not PACKAGE.is_file():
        raise ConversionError(f"onnxruntime-web is not installed in {FRONTEND}; run: make frontend "
                              "(or: cd frontend && npm ci)")


def _encode(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    return {"dtype": str(array.dtype), "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def _decode(spec: dict[str, Any]) -> np.ndarray:
    data = base64.b64decode(spec["data"])
    return np.frombuffer(data, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"]).copy()


def run_wasm(
    model: Path,
    samples: list[Feeds],
    output_names: list[str],
    *,
    latency_sample: int | None = 0,
    threads: int = 1,
    repeats: int = 30,
) -> WasmRun:
    """Run ``model`` on every feed with ORT Web's WASM build; time ``latency_sample`` too."""
    _check_installed()
    return run_node_script(SCRIPT, model, samples, output_names, latency_sample=latency_sample,
                           repeats=repeats, extra={"threads": threads}, what="ONNX Runtime Web")


# From this many samples on, the outputs come from two Node processes at once (one per core; the
# outputs do not depend on timing), and the latency from a run of its own afterwards, alone on the
# machine as before. Measured on 2 cores (load 2): text-embedder's fp32 on 3,000 sentences, 27.9 s
# in one process, 18.0 s in two (identical outputs); on 600 sentences (int8) two were slower, 5.7
# against 4.0 s, as each process loads the model: hence only for large evaluation sets.
PARALLEL_SAMPLES = 1000


def run_node_script(
    script: Path,
    model: Path,
    samples: list[Feeds],
    output_names: list[str],
    *,
    latency_sample: int | None = 0,
    repeats: int = 30,
    extra: dict[str, Any] | None = None,
    what: str,
) -> WasmRun:
    """Node processes of ``frontend/tools/`` (``ort_wasm_run.mjs``, ``tfjs_wasm_run.mjs``): same
    request/response files, feeds and outputs as base64 arrays."""
    if shutil.which("node") is None:
        raise ConversionError("node is not on PATH: browser variants are judged in Node. "
                              "Install Node 20 (make test and make run expect it).")
    base: dict[str, Any] = {"model": str(Path(model).resolve()), "outputs": output_names, **(extra or {})}
    latency = None if latency_sample is None else {"sample": latency_sample, "warmup": 3, "repeats": repeats}
    workers = min(2, os.cpu_count() or 1) if len(samples) >= PARALLEL_SAMPLES else 1
    if workers == 1:
        response = _node(script, model, what, {**base, "samples": samples, **({"latency": latency} if latency else {})})
        outputs = response["outputs"]
        timed = response.get("latency_ms")
    else:
        size = -(-len(samples) // workers)
        chunks = [samples[i:i + size] for i in range(0, len(samples), size)]
        with ThreadPoolExecutor(len(chunks)) as pool:  # each thread waits on its own Node process
            responses = list(pool.map(lambda chunk: _node(script, model, what, {**base, "samples": chunk}), chunks))
        response = responses[0]
        outputs = [o for r in responses for o in r["outputs"]]
        timed = None
        if latency is not None:  # alone, as the single-process path times it
            assert latency_sample is not None
            alone = {**base, "samples": [samples[latency_sample]], "latency": {**latency, "sample": 0}}
            timed = _node(script, model, what, alone).get("latency_ms")
    decoded = [[_decode(o) for o in sample] for sample in outputs]
    return WasmRun(decoded, round(float(timed), 3) if timed is not None else None, response["runtime"])


def _node(script: Path, model: Path, what: str, request: dict[str, Any]) -> dict[str, Any]:
    """One Node process on ``request`` (samples as arrays, encoded here); its response."""
    request = {**request, "samples": [{name: _encode(value) for name, value in feeds.items()}
                                      for feeds in request["samples"]]}
    with tempfile.TemporaryDirectory(prefix="browserml-wasm-") as tmp:
        request_path, response_path = Path(tmp) / "request.json", Path(tmp) / "response.json"
        request_path.write_text(json.dumps(request))
        done = subprocess.run(
            ["node", str(script), str(request_path), str(response_path)],
            capture_output=True, text=True, cwd=FRONTEND, timeout=3600,
        )
        if done.returncode != 0:
            why = " ".join(done.stderr.split())[-2000:] or f"exit code {done.returncode}"
            raise ConversionError(f"{what} could not run {Path(model).name}: {why}")
        response: dict[str, Any] = json.loads(response_path.read_text())
    return response
