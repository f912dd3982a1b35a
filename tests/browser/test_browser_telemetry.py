"""Telemetry from a real page: the runtime reports a load and a run to the host, which
shows them in ``/metrics`` as ``browserml_client_*``; the report carries neither the
input nor a score; ``loadModel(name, {telemetry: false})`` and the page's
``<meta name="browserml-telemetry" content="off">`` send nothing.

Configuration: WASM with threads, as ``test_browser_wasm_threads.py`` (WebGPU here is
SwiftShader, which the runtime passes over and reports as a fallback).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.browser import catalog_samples, run_in_browser

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
TELEMETRY = "/api/v1/telemetry"

HIDE_PAGE_JS = """
() => {
  Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}
"""


def client_samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{base_url}/metrics", timeout=30).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("browserml_client_")
    }


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def watch_telemetry(page) -> list[dict[str, Any]]:
    """Every telemetry POST the page makes (fetch or beacon), with its body."""
    seen: list[dict[str, Any]] = []

    def on_request(request) -> None:
        if request.method == "POST" and request.url.endswith(TELEMETRY):
            seen.append({"url": request.url, "type": request.resource_type, "body": request.post_data})

    page.on("request", on_request)
    # Chromium shows Playwright a beacon's Blob body only when the request is intercepted
    # (microsoft/playwright#12231): a pass-through route makes request.post_data the body.
    page.route(f"**{TELEMETRY}", lambda route: route.continue_())
    return seen


def wait_until(page, condition, timeout: float = 30.0) -> None:
    """Poll ``condition``, letting Playwright deliver the page's events in between."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def test_a_hidden_page_beacons_its_load_and_run_which_metrics_show_without_inputs_or_scores(page, site):
    page.goto(f"{site.url}/?sw=off")
    sent = watch_telemetry(page)
    sample = SAMPLES["sentiment"]
    before = client_samples(site.url)
    result, info = run_in_browser(page, "sentiment", sample)
    assert info["backend"] == "wasm", info
    assert sent == []  # batched: nothing goes out per run

    page.evaluate(HIDE_PAGE_JS)
    wait_until(page, lambda: any('"sentiment"' in (s["body"] or "") for s in sent))
    labels = {"model": "sentiment", "backend": "wasm"}
    cache = "hit" if info["fromCache"] else "miss"
    variant = info["variant"]

    def counted() -> bool:
        after = client_samples(site.url)
        return delta(after, before, "browserml_client_runs_total", **labels, variant=variant) >= 1

    wait_until(page, counted)
    after = client_samples(site.url)
    assert delta(after, before, "browserml_client_loads_total", **labels, variant=variant, cache=cache) == 1
    assert delta(after, before, "browserml_client_load_duration_seconds_count", **labels) == 1
    assert delta(after, before, "browserml_client_runs_total", **labels, variant=variant) == 1
    assert delta(after, before, "browserml_client_run_duration_seconds_count", **labels) == 1
    assert delta(after, before, "browserml_client_results_total", model="sentiment") == len(sample.texts)
    uncertain = sum(1 for r in result["results"] if r["uncertain"])
    assert delta(after, before, "browserml_client_uncertain_total", model="sentiment") == uncertain
    for label in ("positive", "negative"):
        top1 = sum(1 for r in result["results"] if r["labels"][0]["label"] == label)
        assert delta(after, before, "browserml_client_labels_total", model="sentiment", label=label) == top1
    fallback = {"model": "sentiment", "from": "webgpu", "reason": "webgpu_software_adapter"}
    assert delta(after, before, "browserml_client_fallbacks_total", **fallback) == 1

    bodies = [s["body"] for s in sent]
    assert {s["type"] for s in sent} <= {"ping", "fetch"}, sent
    # The run was recorded just before the page was hidden: it went out in the beacon.
    runs = [s for s in sent if '"type":"runs","model":"sentiment"' in s["body"]]
    assert [s["type"] for s in runs] == ["ping"], sent
    events = [event for body in bodies for event in json.loads(body)["events"]]
    assert {"type": "load", "model": "sentiment", "version": result["version"], "backend": "wasm",
            "variant": variant, "load_ms": pytest.approx(info["loadMs"], abs=1e-3),
            "from_cache": info["fromCache"]} in events
    text = "\n".join(bodies)
    for sentence in sample.texts:  # not the texts, nor their longest words
        assert sentence not in text
        assert max(sentence.split(), key=len).strip(".,'").lower() not in text.lower()
    assert "score" not in text
    for item in result["results"]:
        for entry in item["labels"]:
            assert json.dumps(entry["score"]) not in text


RUN_AND_FLUSH_JS = """
async ({texts, options}) => {
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel('sentiment', options);
  const result = await model.run(texts);
  await lib.flushTelemetry();
  await model.dispose();
  return result.backend;
}
"""


@pytest.mark.parametrize(
    ("head", "options", "reports"),
    [
        ("", {}, True),
        ("", {"telemetry": False}, False),
        ('<meta name="browserml-telemetry" content="off">', {}, False),
    ],
    ids=["on-by-default", "loadModel-telemetry-false", "page-meta-off"],
)
def test_telemetry_can_be_turned_off(page, site, head, options, reports):
    # A bare page of the site (not the demo, which loads models of its own).
    url = f"{site.url}/telemetry-test-page"
    page.route(url, lambda route: route.fulfill(
        status=200, content_type="text/html", body=f"<!doctype html><html><head>{head}</head><body></body></html>"))
    page.goto(url)
    sent = watch_telemetry(page)
    backend = page.evaluate(RUN_AND_FLUSH_JS, {"texts": list(SAMPLES["sentiment"].texts), "options": options})
    assert backend == "wasm"
    page.evaluate(HIDE_PAGE_JS)
    if reports:
        wait_until(page, lambda: len(sent) > 0)
        assert sent[0]["type"] == "fetch"  # flushTelemetry(): fetch with keepalive
    else:
        page.wait_for_timeout(1500)
        assert sent == []
