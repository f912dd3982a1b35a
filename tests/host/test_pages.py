"""The demo app and the runtime are served from frontend/dist; before a build, / says how to build."""

from __future__ import annotations

import gzip
import json

import pytest

from app import create_app
from harness.catalog import MODELS

pytestmark = pytest.mark.catalog


def test_built_app_library_and_onnx_runtime_are_served(client, frontend_built):
    index = client.get("/")
    assert index.status_code == 200 and b'type="module"' in index.data
    assert index.headers["Cache-Control"] == "no-cache"
    lib = client.get("/lib/browserml.js")
    assert lib.status_code == 200 and lib.mimetype == "text/javascript"
    shell = client.get("/shell.json").json
    assert "/lib/worker.js" in shell and "/ort/ort-wasm-simd-threaded.wasm" in shell
    # The jsep build is WebGPU's alone: the service worker caches it when used, never up front.
    assert not [url for url in shell if "jsep" in url]
    assert client.head("/ort/ort-wasm-simd-threaded.jsep.wasm").status_code == 200
    for url in shell:
        assert client.head(url).status_code == 200, url


@pytest.mark.parametrize("build", ["ort-wasm-simd-threaded", "ort-wasm-simd-threaded.jsep"])
def test_onnx_runtime_wasm_is_sent_precompressed_to_browsers_that_accept_gzip(client, frontend_built, build):
    # application/wasm either way: Chromium then compiles while downloading and caches the code.
    url = f"/ort/{build}.wasm"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.headers.get("Content-Encoding") is None and plain.mimetype == "application/wasm"
    assert packed.headers["Content-Encoding"] == "gzip" and packed.mimetype == "application/wasm"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert len(packed.data) < len(plain.data) / 3
    assert gzip.decompress(packed.data) == plain.data
    for glue in (client.get(f"/ort/{build}.mjs"), client.get(f"/ort/{build}.mjs", headers={"Accept-Encoding": "gzip"})):
        assert glue.status_code == 200 and glue.mimetype == "text/javascript"


def test_before_a_build_the_index_lists_the_models_and_says_how_to_build(tmp_path):
    client = create_app({"MODELS_DIR": str(MODELS), "FRONTEND_DIST": str(tmp_path / "none")}).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"make run" in page.data and b"imagenet" in page.data
    missing = client.get("/lib/browserml.js")
    assert missing.status_code == 404 and "not built" in json.loads(missing.data)["error"]
