"""Configuration: server fallback (this browser has neither WebGPU nor WebAssembly),
plus the device memory rule. A variant asked for by name is never sent to the server in
its place: over the client budget, rejected, or too big for the device, it is an error
(here for memory; the rest in test_browser_options.py)."""

from __future__ import annotations

import pytest

from harness.browser import (
    NO_MODEL_PAGE,
    auto_backend,
    catalog_samples,
    check_demo_pages,
    check_model,
    js_result,
    manifest_of,
)
from harness.catalog import CATALOG

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()

NO_WASM_NO_GPU = """
delete globalThis.WebAssembly;
Object.defineProperty(Navigator.prototype, 'gpu', {get: () => undefined});
"""


@pytest.fixture()
def bare_page(page):
    page.add_init_script(NO_WASM_NO_GPU)
    return page


@pytest.mark.parametrize("name", CATALOG)
def test_without_webgpu_and_wasm_every_model_answers_from_the_server(bare_page, site, name):
    bare_page.goto(f"{site.url}/?sw=off")
    result, info = check_model(bare_page, site.url, name, SAMPLES[name])
    assert info["backend"] == "server" and result["backend"] == "server"
    assert "WebAssembly unavailable" in info["fallbackReason"]
    assert "no WebGPU" in info["fallbackReason"]


def test_demo_pages_answer_every_model_from_the_server(bare_page, site, tmp_path):
    results = check_demo_pages(bare_page, site.url, "sw=off", tmp_path)
    assert {r["backend"] for r in results.values()} == {"server"}


def test_demo_text_page_on_the_server(bare_page, site):
    bare_page.goto(f"{site.url}/?sw=off#/text")
    result = js_result(bare_page, "[data-testid=text-result]")
    assert result["backend"] == "server" and result["labels"][0]["label"] == "positive"
    status = bare_page.locator('[data-status="sentiment"]')
    assert status.locator('[data-field="runs on"]').inner_text() == "server"


def test_a_variant_too_big_for_the_devices_memory_is_an_error_not_the_server(page, site):
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'deviceMemory', {get: () => 0.25});")
    page.goto(site.url + NO_MODEL_PAGE)  # no model started by the page: "auto" below is a first visit
    # sentiment fp16 is 45 MB: about 0.36 GB at load, over the 0.25 GB this device reports.
    refusal = page.evaluate("""async () => {
      const lib = await import('/lib/browserml.js');
      return lib.loadModel('sentiment', {variant: 'model.fp16.onnx'}).then(() => null, (e) => [e.name, e.message]);
    }""")
    assert refusal is not None and refusal[0] == "OptionError"
    assert "reports 0.25 GB of memory" in refusal[1] and 'ask instead for variant "model.int8.onnx"' in refusal[1]
    _, small = check_model(page, site.url, "emotion", SAMPLES["emotion"])
    # A model of a few hundred kB still runs on the device: where "auto" puts it with nothing loaded yet.
    assert small["backend"] == auto_backend(manifest_of(site.url, "emotion")), small


@pytest.fixture(scope="module")
def secured_site(tmp_path_factory, frontend_built):
    """The host with BROWSERML_AUTH=keys: the demo reaches the server through its page session."""
    from app import create_app
    from app.keys import KeyStore
    from harness.catalog import MODELS
    from harness.live_server import LiveServer

    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    server = LiveServer(create_app({"MODELS_DIR": str(MODELS), "AUTH": "keys", "KEYS_FILE": str(keys),
                                    "RATE_LIMIT_PREDICT": None}))
    server.key = KeyStore(keys).create("test-harness", "predict")  # for the test's own comparisons
    yield server
    server.close()


def test_with_auth_on_the_demo_answers_from_the_server_with_its_page_session(bare_page, secured_site, tmp_path):
    import requests

    # Without the page's session the same request is refused: the session is what lets it in.
    refused = requests.post(f"{secured_site.url}/api/v1/models/sentiment/predict", json={"text": "hi"}, timeout=60)
    assert refused.status_code == 401
    results = check_demo_pages(bare_page, secured_site.url, "sw=off", tmp_path,
                               headers={"Authorization": f"Bearer {secured_site.key}"})
    assert {r["backend"] for r in results.values()} == {"server"}
    cookies = {c["name"]: c for c in bare_page.context.cookies()}
    assert cookies["browserml_session"]["httpOnly"] is True and cookies["browserml_session"]["sameSite"] == "Strict"
