"""TF.js graph-model variants of the TF-sourced models (Keras, TFLite), judged on TF.js's own kernels.

A recipe with a ``[tfjs]`` table gets, beside its ONNX variants, one TF.js graph model per
stored weight precision (``fp32``; ``fp16`` and ``uint8``: tensorflowjs's weight quantisation,
dequantised to fp32 on load, so TF.js computes in fp32 either way). The export runs in the
TF.js converter venv (``make tfjs-env``; ``convert/tfjs_export.py``). Each graph model is
then run by ``frontend/tools/tfjs_wasm_run.mjs``: the @tensorflow/tfjs-* packages the
browser runtime ships, on their wasm backend, in Node, on the same evaluation feeds as every
other variant; its metrics face the recipe's gates and its own ``[tfjs] max_bytes``.

Files are flat in the version folder: ``model.tfjs.json`` (+ ``model.tfjs.1of1.bin``),
``model.tfjs-fp16.json``, ``model.tfjs-uint8.json``; model.json's ``weightsManifest`` names
the shard files beside it, and its ``signature`` maps the manifest's input and output names
to graph nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from contract.integrity import sha256_file
from convert import wasm_runtime
from convert.errors import ConversionError
from convert.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
EXPORT_SCRIPT = Path(__file__).with_name("tfjs_export.py")
NODE_SCRIPT = wasm_runtime.FRONTEND / "tools" / "tfjs_wasm_run.mjs"
LOCK = ROOT / "requirements" / "tfjs-constraints.txt"
SOURCES = ("keras", "tflite")
WEIGHTS = ("fp32", "fp16", "uint8")
BACKENDS = ["tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"]
# WebGL and WebGPU have no runtime at conversion (no GPU in Node): they take the wasm verdict.
JUDGE = "tfjs-wasm"
STEMS = {"fp32": "model.tfjs", "fp16": "model.tfjs-fp16", "uint8": "model.tfjs-uint8"}
TFJS_PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-converter", "@tensorflow/tfjs-backend-wasm")


def python() -> Path:
    """The TF.js converter venv's Python (``BROWSERML_TFJS_PYTHON`` overrides ``.venv-tfjs``)."""
    return Path(os.environ.get("BROWSERML_TFJS_PYTHON", ROOT / ".venv-tfjs" / "bin" / "python"))


def _check_installed() -> None:
    if not python().is_file():
        raise ConversionError(f"the TF.js converter environment is missing ({python()}): run `make tfjs-env` "
                              "(recipes with a [tfjs] table need it), or set BROWSERML_TFJS_PYTHON.")
    for package in TFJS_PACKAGES:
        if not (wasm_runtime.FRONTEND / "node_modules" / package / "package.json").is_file():
            raise ConversionError(f"{package} is not installed in {wasm_runtime.FRONTEND}; run: make frontend "
                                  "(or: cd frontend && npm ci)")


def fingerprint_lines() -> list[str]:
    """What the TF.js bytes and verdicts depend on: the converter venv's lock and the TF.js runtime."""
    lines = [f"tfjs-lock {sha256_file(LOCK)}\n",
             f"tfjs-export {sha256_file(EXPORT_SCRIPT)}\n"]
    for package in TFJS_PACKAGES:
        meta = wasm_runtime.FRONTEND / "node_modules" / package / "package.json"
        version = json.loads(meta.read_text())["version"] if meta.is_file() else "missing"
        lines.append(f"{package}=={version}\n")
    return lines


def export(recipe: Any, source_file: Path, work: Path) -> dict[str, Path]:
    """Export the source to one graph model per ``recipe.tfjs["weights"]``, flattened into ``work``.

    Returns each precision's model.json path (``work/model.tfjs*.json``)."""
    _check_installed()
    with tempfile.TemporaryDirectory(prefix="browserml-tfjs-") as tmp:
        request = {
            "format": recipe.source["format"],
            "source": str(source_file),
            "out": str(Path(tmp) / "out"),
            "inputs": [{"name": t.name, "shape": list(t.shape)} for t in recipe.inputs],
            "outputs": [t.name for t in recipe.outputs],
            "weights": list(recipe.tfjs["weights"]),
        }
        request_path, response_path = Path(tmp) / "request.json", Path(tmp) / "response.json"
        request_path.write_text(json.dumps(request))
        done = subprocess.run(
            [str(python()), str(EXPORT_SCRIPT), str(request_path), str(response_path)],
            capture_output=True, text=True, timeout=1800,
        )
        if done.returncode != 0:
            why = " ".join(done.stderr.split())[-2000:] or f"exit code {done.returncode}"
            raise ConversionError(f"the TF.js export of {recipe.name} failed: {why}")
        response = json.loads(response_path.read_text())
        models: dict[str, str] = response["models"]
        return {weights: _flatten(Path(folder), STEMS[weights], work) for weights, folder in models.items()}


def _flatten(folder: Path, stem: str, work: Path) -> Path:
    """model.json + group1-shard*.bin -> work/<stem>.json + work/<stem>.<i>of<n>.bin."""
    model = json.loads((folder / "model.json").read_text())
    paths = [p for group in model["weightsManifest"] for p in group["paths"]]
    renamed = {p: f"{stem}.{i}of{len(paths)}.bin" for i, p in enumerate(paths, start=1)}
    for group in model["weightsManifest"]:
        group["paths"] = [renamed[p] for p in group["paths"]]
    for old, new in renamed.items():
        (work / new).write_bytes((folder / old).read_bytes())
    target = work / f"{stem}.json"
    # Keys sorted: the converter writes a node's attributes in protobuf map order, which changes from
    # run to run; sorted, a forced conversion gives byte-identical files (lists keep their order).
    target.write_text(json.dumps(model, separators=(",", ":"), sort_keys=True))
    return target


def _file_entry(path: Path) -> dict[str, Any]:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def entry(
    weights: str,
    model_json: Path,
    samples: list[dict[str, np.ndarray]],
    output_names: list[str],
    metrics: Callable[[list[list[np.ndarray]]], dict[str, float]],
    print_: Progress,
) -> dict[str, Any]:
    """The manifest entry of one graph model, with its evaluation on TF.js's wasm backend."""
    model = json.loads(model_json.read_text())
    shards = [_file_entry(model_json.parent / p) for group in model["weightsManifest"] for p in group["paths"]]
    own = _file_entry(model_json)
    measured = wasm_runtime.run_node_script(NODE_SCRIPT, model_json, samples, output_names, what="TF.js (wasm)")
    runtime = measured.runtime
    evaluation: dict[str, Any] = {
        "runtime": (f"{runtime['package']} {runtime['version']} ({runtime['backend']}, 1 thread) "
                    f"in Node {runtime['node']}"),
        "metrics": metrics(measured.outputs),
        "latency_ms": {"threads_1": measured.latency_ms},
    }
    summary = ", ".join(f"{k} {v:.4g}" for k, v in evaluation["metrics"].items())
    print_.note(f"{own['file']} [{JUDGE}]: {summary}; {measured.latency_ms} ms (1 thread)")
    return {
        "file": own["file"],
        "format": "tfjs-graph",
        "precision": weights,
        "bytes": own["bytes"] + sum(s["bytes"] for s in shards),
        "sha256": own["sha256"],
        "shards": shards,
        "backends": list(BACKENDS),
        "operators": sorted({node["op"] for node in model["modelTopology"]["node"]}),
        "evaluations": {JUDGE: evaluation},
        "gates": {},
    }
