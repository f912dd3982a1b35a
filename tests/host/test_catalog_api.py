"""The catalog API: every model, its variants with URLs and sizes, and its manifest."""

from __future__ import annotations

import pytest

from contract.manifest import passes_in_browser
from harness.catalog import CATALOG, latest_manifest

pytestmark = pytest.mark.catalog


def test_list_names_every_catalog_model_with_variants_urls_and_recommendations(client):
    response = client.get("/api/v1/models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json["models"]}
    assert sorted(models) == CATALOG
    for name, entry in models.items():
        manifest = latest_manifest(name)
        assert entry["version"] == manifest["version"]
        assert entry["task"] == manifest["task"]
        assert entry["recommended"] == manifest["recommended"]
        for listed, variant in zip(entry["variants"], manifest["variants"]):
            assert listed["bytes"] == variant["bytes"] and listed["sha256"] == variant["sha256"]
            if passes_in_browser(variant):
                assert listed["url"] == f"/models/{name}/{manifest['version']}/{variant['file']}"
                assert client.head(listed["url"]).status_code == 200
            else:
                assert listed["url"] is None


@pytest.mark.parametrize("name", CATALOG)
def test_model_endpoint_returns_its_manifest_with_artifact_urls(client, name):
    body = client.get(f"/api/v1/models/{name}").json
    manifest = latest_manifest(name)
    assert body["name"] == name and body["version"] == manifest["version"]
    assert body["inputs"] == manifest["inputs"] and body["preprocess"] == manifest["preprocess"]
    for asset in body["assets"]:
        assert client.get(asset["url"]).status_code == 200
    assert client.get(body["urls"]["manifest"]).json == manifest
    assert client.get(f"/api/v1/models/{name}?version=1").json["version"] == 1


def test_unknown_model_and_version_are_404(client):
    unknown = client.get("/api/v1/models/resnet")
    assert unknown.status_code == 404 and "known models" in unknown.json["error"]
    assert client.get("/api/v1/models/emotion?version=42").status_code == 404


def _sentiment_backbone() -> dict:
    manifest = latest_manifest("sentiment")
    if "backbone" not in manifest:
        pytest.fail("sentiment has no backbone section; convert it again: browserml convert sentiment")
    return manifest


def test_sentiment_names_its_backbone_file_and_head_with_urls(client):
    import hashlib

    manifest = _sentiment_backbone()
    section = client.get("/api/v1/models/sentiment").json["backbone"]
    head = client.get(section["head"]["url"])
    assert head.status_code == 200 and hashlib.sha256(head.data).hexdigest() == manifest["backbone"]["head"]["sha256"]
    served = [split for split in section["splits"] if split["backbone_url"]]
    assert served, section
    for split in served:
        assert passes_in_browser(split)
        assert split["backbone_url"] == f"/models/{section['model']}/{section['version']}/{split['backbone_file']}"
        # The backbone model's own file: the same bytes (and Cache Storage key) as that model serves.
        response = client.get(split["backbone_url"])
        assert hashlib.sha256(response.data).hexdigest() == split["backbone_sha256"]


def test_without_its_backbone_model_the_split_has_no_url_and_says_why(tmp_path):
    from app import create_app
    from harness.catalog import versions_copy

    _sentiment_backbone()
    models = versions_copy(tmp_path / "models", ["sentiment"], count=1)  # no text-embedder
    client = create_app({"MODELS_DIR": str(models), "TESTING": True}).test_client()
    section = client.get("/api/v1/models/sentiment").json["backbone"]
    for split in section["splits"]:
        assert split["backbone_url"] is None
        assert f"{section['model']} v{section['version']} is not served by this host" in split["unavailable"]
    # The composed variants are still there for the browser.
    assert client.get("/api/v1/models/sentiment").json["recommended"]["wasm"]
