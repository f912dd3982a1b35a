"""The Open Inference Protocol (KServe V2) REST API, spoken by a real V2 client.

``tritonclient.http`` (NVIDIA's client) talks to the host over real HTTP: health,
metadata, readiness and ``infer`` on every catalog model with real inputs (a
photo through the task's ``prepare``, or tokenised sentences), both as JSON
tensors and with the binary tensor data extension. Outputs must equal ONNX
Runtime run in-process on the same variant file. Errors are checked through the
client and as raw HTTP (status and ``{"error": ...}``). The tensor codec
(``app.tensor_codec``) is unit-tested on every datatype.
"""

from __future__ import annotations

import io
import json
import re
import struct
from importlib.metadata import version as package_version

import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.http as httpclient
from PIL import Image
from tritonclient.utils import (
    InferenceServerException,
    deserialize_bytes_tensor,
    np_to_triton_dtype,
    serialize_byte_tensor,
)

from app.errors import ApiError
from app.tensor_codec import (
    DATATYPES,
    decode_binary_tensor,
    decode_json_tensor,
    encode_binary,
    encode_json_data,
)
from contract.native_runtime import session_options
from contract.tasks import IMAGE_TASKS, task_module
from harness.catalog import CATALOG, face_crop, latest_version_dir

SENTENCES = [
    "This movie was absolutely wonderful, I loved every minute of it.",
    "The service was slow and the food was cold. Never again.",
    "It's a phone.",
]
# The astronaut's face in skimage's astronaut photo, [x, y, w, h] (as in test_predict.py).
ASTRONAUT_FACE = [177.3, 80.6, 94.6, 94.6]
# Photos each image model gets (a batch when the model's batch dimension is dynamic).
PHOTOS = {"imagenet": ["chelsea.png", "coffee.jpg"], "face-detector": ["astronaut.jpg"],
          "emotion": ["astronaut.jpg"]}
ORT_DATATYPES = {"tensor(float)": "FP32", "tensor(float16)": "FP16", "tensor(int64)": "INT64",
                 "tensor(int32)": "INT32", "tensor(uint8)": "UINT8", "tensor(bool)": "BOOL"}


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triton(live_server):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{live_server.port}", network_timeout=120)
    yield client
    client.close()


def model_of(app, name: str):
    return app.extensions["browserml"].registry.resolve(name)


def ort_session(app, name: str) -> ort.InferenceSession:
    model = model_of(app, name)
    path = model.artifacts[model.server_candidates[0]].path
    return ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])


def real_feeds(app, photos, name: str) -> dict[str, np.ndarray]:
    """What the task's ``prepare`` makes of real photos (image models) or SENTENCES (text)."""
    model = model_of(app, name)
    prepare = task_module(model.task).prepare
    if model.task not in IMAGE_TASKS:
        return prepare(SENTENCES, model.manifest, model.assets)[0]
    batches = []
    for photo in PHOTOS[name]:
        image = Image.open(io.BytesIO(photos[photo])).convert("RGB")
        if name == "emotion":  # the classifier sees a face crop, as the face-emotion chain makes it
            image = face_crop(image, list(ASTRONAUT_FACE))
        batches.append(prepare(image, model.manifest, model.assets)[0])
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def in_process(app, name: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX Runtime on the server variant, in this process, without the host."""
    session = ort_session(app, name)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def v2_inputs(feeds: dict[str, np.ndarray], binary: bool) -> list[httpclient.InferInput]:
    inputs = []
    for key, array in feeds.items():
        tensor = httpclient.InferInput(key, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def image_input(shape=(1, 128, 128, 3), dtype=np.float32, name="image") -> list:
    return v2_inputs({name: np.zeros(shape, dtype)}, binary=True)


def raw_infer(live_server, name: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"{live_server.url}/v2/models/{name}/infer"
    return requests.post(url, data=data, timeout=60, **kwargs)


def v2_image(shape=(1, 128, 128, 3), datatype="FP32", **extra) -> dict:
    count = int(np.prod(shape))
    image = {"name": "image", "shape": list(shape), "datatype": datatype, "data": [0] * count}
    return {"inputs": [image], **extra}


# --- health and metadata ------------------------------------------------------------------


def test_server_is_live_and_ready(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()


def test_server_metadata(triton):
    meta = triton.get_server_metadata()
    assert meta["name"] == "browserml"
    assert meta["version"] == package_version("browserml")
    assert "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("name", CATALOG)
def test_model_is_ready(triton, name):
    assert triton.is_model_ready(name)
    assert triton.is_model_ready(name, model_version="1")  # older versions stay reachable
    assert triton.is_model_ready(name, model_version=served_version(name))
    assert not triton.is_model_ready(name, model_version="99")


@pytest.mark.parametrize("name", CATALOG)
@pytest.mark.parametrize("explicit_version", [False, True], ids=["default-version", "explicit-version"])
def test_model_metadata_describes_the_onnx_model(app, triton, name, explicit_version):
    """Names, datatypes and shapes (-1 where ONNX has a symbolic dim) are the served file's."""
    meta = triton.get_model_metadata(name, model_version=served_version(name) if explicit_version else "")
    session = ort_session(app, name)

    def described(tensors):
        return [{"name": t.name, "datatype": ORT_DATATYPES[t.type],
                 "shape": [d if isinstance(d, int) else -1 for d in t.shape]} for t in tensors]

    assert meta["name"] == name
    assert meta["inputs"] == described(session.get_inputs())
    assert meta["outputs"] == described(session.get_outputs())
    on_disk = latest_version_dir(name).parent.iterdir()
    assert meta["versions"] == sorted(p.name for p in on_disk if p.name.isdigit())
    assert meta["parameters"]["variant"] == model_of(app, name).server_candidates[0]


def served_version(name: str) -> str:
    """The version the server serves by default: the newest converted one (all pass their gates)."""
    return latest_version_dir(name).name


# --- infer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CATALOG)
@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_infer_equals_onnx_runtime_in_process(app, photos, triton, name, binary_in, binary_out):
    feeds = real_feeds(app, photos, name)
    want = in_process(app, name, feeds)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in want]
    result = triton.infer(name, v2_inputs(feeds, binary_in), outputs=outputs, request_id="req-42")

    response = result.get_response()
    assert response["id"] == "req-42"
    assert (response["model_name"], response["model_version"]) == (name, served_version(name))
    assert [o["name"] for o in response["outputs"]] == list(want)
    for key, expected in want.items():
        entry = result.get_output(key)
        assert ("binary_data_size" in entry.get("parameters", {})) == binary_out
        assert ("data" in entry) != binary_out
        got = result.as_numpy(key)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", CATALOG)
def test_infer_with_the_client_defaults_returns_every_output_binary(app, photos, triton, name):
    feeds = real_feeds(app, photos, name)
    want = in_process(app, name, feeds)
    result = triton.infer(name, v2_inputs(feeds, binary=True), model_version=served_version(name))
    for key, expected in want.items():
        assert "binary_data_size" in result.get_output(key)["parameters"]
        np.testing.assert_allclose(result.as_numpy(key), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_returns_only_the_requested_output(app, photos, triton, binary_out):
    feeds = real_feeds(app, photos, "face-detector")
    want = in_process(app, "face-detector", feeds)
    only = [httpclient.InferRequestedOutput("classificators", binary_data=binary_out)]
    result = triton.infer("face-detector", v2_inputs(feeds, binary=True), outputs=only)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["classificators"]
    assert result.as_numpy("regressors") is None
    got = result.as_numpy("classificators")
    np.testing.assert_allclose(got, want["classificators"], rtol=1e-6, atol=1e-6)


def test_infer_without_an_id_answers_without_one(app, photos, triton):
    feeds = real_feeds(app, photos, "face-detector")
    result = triton.infer("face-detector", v2_inputs(feeds, binary=True))
    assert "id" not in result.get_response()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "model_version", "message"),
    [
        pytest.param("yolo", image_input(), "", "unknown model 'yolo'", id="unknown-model"),
        pytest.param("face-detector", image_input(), "9", "face-detector has no version 9",
                     id="unknown-version"),
        pytest.param("face-detector", image_input(dtype=np.int32), "",
                     "input 'image' is INT32; face-detector takes FP32", id="wrong-datatype"),
        pytest.param("face-detector", image_input(shape=(1, 64, 64, 3)), "",
                     "takes [1, 128, 128, 3]", id="wrong-shape"),
        pytest.param("imagenet", image_input(shape=(1, 224, 224, 3)), "",
                     "takes [-1, 3, 224, 224]", id="NHWC-for-NCHW"),
        pytest.param("face-detector", image_input(name="pixels"), "",
                     "'pixels' is not an input of face-detector", id="unknown-input"),
        pytest.param("sentiment", v2_inputs({"input_ids": np.array([[101, 7592, 102]])}, True), "",
                     "missing input 'attention_mask'", id="missing-input"),
    ],
)
def test_client_errors_carry_our_message(triton, name, inputs, model_version, message):
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(name, inputs, model_version=model_version)
    assert message in caught.value.message()
    assert caught.value.status() in ("404", "422")


def test_metadata_of_unknown_model_is_an_error(triton):
    with pytest.raises(InferenceServerException, match="unknown model 'yolo'; known models"):
        triton.get_model_metadata("yolo")


# A binary request whose header announces more bytes than follow it.
BINARY_HEADER = json.dumps({"inputs": [{
    "name": "image", "shape": [1, 128, 128, 3], "datatype": "FP32",
    "parameters": {"binary_data_size": 4 * 128 * 128 * 3},
}]}).encode()
FLOAT_IN_INT64 = {"inputs": [
    {"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [101, 1.5]},
    {"name": "attention_mask", "shape": [1, 2], "datatype": "INT64", "data": [1, 1]},
]}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        pytest.param("yolo", v2_image(), {}, 404, "unknown model 'yolo'", id="unknown-model"),
        pytest.param("face-detector/versions/9", v2_image(), {}, 404, "no version 9",
                     id="unknown-version"),
        pytest.param("face-detector/versions/one", v2_image(), {}, 404, "not a version number",
                     id="non-numeric-version"),
        pytest.param("face-detector", v2_image(datatype="INT32"), JSON, 422, "takes FP32",
                     id="wrong-datatype"),
        pytest.param("face-detector", v2_image(datatype="FP128"), {}, 422, "V2 datatypes are",
                     id="unknown-datatype"),
        pytest.param("face-detector", v2_image(shape=(1, 128, 128)), {}, 422,
                     "takes [1, 128, 128, 3]", id="wrong-rank"),
        pytest.param("face-detector", {"inputs": []}, {}, 422,
                     "field 'inputs' must be a non-empty array", id="no-inputs"),
        pytest.param("face-detector", [1, 2], {}, 422, "must be a JSON object",
                     id="body-not-an-object"),
        pytest.param("face-detector", v2_image(outputs=[{"name": "boxes"}]), {}, 422,
                     "its outputs are regressors", id="unknown-output"),
        pytest.param("sentiment", FLOAT_IN_INT64, {}, 422, "INT64 data must be integers",
                     id="float-in-int64"),
        pytest.param("face-detector", b"{inputs: nope}", JSON, 400, "malformed JSON",
                     id="malformed-json"),
        pytest.param("face-detector", b"{inputs: nope}", {}, 400,
                     "the request body is not valid JSON", id="malformed-bare-json"),
        pytest.param("face-detector", b"{}", {"Inference-Header-Content-Length": "99"}, 400,
                     "it must be the byte length of the JSON header", id="header-length-too-long"),
        pytest.param("face-detector", BINARY_HEADER + b"\0" * 16,
                     {"Inference-Header-Content-Length": str(len(BINARY_HEADER))}, 422,
                     "does not fit the 16 binary bytes", id="binary-data-too-short"),
    ],
)
def test_raw_http_errors_are_json(live_server, path, body, headers, status, message):
    response = raw_infer(live_server, path, body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert message in response.json()["error"]


def test_a_json_only_request_needs_no_content_type(live_server):
    """tritonclient sends bare JSON (no Content-Type) when no tensor is binary."""
    response = raw_infer(live_server, "face-detector", v2_image(parameters=None))
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["regressors", "classificators"]


# --- the tensor codec, directly ------------------------------------------------------------------


def sample(datatype: str) -> np.ndarray:
    """A 2x3 tensor of ``datatype`` with its extreme values."""
    if datatype == "BYTES":
        values = [b"", b"a", "caf\u00e9 \u2603".encode(), b"with\x00nul", b"x" * 300, b"end"]
    elif datatype == "BOOL":
        values = [True, False, True, True, False, False]
    elif datatype.startswith("FP"):
        info = np.finfo(DATATYPES[datatype])
        values = [0.0, -1.5, float(info.max), float(info.min), float(info.tiny), 1 / 3]
    else:
        info = np.iinfo(DATATYPES[datatype])
        values = [0, 1, int(info.max), int(info.min), int(info.max) - 1, 7]
    return np.array(values, dtype=DATATYPES[datatype]).reshape(2, 3)


def spec_of(array: np.ndarray, datatype: str, data=None) -> dict:
    spec = {"name": "x", "datatype": datatype, "shape": list(array.shape)}
    return spec if data is None else {**spec, "data": data}


def assert_same_tensor(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_binary_round_trip(datatype):
    array = sample(datatype)
    raw = encode_binary(array, datatype)
    assert_same_tensor(decode_binary_tensor(spec_of(array, datatype), raw, "x"), array)


@pytest.mark.parametrize("datatype", list(DATATYPES))
@pytest.mark.parametrize("nested", [False, True])
def test_json_round_trip(datatype, nested):
    array = sample(datatype)
    data = json.loads(json.dumps(encode_json_data(array, datatype)))  # through real JSON text
    if nested:
        data = np.array(data, dtype=object).reshape(array.shape).tolist()
    assert_same_tensor(decode_json_tensor(spec_of(array, datatype, data), "x"), array)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "BYTES"])
def test_binary_is_what_tritonclient_sends(datatype):
    """tritonclient sends ``array.tobytes()`` (little-endian here); we encode the same bytes."""
    array = sample(datatype)
    assert encode_binary(array, datatype) == array.astype(array.dtype.newbyteorder("<")).tobytes()
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    assert encode_binary(big_endian, datatype) == encode_binary(array, datatype)


def test_bytes_are_length_prefixed_like_tritonclient():
    array = sample("BYTES")
    raw = encode_binary(array, "BYTES")
    assert raw[:9] == struct.pack("<I", 0) + struct.pack("<I", 1) + b"a"
    assert raw == serialize_byte_tensor(array).item()
    assert deserialize_bytes_tensor(raw).tolist() == array.reshape(-1).tolist()


@pytest.mark.parametrize(
    ("raw", "shape", "message"),
    [
        (b"\x05\x00", [1], "cut inside a length prefix"),
        (struct.pack("<I", 9) + b"abc", [1], "longer than the data left"),
        (struct.pack("<I", 1) + b"a", [2], "has 1 BYTES elements but shape [2] needs 2"),
    ],
)
def test_broken_binary_bytes_are_refused(raw, shape, message):
    with pytest.raises(ApiError, match=re.escape(message)) as caught:
        decode_binary_tensor({"datatype": "BYTES", "shape": shape}, raw, "x")
    assert caught.value.status == 422


def test_binary_of_the_wrong_length_is_refused():
    with pytest.raises(ApiError, match="has 10 bytes but shape \\[2, 2\\] of FP16 needs 8"):
        decode_binary_tensor({"datatype": "FP16", "shape": [2, 2]}, b"\0" * 10, "x")


@pytest.mark.parametrize(
    ("datatype", "data", "message"),
    [
        ("UINT8", [256], r"out of the UINT8 range \[0, 255\]"),
        ("INT8", [-129], r"out of the INT8 range"),
        ("UINT64", [2**64], r"out of the UINT64 range"),
        ("INT32", [1.5], "INT32 data must be integers"),
        ("INT32", [True], "INT32 data must be numbers"),
        ("FP32", ["1.0"], "FP32 data must be numbers"),
        ("FP64", [10**400], "too large"),
        ("BOOL", [1], "BOOL data must be true or false"),
        ("BYTES", [7], "BYTES data must be strings"),
        ("FP32", 1.0, "expected an array"),
    ],
)
def test_bad_json_data_is_refused(datatype, data, message):
    with pytest.raises(ApiError, match=message) as caught:
        decode_json_tensor({"datatype": datatype, "shape": [1], "data": data}, "x")
    assert caught.value.status == 422


def test_json_data_must_fill_the_shape():
    with pytest.raises(ApiError, match=r"has 3 values but shape \[2, 2\] needs 4"):
        decode_json_tensor({"datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3]]}, "x")
    with pytest.raises(ApiError, match="has no 'data'"):
        decode_json_tensor({"datatype": "INT32", "shape": [1]}, "x")


# --- last: the errors above left the server serving ---------------------------------------------


def test_still_ready_after_the_errors(live_server, triton):
    assert requests.get(live_server.url + "/v2/health/ready", timeout=60).status_code == 200
    assert triton.is_server_ready()
