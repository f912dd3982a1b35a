"""The demo app and the runtime are served from frontend/dist; before a build, / says how to build."""

from __future__ import annotations

import gzip
import json

import brotli
import pytest
import requests

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


def _raw(url: str, accept: str | None, **headers: str) -> tuple[requests.Response, bytes]:
    """GET over HTTP with exactly this Accept-Encoding (None: no header): the response and its body as sent."""
    session = requests.Session()
    session.headers.pop("Accept-Encoding")
    if accept is not None:
        headers["Accept-Encoding"] = accept
    response = session.get(url, headers=headers, stream=True, timeout=30)
    return response, response.raw.read(decode_content=False)


# Chromium 156 sends "gzip, deflate, br, zstd" to http://127.0.0.1 and http://localhost (and over HTTPS),
# only "gzip, deflate" to a plain-HTTP address that is not loopback; curl and scripts often send none.
@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"), (None, None), ("br;q=0, gzip", "gzip"),
     ("identity", None)],
)
@pytest.mark.parametrize("file", ["ort/ort-wasm-simd-threaded.wasm", "ort/ort-wasm-simd-threaded.mjs", "lib/worker.js"])
def test_the_runtime_is_sent_brotli_gzip_or_plain_as_the_browser_accepts(site, frontend_built, accept, encoding, file):
    plain = (frontend_built / file).read_bytes()
    response, body = _raw(f"{site.url}/{file}", accept)
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    # The file's own type whatever the encoding: application/wasm keeps Chromium's streaming compilation.
    kind = "application/wasm" if file.endswith(".wasm") else "text/javascript"
    assert response.headers["Content-Type"].split(";")[0] == kind
    assert response.headers["Vary"] == "Accept-Encoding"
    assert int(response.headers["Content-Length"]) == len(body)
    unpacked = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding](body)
    assert unpacked == plain
    if file.endswith(".wasm") and encoding:
        assert len(body) < len(plain) / (5 if encoding == "br" else 3)


def test_each_encoding_has_its_own_etag_and_revalidates_to_304(site, frontend_built):
    url = f"{site.url}/ort/ort-wasm-simd-threaded.wasm"
    etags = {}
    for accept, encoding in (("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"), (None, None)):
        first, _ = _raw(url, accept)
        etags[encoding] = first.headers["ETag"]
        again, body = _raw(url, accept, **{"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and body == b""
    assert len(set(etags.values())) == 3  # a cache never takes the brotli body for the gzip one
    # A validator of another encoding does not match: the full body, in the encoding asked for.
    switched, _ = _raw(url, "gzip, deflate", **{"If-None-Match": etags["br"]})
    assert switched.status_code == 200 and switched.headers["Content-Encoding"] == "gzip"


def test_before_a_build_the_index_lists_the_models_and_says_how_to_build(tmp_path):
    client = create_app({"MODELS_DIR": str(MODELS), "FRONTEND_DIST": str(tmp_path / "none")}).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"make run" in page.data and b"imagenet" in page.data
    missing = client.get("/lib/browserml.js")
    assert missing.status_code == 404 and "not built" in json.loads(missing.data)["error"]
