"""Configuration: a tampered artifact (sha256 mismatch): it is rejected, never loaded
or cached, and the server answers; with the real file back, the device runs it."""

from __future__ import annotations

import pytest

from harness.browser import catalog_samples, check_demo_pages, check_model, upload_to_demo
from harness.catalog import CATALOG

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()


def tamper(route):
    """Serve the real file with one byte flipped (same size, different sha256)."""
    response = route.fetch()
    body = bytearray(response.body())
    body[len(body) // 2] ^= 0x01
    route.fulfill(response=response, body=bytes(body))


@pytest.mark.parametrize("name", CATALOG)
def test_tampered_model_is_rejected_and_the_server_answers(page, site, name):
    page.context.route("**/models/*/*/*.onnx", tamper)
    page.goto(f"{site.url}/?sw=off")
    # ONNX Runtime asked for: an ONNX file tampered with ("auto" may run a TF.js variant; its shards are
    # tampered with in test_browser_tfjs.py).
    _, info = check_model(page, site.url, name, SAMPLES[name], backend="wasm")
    assert info["backend"] == "server"
    assert "does not match the manifest's" in info["fallbackReason"], info
    # Nothing tampered was cached: with the real file back, the device downloads and runs it.
    page.context.unroute("**/models/*/*/*.onnx")
    _, again = check_model(page, site.url, name, SAMPLES[name], backend="wasm")
    assert again["backend"] == "wasm" and again["fromCache"] is False


def test_demo_images_page_shows_the_fallback(page, site, tmp_path):
    page.context.route("**/models/*/*/*.onnx", tamper)
    result = upload_to_demo(page, f"{site.url}/?sw=off#/images", "images", SAMPLES["imagenet"].png, tmp_path)
    assert result["backend"] == "server"
    status = page.locator('[data-status="imagenet"]')
    assert status.locator('[data-field="runs on"]').inner_text() == "server"
    assert "sha256" in status.locator('[data-field="fallback"]').inner_text()


def test_demo_pages_with_every_artifact_tampered_answer_from_the_server(page, site, tmp_path):
    page.context.route("**/models/*/*/*.onnx", tamper)
    page.context.route("**/models/*/*/*.bin", tamper)  # TF.js weight shards: "auto" may choose TF.js
    results = check_demo_pages(page, site.url, "sw=off", tmp_path)
    assert {r["backend"] for r in results.values()} == {"server"}
