"""The registry serves intact versions only, and the newest passing one by default."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from app import create_app
from app.errors import ApiError
from app.registry import Registry
from harness.catalog import latest_version_dir

pytestmark = pytest.mark.catalog


def _copy(models: Path, name: str, version: int) -> Path:
    target = models / name / str(version)
    shutil.copytree(latest_version_dir(name), target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def _edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_default_version_is_the_newest_that_passed_its_gates(tmp_path):
    models = tmp_path / "models"
    _copy(models, "emotion", 1)
    _copy(models, "emotion", 2)
    rejected = _copy(models, "emotion", 3)

    def reject_all(manifest):
        for variant in manifest["variants"]:
            variant["gates"] = {b: {"passed": False, "reasons": ["top1_agreement 0.5 is under the floor 0.98"]}
                                for b in variant["backends"]}

    _edit_manifest(rejected, reject_all)
    registry = Registry(models)
    assert [m.version for m in registry.versions("emotion")] == [1, 2, 3]
    assert registry.resolve("emotion").version == 2
    assert registry.resolve("emotion", "3").version == 3  # still reachable when asked for


def test_broken_versions_are_logged_and_skipped_the_rest_keep_serving(tmp_path, caplog):
    models = tmp_path / "models"
    _copy(models, "face-detector", 1)
    tampered = _copy(models, "emotion", 1)
    missing = _copy(models, "emotion", 2)
    bad_json = _copy(models, "emotion", 3)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes
    (tampered / "model.onnx").write_bytes(bytes(data))
    (missing / "model.fp16.onnx").unlink()
    (bad_json / "manifest.json").write_text("{ not json")

    with caplog.at_level(logging.ERROR, logger="browserml"):
        registry = Registry(models)
    assert registry.names() == ["face-detector"]
    assert sorted(registry.broken) == ["emotion/1", "emotion/2", "emotion/3"]
    assert "sha256" in registry.broken["emotion/1"]
    assert "missing" in registry.broken["emotion/2"]
    assert "JSON" in registry.broken["emotion/3"]
    assert "skipping model emotion/1" in caplog.text
    with pytest.raises(ApiError) as err:
        registry.resolve("emotion")
    assert err.value.status == 404

    client = create_app({"MODELS_DIR": str(models)}).test_client()
    assert client.get("/api/v1/models").json["models"][0]["name"] == "face-detector"
    assert client.get("/v2/health/ready").status_code == 200


def test_a_manifest_in_the_wrong_folder_is_refused(tmp_path):
    models = tmp_path / "models"
    moved = _copy(models, "emotion", 1)
    shutil.move(moved, models / "emotion" / "7")
    registry = Registry(models)
    assert "emotion/7" in registry.broken
    assert "lives in" in registry.broken["emotion/7"]


def test_a_model_that_onnx_runtime_cannot_load_answers_503(tmp_path):
    models = tmp_path / "models"
    broken = _copy(models, "emotion", 1)
    garbage = b"\x08\x07not an onnx graph" * 100

    def point_at_garbage(manifest):
        import hashlib

        for variant in manifest["variants"]:
            if variant.get("format", "onnx") == "onnx":  # what ONNX Runtime loads
                variant["bytes"] = len(garbage)
                variant["sha256"] = hashlib.sha256(garbage).hexdigest()

    for variant in ("model.onnx", "model.int8.onnx", "model.fp16.onnx"):
        (broken / variant).write_bytes(garbage)
    _edit_manifest(broken, point_at_garbage)
    client = create_app({"MODELS_DIR": str(models)}).test_client()
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(buf, "PNG")
    response = client.post("/api/v1/models/emotion/predict", data=buf.getvalue(), content_type="image/png")
    assert response.status_code == 503
    assert "cannot be loaded" in response.json["error"]
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/models/emotion/ready").status_code == 503
    assert client.get("/v2/health/live").status_code == 200
