"""The image golden files still hold what Python computes, so they cannot drift.

vitest (frontend/tests/tasks/) holds the browser to the same files; if one of
these tests fails, the Python reference changed: regenerate the files with
``python tests/data/golden/make_image_goldens.py`` if that was meant, and the
browser port must follow.
"""

from __future__ import annotations

import base64
import json
import tomllib
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.tasks import IMAGE_TASKS
from app.tasks.image_classification import classify
from app.tasks.imaging import to_tensor

GOLDEN = Path(__file__).parent / "data" / "golden"
CATALOG = Path(__file__).resolve().parents[1] / "models" / "catalog"
PREPROCESSING = json.loads((GOLDEN / "image_preprocessing.json").read_text())
CLASSIFICATION = json.loads((GOLDEN / "image_classification.json").read_text())


def golden_image(name: str) -> Image.Image:
    spec = PREPROCESSING["images"][name]
    channels = {"RGB": 3, "RGBA": 4}[spec["mode"]]
    pixels = np.frombuffer(base64.b64decode(spec["base64"]), dtype=np.uint8)
    return Image.fromarray(pixels.reshape(spec["height"], spec["width"], channels), spec["mode"])


def golden_tensor(spec: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(spec["base64"])
    if spec.get("compression") == "zlib":
        raw = zlib.decompress(raw)
    return np.frombuffer(raw, dtype="<f4").reshape(spec["shape"])


def test_cases_use_the_catalogs_preprocess_blocks() -> None:
    recipes = [tomllib.loads(p.read_text()) for p in sorted(CATALOG.glob("*.toml"))]
    catalog = {r["name"]: r["preprocess"] for r in recipes if r["task"] in IMAGE_TASKS}
    by_image: dict[str, set[str]] = {}
    for case in PREPROCESSING["cases"]:
        assert case["preprocess"] == catalog[case["model"]], case["name"]
        by_image.setdefault(case["image"], set()).add(case["model"])
    # Every image goes through every image model's preprocessing.
    assert by_image == {name: set(catalog) for name in PREPROCESSING["images"]}


@pytest.mark.parametrize("case", PREPROCESSING["cases"], ids=lambda c: c["name"])
def test_preprocessing_reproduces(case: dict[str, Any]) -> None:
    tensor, box = to_tensor(golden_image(case["image"]), case["preprocess"])
    expected = golden_tensor(case["expected"])
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, expected)  # bit for bit: Pillow is deterministic
    lb = case["letterbox"]
    assert (box.source_width, box.source_height) == (lb["source_width"], lb["source_height"])
    assert box.scale == pytest.approx(lb["scale"], rel=1e-15)
    assert (box.pad_x, box.pad_y) == (lb["pad_x"], lb["pad_y"])


@pytest.mark.parametrize("case", CLASSIFICATION["cases"], ids=lambda c: c["name"])
def test_classification_reproduces(case: dict[str, Any]) -> None:
    logits = np.asarray(case["logits"], dtype=np.float32)
    assert classify(logits, case["postprocess"]) == case["expected"]


def test_classification_covers_what_the_browser_must_match() -> None:
    cases = CLASSIFICATION["cases"]
    assert {c["postprocess"].get("activation", "softmax") for c in cases} == {
        "softmax", "sigmoid", "none",
    }
    assert any(c["expected"]["uncertain"] for c in cases)
    assert any(not c["expected"]["uncertain"] for c in cases)
    # At least one case has tied scores, ordered by class index.
    assert any(len({round(s, 9) for s in c["logits"]}) < len(c["logits"]) for c in cases)
