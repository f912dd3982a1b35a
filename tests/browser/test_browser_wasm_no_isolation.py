"""Configuration: WASM without cross-origin isolation (no COOP/COEP, so one thread)."""

from __future__ import annotations

import pytest

from harness.browser import (
    assert_agrees,
    catalog_samples,
    check_demo_pages,
    check_model,
    demo_auto_backends,
    server_predict,
    upload_to_demo,
)
from harness.catalog import CATALOG

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()


@pytest.mark.parametrize("name", CATALOG)
def test_library_runs_every_model_on_one_wasm_thread(page, plain_site, name):
    page.goto(f"{plain_site.url}/?sw=off")
    _, info = check_model(page, plain_site.url, name, SAMPLES[name], backend="wasm")  # ONNX Runtime's threads
    assert info["isolated"] is False
    assert info["backend"] == "wasm" and info["threads"] == 1
    assert "not cross-origin isolated" in info["reason"]


def test_demo_images_page_says_one_thread(page, plain_site, tmp_path):
    result = upload_to_demo(page, f"{plain_site.url}/?sw=off#/images", "images", SAMPLES["imagenet"].png, tmp_path)
    assert_agrees(result, server_predict(plain_site.url, "imagenet", SAMPLES["imagenet"], result["variant"]))
    status = page.locator('[data-status="imagenet"]')
    assert status.locator('[data-field="runs on"]').inner_text() == "WASM, 1 thread"
    assert "not cross-origin isolated" in status.locator('[data-field="why"]').inner_text()


def test_demo_pages_run_every_model_on_one_thread(page, plain_site, tmp_path):
    results = check_demo_pages(page, plain_site.url, "sw=off", tmp_path)
    assert {n: r["backend"] for n, r in results.items()} == demo_auto_backends(plain_site.url)
