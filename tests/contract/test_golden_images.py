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
from typing import Any

import numpy as np
import pytest
from PIL import Image

from contract.tasks import IMAGE_TASKS
from contract.tasks.image_classification import classify
from contract.tasks.imaging import composite_on_black, premultiply, to_tensor
from harness.catalog import GOLDEN as GOLDEN_DIR
from harness.catalog import ROOT

GOLDEN = GOLDEN_DIR
CATALOG = ROOT / "models" / "catalog"
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


def test_goldens_cover_transparency() -> None:
    """An RGBA golden holds the alpha levels where rounding matters and hidden colour
    under alpha 0, so vitest holds the browser's compositing to Python's."""
    alphas: set[int] = set()
    hidden = False
    for name, spec in PREPROCESSING["images"].items():
        if spec["mode"] == "RGBA":
            rgba = np.asarray(golden_image(name))
            alphas |= set(rgba[..., 3].ravel().tolist())
            hidden |= bool((rgba[..., :3][rgba[..., 3] == 0] != 0).any())
    assert {0, 1, 127, 128, 254, 255} <= alphas
    assert hidden


def test_premultiply_rounds_half_up_like_skia() -> None:
    c, a = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    exact = np.floor(c.astype(np.int64) * a / 255 + 0.5)  # c * a / 255 is never exactly .5
    np.testing.assert_array_equal(premultiply(c, a), exact)
    # Pillow's own premultiplied mode agrees to the bit.
    rgba = Image.fromarray(np.stack([c, c, c, a], axis=-1), "RGBA")
    np.testing.assert_array_equal(np.asarray(rgba.convert("RGBa"))[..., 0], exact)


def test_transparent_pixels_are_black_whatever_colour_they_hide() -> None:
    pixels = np.array(
        [[[255, 0, 0, 0], [255, 0, 0, 255], [200, 100, 50, 128], [7, 8, 9, 1]]], np.uint8
    )
    rgb = np.asarray(composite_on_black(Image.fromarray(pixels, "RGBA")))
    assert rgb.tolist() == [[[0, 0, 0], [255, 0, 0], [100, 50, 25], [0, 0, 0]]]
    spec = {"size": [1, 4], "resize": "stretch", "colour": "RGB"}
    tensor, _ = to_tensor(Image.fromarray(pixels, "RGBA"), spec)
    assert tensor[0, 0, 0].tolist() == [0.0, 0.0, 0.0]  # not the hidden red
    grey, _ = to_tensor(Image.fromarray(pixels, "RGBA"), {**spec, "colour": "L"})
    assert grey[0, 0, 0].tolist() == [0.0]


@pytest.mark.parametrize(
    "mode", ["LA", "PA", "P+transparency", "L+transparency", "RGB+transparency"]
)
def test_every_kind_of_transparency_is_composited(mode: str) -> None:
    if mode == "LA":
        image = Image.fromarray(np.array([[[90, 0], [90, 128], [90, 255]]], np.uint8), "LA")
        want = [0, 45, 90]
    elif mode == "PA":
        image = Image.new("PA", (3, 1))
        image.putpalette([90, 90, 90] * 256)
        image.putdata([(0, 0), (0, 128), (0, 255)])
        want = [0, 45, 90]
    else:
        base = mode.split("+")[0]
        image = Image.new(base, (3, 1))
        if base == "P":
            image.putpalette([255, 0, 0, 90, 90, 90] + [0, 0, 0] * 254)
            image.putdata([0, 1, 1])
            image.info["transparency"] = 0
        elif base == "L":
            image.putdata([200, 90, 90])
            image.info["transparency"] = 200
        else:
            image.putdata([(255, 0, 0), (90, 90, 90), (90, 90, 90)])
            image.info["transparency"] = (255, 0, 0)
        want = [0, 90, 90]
    rgb = np.asarray(composite_on_black(image))
    assert rgb.shape == (1, 3, 3)
    assert rgb[0].tolist() == [[v] * 3 for v in want]


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK"])
def test_opaque_images_are_unchanged(mode: str) -> None:
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB")
    image = rgb.convert(mode)
    assert not image.has_transparency_data
    spec = {"size": [6, 5], "resize": "letterbox", "colour": "RGB"}
    # What to_tensor converted opaque images with before it composited.
    before = image.convert("RGBA").convert("RGB") if mode == "P" else image
    for colour in ("RGB", "L"):
        tensor, _ = to_tensor(image, {**spec, "colour": colour})
        expected, _ = to_tensor(before.convert(colour), {**spec, "colour": colour})
        np.testing.assert_array_equal(tensor, expected)
    # Opaque RGBA (alpha 255 everywhere) equals its RGB.
    opaque = rgb.convert("RGBA")
    np.testing.assert_array_equal(np.asarray(composite_on_black(opaque)), np.asarray(rgb))


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
