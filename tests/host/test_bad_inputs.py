"""Bad input, one row each: a 4xx with a message that says what to do, and the server stays healthy.

Each row goes over real HTTP to the live server; the last test checks the
server still answers health and a real prediction after all of them.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.catalog


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def _photo(fmt: str = "JPEG") -> bytes:
    from skimage import data

    return _encoded(Image.fromarray(data.astronaut()), fmt)


def _bomb() -> bytes:
    """A 30000x30000 PNG of a few hundred KB: 900 megapixels once decoded."""
    return _encoded(Image.new("1", (30_000, 30_000)), "PNG")


def _v2_image(shape=(1, 128, 128, 3), datatype="FP32", **extra) -> dict[str, Any]:
    count = 1
    for d in shape:
        count *= d
    return {"inputs": [{"name": "image", "shape": list(shape), "datatype": datatype,
                        "data": [0.0 if datatype.startswith("FP") else 0] * count, **extra}]}


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    says: str  # a phrase the error message must contain
    kwargs: dict[str, Any] = field(default_factory=dict)


PREDICT_IMG = "/api/v1/models/imagenet/predict"
PREDICT_FACES = "/api/v1/models/face-detector/predict"
PREDICT_TEXT = "/api/v1/models/sentiment/predict"
V2_INFER = "/v2/models/face-detector/infer"


def cases() -> list[Case]:
    photo = _photo()
    png = _photo("PNG")
    return [
        Case("corrupt-jpeg", "POST", PREDICT_IMG, 422, "corrupt",
             {"files": {"image": ("x.jpg", photo[:600] + bytes(range(256)) * 40 + photo[-2:])}}),
        Case("truncated-jpeg", "POST", PREDICT_IMG, 422, "truncated",
             {"files": {"image": ("x.jpg", photo[: len(photo) // 3])}}),
        Case("truncated-png", "POST", PREDICT_FACES, 422, "truncated",
             {"files": {"image": ("x.png", png[: len(png) // 2])}}),
        Case("decompression-bomb", "POST", PREDICT_IMG, 422, "megapixel limit",
             {"files": {"image": ("bomb.png", _bomb())}}),
        Case("1x1-image", "POST", PREDICT_IMG, 422, "smallest accepted side",
             {"files": {"image": ("dot.png", _encoded(Image.new("RGB", (1, 1)), "PNG"))}}),
        Case("non-image-file", "POST", PREDICT_IMG, 415, "not an image",
             {"files": {"image": ("notes.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" * 20)}}),
        Case("unsupported-image-format", "POST", PREDICT_IMG, 415, "not accepted",
             {"files": {"image": ("x.tiff", _encoded(Image.new("RGB", (64, 64)), "TIFF"))}}),
        Case("wrong-content-type", "POST", PREDICT_IMG, 415, "multipart/form-data",
             {"data": b"hello", "headers": {"Content-Type": "text/plain"}}),
        Case("multipart-without-image-field", "POST", PREDICT_IMG, 422, "no file field 'image'",
             {"files": {"photo": ("x.jpg", photo)}}),
        Case("empty-upload", "POST", PREDICT_IMG, 422, "empty",
             {"files": {"image": ("x.jpg", b"")}}),
        Case("image-not-base64", "POST", PREDICT_IMG, 422, "not valid base64",
             {"json": {"image": "this is not base64!"}}),
        Case("image-field-missing", "POST", PREDICT_IMG, 422, "field 'image' is missing",
             {"json": {"picture": base64.b64encode(photo).decode()}}),
        Case("malformed-json", "POST", PREDICT_TEXT, 400, "malformed JSON",
             {"data": b'{"text": "unterminated', "headers": {"Content-Type": "application/json"}}),
        Case("invalid-utf8", "POST", PREDICT_TEXT, 400, "not valid UTF-8",
             {"data": b'{"text": "caf\xe9 \xff"}', "headers": {"Content-Type": "application/json"}}),
        Case("json-array-body", "POST", PREDICT_TEXT, 422, "expected an object",
             {"json": ["a", "b"]}),
        Case("text-field-missing", "POST", PREDICT_TEXT, 422, "exactly one of the fields 'text' or 'texts'",
             {"json": {"sentence": "hello"}}),
        Case("empty-text", "POST", PREDICT_TEXT, 422, "field 'text' is empty", {"json": {"text": "   "}}),
        Case("text-not-a-string", "POST", PREDICT_TEXT, 422, "expected a string", {"json": {"text": 42}}),
        Case("one-megabyte-text", "POST", PREDICT_TEXT, 422, "the limit is 10,000",
             {"json": {"text": "word " * 209_716}}),
        Case("texts-with-an-empty-item", "POST", PREDICT_TEXT, 422, "texts[1]",
             {"json": {"texts": ["fine", ""]}}),
        Case("image-sent-to-text-model", "POST", PREDICT_TEXT, 415, "expected application/json",
             {"files": {"image": ("x.jpg", photo)}}),
        Case("body-over-10-mb", "POST", PREDICT_IMG, 413, "upload limit",
             {"data": b"\xff\xd8\xff" + b"\0" * 11_000_000, "headers": {"Content-Type": "image/jpeg"}}),
        Case("unknown-model", "POST", "/api/v1/models/resnet-50/predict", 404, "known models",
             {"json": {"text": "hi"}}),
        Case("unknown-version", "POST", PREDICT_TEXT + "?version=9", 404, "no version 9",
             {"json": {"text": "hi"}}),
        Case("get-on-predict", "GET", PREDICT_TEXT, 405, "use POST"),
        Case("v2-wrong-shape", "POST", V2_INFER, 422, "takes [1, 128, 128, 3]",
             {"json": _v2_image(shape=(1, 64, 64, 3))}),
        Case("v2-wrong-datatype", "POST", V2_INFER, 422, "takes FP32",
             {"json": _v2_image(datatype="INT32")}),
        Case("v2-data-count-mismatch", "POST", V2_INFER, 422, "needs 49152",
             {"json": {"inputs": [{"name": "image", "shape": [1, 128, 128, 3], "datatype": "FP32",
                                   "data": [0.5] * 10}]}}),
        Case("v2-missing-input", "POST", "/v2/models/sentiment/infer", 422, "missing input 'attention_mask'",
             {"json": {"inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64",
                                   "data": [101, 7592, 102]}]}}),
        Case("v2-malformed-json", "POST", V2_INFER, 400, "malformed JSON",
             {"data": b"{inputs: nope}", "headers": {"Content-Type": "application/json"}}),
        Case("v2-unknown-model", "GET", "/v2/models/yolo", 404, "known models"),
        Case("v2-token-id-out-of-vocabulary", "POST", "/v2/models/sentiment/infer", 422,
             "ONNX Runtime rejected the inputs",
             {"json": {"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64",
                                   "data": [101, 99_999_999]},
                                  {"name": "attention_mask", "shape": [1, 2], "datatype": "INT64",
                                   "data": [1, 1]}]}}),
    ]


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_4xx_that_says_what_to_do(live_server, case):
    response = requests.request(case.method, live_server.url + case.path, timeout=60, **case.kwargs)
    assert response.status_code == case.status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert case.says in error
    assert "Traceback" not in error and len(error) < 600


def test_the_table_is_long_enough():
    assert len(CASES) >= 15


def test_server_is_healthy_after_all_the_bad_input(live_server):
    for case in CASES:  # run them again, back to back, then check health
        requests.request(case.method, live_server.url + case.path, timeout=60, **case.kwargs)
    assert requests.get(live_server.url + "/v2/health/live", timeout=10).status_code == 200
    assert requests.get(live_server.url + "/v2/health/ready", timeout=60).status_code == 200
    good = requests.post(live_server.url + PREDICT_TEXT, json={"text": "What a lovely day!"}, timeout=60)
    assert good.status_code == 200 and good.json()["labels"][0]["label"] == "positive"
    print(json.dumps({c.id: c.status for c in CASES}))


def test_v2_parameters_that_are_not_objects_are_422(client):
    body = {"inputs": [{"name": "image", "shape": [1, 128, 128, 3], "datatype": "FP32",
                        "data": [0.0] * 49152, "parameters": ["binary"]}]}
    response = client.post("/v2/models/face-detector/infer", json=body)
    assert response.status_code == 422 and "must be an object" in response.json["error"]
    body = {**_v2_image(), "parameters": "yes"}
    assert client.post("/v2/models/face-detector/infer", json=body).status_code == 422
