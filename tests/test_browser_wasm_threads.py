"""Configuration: WASM with threads (the page is cross-origin isolated, no usable WebGPU).

Every catalog model runs in Chromium through /lib/browserml.js and through the
demo pages, and agrees with the server's predict on the same input.
"""

from __future__ import annotations

import pytest

from tests.browser_harness import (
    assert_agrees,
    catalog_samples,
    check_model,
    js_result,
    server_predict,
)
from tests.conftest import CATALOG

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()


@pytest.mark.parametrize("name", CATALOG)
def test_library_runs_every_model_on_wasm_threads_like_the_server(page, site, name):
    page.goto(f"{site.url}/?sw=off")
    result, info = check_model(page, site.url, name, SAMPLES[name])
    assert info["isolated"] is True
    assert info["backend"] == "wasm" and info["threads"] == 2, info
    # WebGPU here is SwiftShader, a fallback adapter: auto must pass it over and say why.
    assert "software fallback" in info["fallbackReason"], info
    assert info["progress"] and info["progress"][-1]["loaded"] == info["progress"][-1]["total"]


@pytest.mark.parametrize("name", ["sentiment", "text-embedder"])
def test_fp16_text_models_agree_with_the_server_within_1e_3(page, site, name):
    page.goto(f"{site.url}/?sw=off")
    _, info = check_model(page, site.url, name, SAMPLES[name], variant="model.fp16.onnx")
    assert info["variant"] == "model.fp16.onnx" and info["backend"] == "wasm"


def test_demo_images_page(page, site, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(SAMPLES["imagenet"].png)
    page.goto(f"{site.url}/?sw=off#/images")
    page.set_input_files("[data-testid=images-file]", str(image))
    result = js_result(page, "[data-testid=images-result]")
    assert result["backend"] == "wasm"
    assert_agrees(result, server_predict(site.url, "imagenet", SAMPLES["imagenet"], result["variant"]))
    assert page.locator('[data-status="imagenet"] [data-field="runs on"]').inner_text() == "WASM, 2 threads"
    assert page.locator("[data-testid=images-result] li").count() >= 5


def test_demo_faces_page_detects_faces_and_their_emotion(page, site, tmp_path):
    image = tmp_path / "astronaut.png"
    image.write_bytes(SAMPLES["face-detector"].png)
    page.goto(f"{site.url}/?sw=off#/faces")
    page.set_input_files("[data-testid=faces-file]", str(image))
    result = js_result(page, "[data-testid=faces-result]")
    server = server_predict(site.url, "face-detector", SAMPLES["face-detector"], result["variant"])
    assert_agrees({k: v for k, v in result.items()}, server, "faces")
    assert result["faces"][0]["emotion"]["labels"][0]["label"] == "happy"
    assert "happy" in page.locator("[data-testid=faces-result]").inner_text()


def test_demo_text_page_sentiment_similarity_and_search(page, site):
    page.goto(f"{site.url}/?sw=off#/text")
    page.fill("[data-testid=text-input]", "The service was slow and the food was cold. Never again.")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=text-result]')?.dataset.result?.includes('Never') === false"
        " && JSON.parse(document.querySelector('[data-testid=text-result]').dataset.result).labels[0].label === 'negative'",
        timeout=120_000,
    )
    sentiment = js_result(page, "[data-testid=text-result]")
    assert sentiment["backend"] == "wasm"
    similarity = js_result(page, "[data-testid=sim-result]")
    assert similarity["similarity"] > 0.5
    ranked = js_result(page, "[data-testid=search-result]")
    assert ranked[0]["sentence"] in {"We had pizza for dinner.", "The soup was delicious and warm."}
