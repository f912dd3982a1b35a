"""Pipelines: a recipe of their own, checked at conversion, served in the catalog, run by the host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app import create_app
from contract.pipelines import crop_rect
from convert.errors import ConversionError
from convert.pipelines import build_pipeline, write_pipeline
from harness.catalog import ROOT, pipeline


def _project_with(tmp_path: Path, recipe: str) -> Path:
    """A project root whose catalog is the real one plus a pipeline recipe ``recipe``."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "models" / "catalog", root / "models" / "catalog")
    (root / "models" / "catalog" / "pipelines" / "custom.toml").write_text(recipe)
    return root


RECIPE = (ROOT / "models" / "catalog" / "pipelines" / "face-emotion.toml").read_text().replace(
    'name = "face-emotion"', 'name = "custom"')


def test_the_catalog_pipeline_is_written_as_its_recipe_says(tmp_path):
    written = write_pipeline("face-emotion", ROOT, tmp_path)
    manifest = json.loads(written.read_text())
    assert manifest == pipeline("face-emotion")
    assert manifest["detector"] == "face-detector" and manifest["classifier"] == "emotion"
    assert manifest["crop"]["margin"] == 0.15 and manifest["attach_as"] == "emotion"


@pytest.mark.parametrize(("change", "message"), [
    (('detector = "face-detector"', 'detector = "nope"'), "detector 'nope' is not a catalog model"),
    (('classifier = "emotion"', 'classifier = "text-embedder"'), "a classifier must be image-classification"),
    (("margin = 0.15", "margin = -1"), "pipeline field crop/margin"),
    (('kind = "detect-then-classify"', 'kind = "magic"'), "pipeline field kind"),
    (('name = "custom"', 'name = "other"'), "must match the file name"),
])
def test_a_bad_pipeline_recipe_says_what_to_fix(tmp_path, change, message):
    root = _project_with(tmp_path, RECIPE.replace(*change))
    with pytest.raises(ConversionError, match=message):
        build_pipeline("custom", root)


def test_pipelines_are_listed_and_served(client):
    listed = client.get("/api/v1/pipelines").json["pipelines"]
    assert [p["name"] for p in listed] == ["face-emotion"]
    one = client.get("/api/v1/pipelines/face-emotion").json
    assert one["crop"] == pipeline("face-emotion")["crop"]
    assert one["urls"]["predict"] == "/api/v1/pipelines/face-emotion/predict"
    assert client.get(one["urls"]["detector"]).json["name"] == "face-detector"
    missing = client.get("/api/v1/pipelines/nope")
    assert missing.status_code == 404 and "known pipelines: face-emotion" in missing.json["error"]
    assert client.post("/api/v1/pipelines/nope/predict", data=b"x").status_code == 404


def test_a_broken_pipeline_manifest_is_skipped_and_said(tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "bad.json").write_text('{"name": "bad"}')
    registry = create_app({"MODELS_DIR": str(tmp_path), "TESTING": True}).extensions["browserml"].registry
    assert registry.pipelines == {} and "pipelines/bad" in registry.broken


@pytest.mark.parametrize(("box", "want"), [
    ([10, 20, 100, 80], (0, 8, 125, 112)),         # clipped at the left edge
    ([0.0, 0.0, 1.0, 1.0], (0, 0, 1, 1)),          # at least one pixel
    ([180, 180, 40, 40], (174, 174, 200, 200)),    # clipped at the far edges
])
def test_the_crop_widens_the_box_and_stays_inside(box, want):
    assert crop_rect(box, 200, 200, 0.15) == want


GOLDEN = json.loads((ROOT / "tests" / "data" / "golden" / "crop_rect.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: str(c["box"]))
def test_crop_golden_cases(case):
    """The cases vitest holds frontend/src/pipelines.ts to (tests/data/golden/crop_rect.json)."""
    assert list(crop_rect(case["box"], case["width"], case["height"], case["margin"])) == case["expected"]
