"""Artifacts: immutable, ETag = sha256, 304s, HEAD, MIME types; nothing else on disk is reachable."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil

import pytest

from app import create_app
from contract.manifest import passes_in_browser
from harness.catalog import CATALOG, latest_manifest, latest_version_dir

pytestmark = pytest.mark.catalog


@pytest.mark.parametrize("name", CATALOG)
def test_every_passing_variant_is_served_with_its_sha256_as_a_strong_etag(client, name):
    manifest = latest_manifest(name)
    for variant in manifest["variants"]:
        url = f"/models/{name}/{manifest['version']}/{variant['file']}"
        response = client.get(url)
        if not passes_in_browser(variant):
            assert response.status_code == 404
            assert "did not pass its gates in the browser" in response.json["error"]
            continue
        assert response.status_code == 200
        assert hashlib.sha256(response.data).hexdigest() == variant["sha256"]
        assert response.headers["ETag"] == f'"{variant["sha256"]}"'  # strong: no W/
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        shards = variant.get("shards", [])  # a TF.js graph model: model.json, then its weight files
        mime = "application/json" if variant.get("format") == "tfjs-graph" else "application/octet-stream"
        assert response.headers["Content-Type"] == mime
        assert int(response.headers["Content-Length"]) == variant["bytes"] - sum(s["bytes"] for s in shards)
        for shard in shards:
            served = client.get(f"/models/{name}/{manifest['version']}/{shard['file']}")
            assert served.status_code == 200 and served.headers["Content-Type"] == "application/octet-stream"
            assert hashlib.sha256(served.data).hexdigest() == shard["sha256"]
            assert served.headers["ETag"] == f'"{shard["sha256"]}"'


def test_if_none_match_gives_304_and_head_gives_headers_only(client):
    manifest = latest_manifest("face-detector")
    url = f"/models/face-detector/{manifest['version']}/model.onnx"
    etag = client.get(url).headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == manifest["variants"][0]["bytes"]
    ranged = client.get(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.data) == 100


def test_manifest_tokenizer_and_report_have_their_mime_types(client):
    version = latest_manifest("sentiment")["version"]
    assert client.get(f"/models/sentiment/{version}/manifest.json").json["name"] == "sentiment"
    tokenizer = client.get(f"/models/sentiment/{version}/tokenizer.json")
    assert tokenizer.status_code == 200 and tokenizer.mimetype == "application/json"
    report = client.get(f"/models/sentiment/{version}/report.md")
    assert report.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert client.get(f"/models/sentiment/{version}/report.png").mimetype == "image/png"


@pytest.mark.parametrize(
    "path",
    [
        "/models/emotion/1/../../../pyproject.toml",
        "/models/emotion/1/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/models/emotion/1/..%2f..%2f..%2fpyproject.toml",
        "/models/emotion/1/%2fetc%2fpasswd",
        "/models/emotion/1//etc/passwd",
        "/models/../pyproject.toml",
        "/models/catalog/emotion.toml",
        "/models/emotion/1/report.md%00.onnx",
    ],
)
def test_path_traversal_never_reads_outside_the_models(live_server, path):
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    connection.request("GET", path)  # raw: no client-side normalisation of the path
    response = connection.getresponse()
    body = response.read()
    # 308: Werkzeug merges duplicate slashes and redirects, still under /models/.
    assert response.status in (308, 400, 404)
    if response.status == 308:
        assert response.getheader("Location") == f"{live_server.url}/models/emotion/1/etc/passwd"
        return
    assert b"[project]" not in body and b"root:" not in body
    assert "error" in json.loads(body)


def test_unknown_model_version_and_file_are_404_with_what_exists(client):
    assert "known models: emotion" in client.get("/models/nope/1/model.onnx").json["error"]
    assert "versions: 1" in client.get("/models/emotion/99/model.onnx").json["error"]
    missing = client.get("/models/emotion/1/weights.bin")
    assert missing.status_code == 404 and "model.onnx" in missing.json["error"]


def test_server_only_models_never_serve_their_weights(tmp_path):
    models = tmp_path / "models"
    source = latest_version_dir("emotion")
    target = models / "emotion" / source.name
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["client"]["server_only"] = True
    (target / "manifest.json").write_text(json.dumps(manifest))
    client = create_app({"MODELS_DIR": str(models)}).test_client()
    shards = [s["file"] for v in manifest["variants"] for s in v.get("shards", [])]
    assert shards  # emotion's TF.js graph models
    for variant in ("model.onnx", "model.int8.onnx", "model.fp16.onnx", "model.tfjs.json", *shards):
        response = client.get(f"/models/emotion/{source.name}/{variant}")
        assert response.status_code == 403
        assert "server-only" in response.json["error"] and "/predict" in response.json["error"]
    assert client.get(f"/models/emotion/{source.name}/manifest.json").status_code == 200
    listed = client.get("/api/v1/models").json["models"][0]
    assert all(v["url"] is None for v in listed["variants"])


def test_a_shard_changed_on_disk_after_start_is_not_served(tmp_path):
    """A TF.js graph model's weight file is checked like a variant file: by its sha256."""
    models = tmp_path / "models"
    source = latest_version_dir("emotion")
    target = models / "emotion" / source.name
    shutil.copytree(source, target)
    client = create_app({"MODELS_DIR": str(models)}).test_client()
    variant = next(v for v in latest_manifest("emotion")["variants"] if v.get("format") == "tfjs-graph")
    shard = variant["shards"][0]["file"]
    url = f"/models/emotion/{source.name}/{shard}"
    assert client.get(url).status_code == 200
    data = bytearray((target / shard).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (target / shard).write_bytes(bytes(data))
    refused = client.get(url)
    assert refused.status_code == 503 and "changed on disk" in refused.json["error"]


def test_json_artifacts_are_sent_gzipped_when_accepted_and_decode_to_their_sha256(client):
    """A TF.js model.json and a tokenizer are text: gzip is a fraction of their bytes, and what the
    browser decodes is byte for byte the file the manifest hashes."""
    import gzip

    emotion = latest_manifest("emotion")
    graph = next(v for v in emotion["variants"] if v.get("format") == "tfjs-graph")
    sentiment = latest_manifest("sentiment")
    tokenizer = next(a for a in sentiment["assets"] if a["file"] == "tokenizer.json")
    for url, entry in ((f"/models/emotion/{emotion['version']}/{graph['file']}", graph),
                       (f"/models/sentiment/{sentiment['version']}/tokenizer.json", tokenizer)):
        plain = client.get(url)
        packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert plain.status_code == packed.status_code == 200
        assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
        assert packed.headers["Content-Encoding"] == "gzip" and packed.headers["Vary"] == "Accept-Encoding"
        assert hashlib.sha256(gzip.decompress(packed.data)).hexdigest() == entry["sha256"]
        assert hashlib.sha256(plain.data).hexdigest() == entry["sha256"]
        assert len(packed.data) < len(plain.data) / 2
        assert packed.headers["Content-Type"] == plain.headers["Content-Type"] == "application/json"
        assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        # Each representation has its own validator.
        assert packed.headers["ETag"] == f'"{entry["sha256"]}-gzip"' and plain.headers["ETag"] == f'"{entry["sha256"]}"'
        again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        assert client.get(url, headers={"Accept-Encoding": "gzip;q=0"}).headers.get("Content-Encoding") is None
