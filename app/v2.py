"""The Open Inference Protocol (KServe V2) over REST, so any V2 client works.

Health (``/v2/health/live``, ``/v2/health/ready``), server and model metadata,
model readiness and ``infer`` for ``/v2/models/<name>[/versions/<v>]``. A V2
model is a browserml model version; it runs the variant the manifest
recommends for the server, on raw tensors (no pre/post-processing: that is
what ``/api/v1/.../predict`` adds). JSON tensors and the binary tensor data
extension are both understood; errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, request

from app import host_state
from app.auth import requires
from app.errors import ApiError
from app.inference import run_outputs, warm_up
from app.inputs import json_object
from app.lifecycle import choose, switched_off
from app.metrics import INFERENCE_LATENCY, PREDICTIONS
from app.registry import ModelVersion
from app.request_log import served
from app.tensor_codec import (
    DATATYPES,
    check_shape,
    decode_binary_tensor,
    decode_json_tensor,
    encode_binary,
    encode_json_data,
    v2_datatype,
)

bp = Blueprint("v2", __name__, url_prefix="/v2")

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]


def _server_version() -> str:
    try:
        return version("browserml")
    except PackageNotFoundError:
        return "0"


def _dims(shape: list[Any]) -> list[int]:
    """Manifest shape (named dims are dynamic) -> V2 shape (-1 for dynamic)."""
    return [d if isinstance(d, int) else -1 for d in shape]


def _tensor_meta(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["name"], "datatype": v2_datatype(spec["dtype"]), "shape": _dims(spec["shape"])}


@bp.get("")
@bp.get("/")
def server_metadata() -> dict[str, Any]:
    return {"name": "browserml", "version": _server_version(), "extensions": EXTENSIONS}


@bp.get("/health/live")
def live() -> dict[str, Any]:
    return {"live": True}


@bp.get("/health/ready")
def ready() -> Response | tuple[Response, int]:
    """Ready when every model's default version has a server variant loaded and self-checked
    (loading it if needed). The body names each model's variant and any variant refused here."""
    state = host_state()
    models = warm_up(state.registry, state.pool)
    failures = {name: status["error"] for name, status in models.items() if "error" in status}
    if failures or not state.registry.names():
        why = failures or {"models": "no model is installed; run: browserml convert --all"}
        return jsonify({"ready": False, "error": "not ready: " + "; ".join(f"{k}: {v}" for k, v in why.items()),
                        "models": models}), 503
    return jsonify({"ready": True, "models": models})


def _model(name: str, version: str | None) -> ModelVersion:
    """The version asked for, else the caller's arm (stable or canary: app/lifecycle.py)."""
    return choose(host_state().registry, name, version)[0]


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> dict[str, Any]:
    model = _model(name, version)
    registry = host_state().registry
    return {
        "name": model.name,
        "versions": [str(m.version) for m in registry.versions(name)],
        "platform": "onnxruntime_onnx",
        "inputs": [_tensor_meta(spec) for spec in model.manifest["inputs"]],
        "outputs": [_tensor_meta(spec) for spec in model.manifest["outputs"]],
        "parameters": {"version": str(model.version), "variant": host_state().pool.server_variant(model),
                       "task": model.task},
    }


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> dict[str, Any]:
    model = _model(name, version)
    host_state().pool.server_variant(model)  # 503 with the reasons if no variant can serve here
    return {"name": model.name, "version": str(model.version), "ready": True}


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
@requires("predict")
def infer(name: str, version: str | None = None) -> Response:
    model = _model(name, version)
    if switched_off(name):  # raw tensors have no non-ML fallback
        raise ApiError(503, f"{name} is switched off by the operator; it answers again after: "
                            f"browserml fallback {name} off.", headers={"Retry-After": "60"})
    body, binary = _read_request()
    feeds = _feeds(model, body, binary)
    wanted = _wanted_outputs(model, body)
    try:
        pool = host_state().pool
        variant = pool.server_variant(model)
        started = time.perf_counter()
        outputs = run_outputs(pool, model, variant, feeds)
        served(model.name, model.version, variant)
        PREDICTIONS.labels(model.name, str(model.version), variant).inc()
        INFERENCE_LATENCY.labels(model.name, variant).observe(time.perf_counter() - started)
    except ApiError:
        raise
    except Exception as err:  # ONNX Runtime's InvalidArgument / Fail / RuntimeException
        raise ApiError(422, f"ONNX Runtime rejected the inputs of {model.name}: {err}") from None
    by_name = {spec["name"]: (spec, array) for spec, array in zip(model.manifest["outputs"], outputs)}
    default_binary = bool(_parameters(body, "the request").get("binary_data_output", False))
    response: dict[str, Any] = {"model_name": model.name, "model_version": str(model.version), "outputs": []}
    if "id" in body:
        response["id"] = body["id"]
    blobs = []
    for out_name, as_binary in wanted or [(n, default_binary) for n in by_name]:
        spec, array = by_name[out_name]
        datatype = v2_datatype(spec["dtype"])
        array = np.asarray(array)
        entry: dict[str, Any] = {"name": out_name, "datatype": datatype, "shape": list(array.shape)}
        if as_binary:
            blob = encode_binary(array, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = encode_json_data(array, datatype)
        response["outputs"].append(entry)
    if not blobs:
        return jsonify(response)
    header = json.dumps(response, separators=(",", ":")).encode()
    result = Response(header + b"".join(blobs), mimetype="application/octet-stream")
    result.headers[HEADER_LENGTH] = str(len(header))
    return result


def _parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``parameters`` object of a request, input or output ({} when absent)."""
    value = obj.get("parameters")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(422, f"'parameters' of {where} must be an object, got {type(value).__name__}.")
    return value


def _read_request() -> tuple[dict[str, Any], bytes]:
    """The JSON inference request and the binary data after it (if any)."""
    length = request.headers.get(HEADER_LENGTH)
    raw = request.get_data(cache=True)
    if length is None:
        if request.is_json:
            return json_object(request), b""
        # tritonclient sends a request without binary data as bare JSON with no
        # Content-Type (Triton needs none): the whole body is the JSON request.
        return _json_header(raw, "the request body"), b""
    try:
        size = int(length)
        if not 0 < size <= len(raw):
            raise ValueError
    except ValueError:
        raise ApiError(400, f"{HEADER_LENGTH} is {length!r}; it must be the byte length of the JSON "
                            f"header within the {len(raw)}-byte body.") from None
    return _json_header(raw[:size], "the inference header"), raw[size:]


def _json_header(raw: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, f"{what} is not valid JSON: {err}.") from None
    if not isinstance(body, dict):
        raise ApiError(422, f"{what} must be a JSON object.")
    return body


def _feeds(model: ModelVersion, body: dict[str, Any], binary: bytes) -> dict[str, np.ndarray]:
    inputs = body.get("inputs")
    expected = {spec["name"]: spec for spec in model.manifest["inputs"]}
    described = ", ".join(
        f"{n} ({v2_datatype(s['dtype'])} {_dims(s['shape'])})" for n, s in expected.items()
    )
    if not isinstance(inputs, list) or not inputs:
        raise ApiError(422, f"field 'inputs' must be a non-empty array; {model.name} takes {described}.")
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for i, spec in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ApiError(422, f"{where} must be an object with name, shape, datatype and data.")
        where = f"input '{spec['name']}'"
        if spec["name"] not in expected:
            raise ApiError(422, f"{where} is not an input of {model.name}; it takes {described}.")
        if spec["name"] in feeds:
            raise ApiError(422, f"{where} is given twice.")
        want = expected[spec["name"]]
        shape = check_shape(spec.get("shape"), where)
        datatype = spec.get("datatype")
        if datatype not in DATATYPES:
            raise ApiError(422, f"{where}.datatype is {datatype!r}; V2 datatypes are {', '.join(DATATYPES)}.")
        if datatype != v2_datatype(want["dtype"]):
            raise ApiError(422, f"{where} is {datatype}; {model.name} takes {v2_datatype(want['dtype'])} "
                                f"for it.")
        dims = _dims(want["shape"])
        if len(shape) != len(dims) or any(d not in (-1, s) for d, s in zip(dims, shape)):
            raise ApiError(422, f"{where} has shape {shape}; {model.name} takes {dims} (-1: any size).")
        size = _parameters(spec, where).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise ApiError(422, f"{where}: binary_data_size {size!r} does not fit the {len(binary)} "
                                    f"binary bytes after the header.")
            feeds[spec["name"]] = decode_binary_tensor(spec, binary[offset:offset + size], where)
            offset += size
        else:
            feeds[spec["name"]] = decode_json_tensor(spec, where)
    missing = [n for n in expected if n not in feeds]
    if missing:
        raise ApiError(422, f"missing input {', '.join(repr(n) for n in missing)}; {model.name} takes {described}.")
    return feeds


def _wanted_outputs(model: ModelVersion, body: dict[str, Any]) -> list[tuple[str, bool]]:
    """Requested outputs as (name, binary?) pairs; empty means all of them."""
    requested = body.get("outputs")
    if requested is None:
        return []
    names = [spec["name"] for spec in model.manifest["outputs"]]
    if not isinstance(requested, list):
        raise ApiError(422, "field 'outputs' must be an array of {name} objects.")
    default_binary = bool(_parameters(body, "the request").get("binary_data_output", False))
    wanted = []
    for i, spec in enumerate(requested):
        if not isinstance(spec, dict) or spec.get("name") not in names:
            raise ApiError(422, f"outputs[{i}] names no output of {model.name}; its outputs are "
                                f"{', '.join(names)}.")
        binary = _parameters(spec, f"outputs[{i}]").get("binary_data", default_binary)
        wanted.append((spec["name"], bool(binary)))
    return wanted
