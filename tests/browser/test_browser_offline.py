"""Configuration: offline second visit. The first visit downloads and caches (service
worker for the app shell and ONNX Runtime Web, Cache Storage for the verified
artifacts); the second, with the network off, downloads nothing and still answers."""

from __future__ import annotations

import pytest

from harness.browser import (
    assert_agrees,
    auto_backend,
    catalog_samples,
    check_demo_pages,
    js_result,
    manifest_of,
    run_in_browser,
    server_predict,
    tolerance_for,
)
from harness.catalog import CATALOG

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()


def _controlled(page, url: str) -> None:
    """Open ``url`` and wait until the service worker controls the page."""
    page.goto(url)
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)


def test_second_visit_offline_runs_every_model_from_the_cache(page, site):
    _controlled(page, f"{site.url}/#/images")
    first = {}
    for name in CATALOG:  # ONNX Runtime Web's offline visit (TF.js's: test_browser_tfjs.py)
        result, info = run_in_browser(page, name, SAMPLES[name], backend="wasm")
        assert info["backend"] == "wasm", (name, info)
        first[name] = (result, info)

    page.context.set_offline(True)
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    for name in CATALOG:
        result, info = run_in_browser(page, name, SAMPLES[name], backend="wasm")
        assert info["backend"] == "wasm", info
        assert info["fromCache"] is True
        assert all(p["fromCache"] for p in info["progress"])
        assert_agrees(result, first[name][0], f"{name} offline vs online")
    page.context.set_offline(False)
    for name in CATALOG:
        want = server_predict(site.url, name, SAMPLES[name], first[name][1]["variant"])
        assert_agrees(first[name][0], want, name, tolerance_for(manifest_of(site.url, name), first[name][1]["variant"]))


def test_demo_page_offline_and_a_clear_error_for_what_is_not_cached(page, site, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(SAMPLES["imagenet"].png)
    _controlled(page, f"{site.url}/#/images")
    page.set_input_files("[data-testid=images-file]", str(image))
    online = js_result(page, "[data-testid=images-result]")
    page.context.set_offline(True)
    page.reload()
    page.set_input_files("[data-testid=images-file]", str(image))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=images-result]').dataset.result !== undefined", timeout=60_000
    )
    offline = js_result(page, "[data-testid=images-result]")
    assert offline["labels"] == online["labels"] and offline["backend"] == "wasm"
    # The Faces page's models were never downloaded: the page says so plainly.
    page.goto(f"{site.url}/#/faces")
    page.wait_for_selector("[data-testid=error]:not([hidden])", timeout=60_000)
    assert "offline" in page.locator("[data-testid=error]").inner_text().lower()
    page.context.set_offline(False)


def test_demo_pages_work_offline_on_the_second_visit(page, site, tmp_path):
    _controlled(page, f"{site.url}/#/images")
    online = check_demo_pages(page, site.url, "", tmp_path)
    page.context.set_offline(True)
    offline = check_demo_pages(page, site.url, "", tmp_path)  # the server is asked from Python, not the page
    page.context.set_offline(False)
    # "auto": the service worker precached ORT Web, so it is already here on the first visit too; TF.js
    # is here on the second visit where the first one ran it (the service worker cached it then).
    manifests = {name: manifest_of(site.url, name) for name in CATALOG}
    tfjs_ran = any(r["backend"] == "tfjs-wasm" for r in online.values())
    assert {n: r["backend"] for n, r in online.items()} == {
        n: auto_backend(m, ort_warm=True) for n, m in manifests.items()}
    assert {n: r["backend"] for n, r in offline.items()} == {
        n: auto_backend(m, ort_warm=True, tfjs_warm=tfjs_ran) for n, m in manifests.items()}
    assert offline["imagenet"]["labels"] == online["imagenet"]["labels"]
