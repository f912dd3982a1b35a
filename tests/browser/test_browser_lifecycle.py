"""The browser side of the lifecycle: a page keeps its loaded version across a promote (artifacts
are immutable), a new load gets the new version, the client id is sticky, and the kill switch
reaches the runtime through the catalog."""

from __future__ import annotations

import time

import pytest
import requests

from app import create_app
from harness.browser import catalog_samples
from harness.catalog import versions_copy
from harness.live_server import LiveServer
from lifecycle.assign import in_canary

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()

LOAD_AND_RUN = """
async ({name, png, texts, server}) => {
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel(name);
  const input = png ? new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], {type: 'image/png'}) : texts;
  const result = await model.run(input, {server});
  globalThis.kept = globalThis.kept || {};
  globalThis.kept[name] = model;
  return {result, version: model.manifest.version, arm: model.manifest.lifecycle.arm, backend: model.backend,
          reason: model.reason, clientId: lib.clientId()};
}
"""

RUN_KEPT = """
async ({name, png, server}) => {
  const input = new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], {type: 'image/png'});
  const result = await globalThis.kept[name].run(input, {server});
  return result;
}
"""


@pytest.fixture()
def host(tmp_path, frontend_built):
    app = create_app({"MODELS_DIR": str(versions_copy(tmp_path / "models", ["emotion", "sentiment"], 2)),
                      "TESTING": True, "RATE_LIMIT_PREDICT": None,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    server = LiveServer(app)
    yield server
    server.close()


def _admin(host: LiveServer, name: str, verb: str, body: dict | None = None) -> None:
    answer = requests.post(f"{host.url}/api/v1/admin/models/{name}/{verb}", json=body or {}, timeout=30)
    assert answer.status_code == 200, answer.text
    time.sleep(0.6)  # the host reads the state every 0.5 s


def test_a_loaded_page_keeps_its_version_and_a_new_load_gets_the_promoted_one(page, host):
    png = SAMPLES["emotion"].js_input()["png"]
    page.goto(f"{host.url}/?sw=off")
    first = page.evaluate(LOAD_AND_RUN, {"name": "emotion", "png": png, "texts": None, "server": False})
    assert (first["version"], first["arm"], first["result"]["version"]) == (2, "stable", 2)

    _admin(host, "emotion", "promote", {"version": 1})
    still = page.evaluate(RUN_KEPT, {"name": "emotion", "png": png, "server": False})
    assert still["version"] == 2 and still["labels"] == first["result"]["labels"]  # in the browser, v2's files
    on_server = page.evaluate(RUN_KEPT, {"name": "emotion", "png": png, "server": True})
    assert on_server["version"] == 2  # the server still answers the version the page loaded
    again = page.evaluate(LOAD_AND_RUN, {"name": "emotion", "png": png, "texts": None, "server": False})
    assert again["version"] == 1 and again["result"]["version"] == 1

    page.reload()  # the client id survives reloads (localStorage), so the arm does too
    assert page.evaluate("async () => (await import('/lib/browserml.js')).clientId()") == first["clientId"]


def test_the_browser_is_in_the_arm_its_client_id_hashes_to(page, host):
    _admin(host, "emotion", "canary", {"version": 1, "percent": 50})
    png = SAMPLES["emotion"].js_input()["png"]
    page.goto(f"{host.url}/?sw=off")
    seen = page.evaluate(LOAD_AND_RUN, {"name": "emotion", "png": png, "texts": None, "server": True})
    canary = in_canary("emotion", 1, 50.0, f"client:{seen['clientId']}")
    assert (seen["version"], seen["arm"]) == ((1, "canary") if canary else (2, "stable"))
    assert seen["result"]["version"] == seen["version"]


def test_the_kill_switch_reaches_the_runtime_through_the_catalog(page, host):
    _admin(host, "sentiment", "fallback", {"on": True})
    _admin(host, "emotion", "fallback", {"on": True})
    page.goto(f"{host.url}/?sw=off")
    text = page.evaluate(LOAD_AND_RUN, {"name": "sentiment", "png": None, "texts": ["A fine day", "awful"],
                                        "server": False})
    assert text["backend"] == "server" and "switched off by the operator" in text["reason"]
    assert [r["fallback"] for r in text["result"]["results"]] == ["lexicon", "lexicon"]
    refused = page.evaluate("""async () => {
      const lib = await import('/lib/browserml.js');
      try { await lib.loadModel('emotion'); return null; }
      catch (err) { return {name: err.name, message: err.message}; }
    }""")
    assert refused["name"] == "ModelUnavailableError" and "switched off by the operator" in refused["message"]
