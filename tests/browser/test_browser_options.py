"""Honest options, in Chromium against the real host and catalog: what ``loadModel`` is asked
for explicitly is honoured or refused with an ``OptionError`` that lists what is valid; it is
never swapped for the server (frontend/src/runtime/options.ts, backends.ts)."""

from __future__ import annotations

import pytest

from harness.browser import catalog_samples, check_model, manifest_of

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()

LOAD_JS = """
async ({name, options}) => {
  const lib = await import('/lib/browserml.js');
  try {
    const model = await lib.loadModel(name, options);
    const info = {backend: model.backend, variant: model.variant};
    await model.dispose();
    return {loaded: info};
  } catch (err) {
    return {error: err.name, message: err.message};
  }
}
"""


def refused(page, name: str, **options) -> tuple[str, list[str]]:
    """``loadModel(name, options)`` in the page: the OptionError's message, and the URLs of
    ``name`` the page requested meanwhile (the demo page itself loads other models)."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    answer = page.evaluate(LOAD_JS, {"name": name, "options": options})
    assert answer.get("error") == "OptionError", answer
    return answer["message"], [u for u in requests if f"/{name}/" in u or u.endswith(f"/{name}")]


def no_model_and_no_server(requests: list[str]) -> None:
    """A refusal downloads no model file and asks the server for no prediction."""
    assert not [u for u in requests if u.endswith(".onnx") or "/predict" in u], requests


@pytest.fixture()
def blank(page, site):
    page.goto(f"{site.url}/?sw=off")
    return page


def test_an_unknown_backend_is_refused_with_the_valid_backends(blank):
    message, requests = refused(blank, "emotion", backend="tfjs-cpu")
    assert message == ('loadModel("emotion"): backend must be one of "auto", "webgpu", "wasm", "tfjs-wasm", '
                       '"tfjs-webgl", "tfjs-webgpu", "server", not "tfjs-cpu"')
    assert requests == []  # checked before anything is fetched, the manifest included


def test_an_unknown_option_or_a_wrong_type_is_refused(blank):
    message, _ = refused(blank, "emotion", Backend="wasm")
    assert message.startswith('loadModel("emotion"): unknown option "Backend"; the options are backend, variant')
    message, _ = refused(blank, "emotion", telemetry="off")
    assert message == 'loadModel("emotion"): telemetry must be true or false, not "off"'


def test_an_unknown_variant_is_refused_with_the_manifests_variants(blank, site):
    files = [v["file"] for v in manifest_of(site.url, "emotion")["variants"]]
    message, requests = refused(blank, "emotion", variant="model.q4.onnx")
    assert message == ('emotion: unknown variant "model.q4.onnx"; its variants are '
                       + ", ".join(f'"{f}"' for f in files))
    no_model_and_no_server(requests)


def test_a_variant_over_the_client_budget_is_an_error_not_a_server_fallback(blank, site):
    manifest = manifest_of(site.url, "text-embedder")
    fp32 = next(v for v in manifest["variants"] if v["file"] == "model.onnx")
    assert fp32["bytes"] > manifest["client"]["max_client_bytes"]  # 90 MB over 50 MB
    for backend in ("auto", "wasm"):
        message, requests = refused(blank, "text-embedder", backend=backend, variant="model.onnx")
        assert "model.onnx is 90.3 MB, over the 50.0 MB client budget" in message, message
        assert 'ask instead for variant "model.int8.onnx", "model.fp16.onnx"' in message, message
        assert 'backend "server" (runs model.onnx on the host)' in message, message
        no_model_and_no_server(requests)


def test_a_variant_rejected_by_its_gates_is_an_error_not_a_server_fallback(blank, site):
    int8 = next(v for v in manifest_of(site.url, "face-detector")["variants"] if v["file"] == "model.int8.onnx")
    assert int8["gates"]["wasm"]["passed"] is False and int8["gates"]["server"]["passed"] is False
    message, requests = refused(blank, "face-detector", backend="wasm", variant="model.int8.onnx")
    assert message == ('face-detector: the variant asked for, model.int8.onnx, does not suit WASM: it did not pass '
                       'its gates there; ask instead for variant "model.onnx", "model.fp16.onnx" (backend "wasm"), '
                       'or no variant (the runtime chooses)')
    no_model_and_no_server(requests)
    # Asked of the server, the same variant is refused there too (it failed on the server as well).
    message, _ = refused(blank, "face-detector", backend="server", variant="model.int8.onnx")
    assert "did not pass its gates on the server" in message


def test_the_server_runs_the_variant_asked_for(blank, site):
    # The way out the refusal above names: backend "server" with the over-budget variant.
    result, info = check_model(blank, site.url, "text-embedder", SAMPLES["text-embedder"],
                               backend="server", variant="model.onnx")
    assert info["backend"] == "server" and info["variant"] == "model.onnx"
    assert result["variant"] == "model.onnx"


THREADS_JS = """
async ({names, options}) => {
  const lib = await import('/lib/browserml.js');
  const models = [];
  for (const name of names) models.push(await lib.loadModel(name, options));
  const info = models.map((m) => ({name: m.name, backend: m.backend, threads: m.threads, reason: m.reason}));
  await Promise.all(models.map((m) => m.dispose()));
  return info;
}
"""


def test_the_thread_policy_gives_heavy_variants_2_threads_and_light_ones_1_on_2_cores(blank):
    # This machine: 2 cores, isolated page, no usable WebGPU. One page mixes both kinds.
    assert blank.evaluate("navigator.hardwareConcurrency") == 2
    info = {m["name"]: m for m in blank.evaluate(THREADS_JS, {"names": ["face-detector", "imagenet"],
                                                              "options": {"backend": "wasm"}})}
    assert info["face-detector"]["threads"] == 1, info
    assert info["face-detector"]["reason"] == ("WASM with 1 thread (model.onnx is 0.4 MB: a small model, "
                                               "which more threads do not speed up)")
    assert info["imagenet"]["threads"] == 2, info
    assert info["imagenet"]["reason"] == ("WASM with 2 threads (cross-origin isolated; model.int8.onnx is 5.0 MB, "
                                          "big enough to share out)")


def test_threads_asked_for_run_and_model_threads_says_so(blank, site):
    result, info = check_model(blank, site.url, "face-detector", SAMPLES["face-detector"], backend="wasm", threads=2)
    assert info["backend"] == "wasm" and info["threads"] == 2 and info["reason"] == "WASM with 2 threads (asked for)"
    assert len(result["faces"]) == 1


def test_threads_the_page_cannot_give_are_refused(blank, page, plain_site):
    message, requests = refused(blank, "emotion", threads=8)
    assert message == 'loadModel("emotion"): threads must be an integer from 1 to 4, not 8'
    assert requests == []
    message, requests = refused(blank, "emotion", backend="server", threads=2)
    assert message == ('emotion: threads is the number of WASM threads; with backend "server" there are none: '
                       'ask instead for backend "wasm" or "auto" with threads, or no threads')
    no_model_and_no_server(requests)
    page.goto(f"{plain_site.url}/?sw=off")  # not cross-origin isolated: no SharedArrayBuffer
    message, requests = refused(page, "emotion", backend="wasm", threads=2)
    assert message == ("emotion: 2 WASM threads need a cross-origin isolated page (COOP/COEP headers, for "
                       "SharedArrayBuffer) and this one is not; ask instead for threads 1, or no threads "
                       "(the runtime chooses)")
    no_model_and_no_server(requests)
