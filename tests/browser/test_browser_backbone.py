"""One backbone download for the text page: sentiment runs in the browser as the text-embedder's
own variant file (fetched by its sha256, one session shared with the text-embedder in the worker)
followed by its small head (convert/backbone.py, frontend/src/runtime/backbone.ts).

A cold text page downloads the MiniLM backbone once; sentiment's results still equal the
server's (which runs the composed graph) within the parity tolerance; disposing one of the two
models leaves the other running on the shared session.
"""

from __future__ import annotations

from urllib.parse import urlparse

import numpy as np
import pytest

from harness.browser import assert_agrees, catalog_samples, js_result, manifest_of, server_predict, tolerance_for

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
MB = 1_000_000

LOAD_JS = """
async ({names, texts}) => {
  const lib = await import('/lib/browserml.js');
  window.__models = window.__models || {};
  const out = {};
  for (const name of names) {
    const model = await lib.loadModel(name, {backend: 'wasm'});
    window.__models[name] = model;
    const result = await model.run(texts[name]);
    out[name] = {result, info: {backend: model.backend, variant: model.variant, reason: model.reason,
                                backbone: model.backbone, fromCache: model.fromCache}};
  }
  return out;
}
"""

RUN_JS = "async ({name, texts}) => await window.__models[name].run(texts)"
DISPOSE_JS = "async (name) => { await window.__models[name].dispose(); delete window.__models[name]; }"


def _split_of(manifest: dict, variant: str) -> dict:
    section = manifest.get("backbone")
    if not section:
        pytest.fail("sentiment's manifest has no backbone section; convert it again: browserml convert sentiment")
    split = next((s for s in section["splits"] if s["variant"] == variant), None)
    assert split is not None and split["backbone_url"], (variant, section)
    return split


def test_cold_text_page_downloads_the_minilm_backbone_once(context, page, site):
    finished: list = []
    context.on("requestfinished", lambda request: finished.append(request))
    page.goto(f"{site.url}/#/text")
    js_result(page, "[data-testid=text-result]")
    js_result(page, "[data-testid=sim-result]")
    page.wait_for_timeout(300)  # the last requestfinished events
    onnx = [(urlparse(r.url).path, r.sizes()["responseBodySize"]) for r in finished if r.url.endswith(".onnx")]
    total = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in finished)
    large = [(path, size) for path, size in onnx if size > MB]
    sentiment = manifest_of(site.url, "sentiment")
    embedder = manifest_of(site.url, "text-embedder")
    split = _split_of(sentiment, sentiment["recommended"]["wasm"])
    # One download of the backbone: the text-embedder's own file, whose sha256 sentiment's split names.
    assert large == [(split["backbone_url"], split["backbone_bytes"])], onnx
    assert split["backbone_sha256"] in {v["sha256"] for v in embedder["variants"]}
    assert [path for path, _ in onnx].count(sentiment["backbone"]["head"]["url"]) == 1, onnx
    # Twice the backbone was 45.6 MB of .onnx; now one backbone and a few KB of head.
    assert sum(size for _, size in onnx) < split["backbone_bytes"] + MB
    print(f"\ncold text page: {len(onnx)} .onnx responses, {sum(s for _, s in onnx):,} B of .onnx; "
          f"{len(finished)} responses, {total:,} B in all")
    # The page's status panel says which files sentiment runs.
    why = page.locator('[data-status="sentiment"] [data-field="why"]').inner_text()
    assert f"{sentiment['backbone']['model']} v{sentiment['backbone']['version']}" in why and "head.onnx" in why, why


def test_sentiment_on_the_backbone_agrees_with_the_server_and_survives_disposing_the_embedder(page, site):
    page.goto(f"{site.url}/?sw=off#/")
    texts = {"sentiment": list(SAMPLES["sentiment"].texts), "text-embedder": list(SAMPLES["text-embedder"].texts)}
    loaded = page.evaluate(LOAD_JS, {"names": ["text-embedder", "sentiment"], "texts": texts})
    info = loaded["sentiment"]["info"]
    manifest = manifest_of(site.url, "sentiment")
    split = _split_of(manifest, info["variant"])
    assert info["backend"] == "wasm"
    assert info["backbone"] == {"model": manifest["backbone"]["model"], "version": manifest["backbone"]["version"],
                                "file": split["backbone_file"], "sha256": split["backbone_sha256"]}
    assert "text-embedder" in info["reason"] and "head.onnx" in info["reason"]
    want = server_predict(site.url, "sentiment", SAMPLES["sentiment"], info["variant"])
    tol = tolerance_for(manifest, info["variant"])
    assert_agrees(loaded["sentiment"]["result"], want, "sentiment on backbone + head vs server", tol)

    # Disposing the text-embedder keeps the shared session for sentiment, and the other way round.
    page.evaluate(DISPOSE_JS, "text-embedder")
    again = page.evaluate(RUN_JS, {"name": "sentiment", "texts": texts["sentiment"]})
    assert_agrees(again, want, "sentiment after the text-embedder was disposed", tol)
    reloaded = page.evaluate(LOAD_JS, {"names": ["text-embedder"], "texts": texts})["text-embedder"]
    page.evaluate(DISPOSE_JS, "sentiment")
    embedded = page.evaluate(RUN_JS, {"name": "text-embedder", "texts": texts["text-embedder"]})
    assert np.max(np.abs(np.array(embedded["embeddings"]) - np.array(reloaded["result"]["embeddings"]))) <= 1e-6
    want_embedder = server_predict(site.url, "text-embedder", SAMPLES["text-embedder"], reloaded["info"]["variant"])
    assert_agrees(embedded, want_embedder, "text-embedder after sentiment was disposed",
                  tolerance_for(manifest_of(site.url, "text-embedder"), reloaded["info"]["variant"]))


def test_without_the_backbone_sentiment_loads_the_composed_variant_and_says_why(page, site):
    page.goto(f"{site.url}/?sw=off#/")
    manifest = manifest_of(site.url, "sentiment")
    split = _split_of(manifest, manifest["recommended"]["wasm"])
    # The host cannot serve the backbone file (here: the request fails): the composed variant loads.
    page.context.route(f"**{split['backbone_url']}", lambda route: route.abort())
    texts = {"sentiment": list(SAMPLES["sentiment"].texts)}
    loaded = page.evaluate(LOAD_JS, {"names": ["sentiment"], "texts": texts})["sentiment"]
    assert loaded["info"]["backend"] == "wasm" and loaded["info"]["backbone"] is None
    assert "the composed" in loaded["info"]["reason"] and "failed to load" in loaded["info"]["reason"]
    want = server_predict(site.url, "sentiment", SAMPLES["sentiment"], loaded["info"]["variant"])
    assert_agrees(loaded["result"], want, "composed sentiment", tolerance_for(manifest, loaded["info"]["variant"]))
