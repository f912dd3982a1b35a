"""Configuration: forced WebGPU (``--enable-unsafe-webgpu``: SwiftShader, a fallback adapter).

Only the small models: SwiftShader is correct but about 100x slower than WASM.
SwiftShader has no fp16 shaders, so the fp32 variants are forced; asking for
the fp16 variant on it falls back to WASM and says why.
"""

from __future__ import annotations

import pytest

from harness.browser import catalog_samples, check_model, upload_to_demo

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
SMALL = ["face-detector", "emotion"]


@pytest.mark.parametrize("name", SMALL)
def test_forced_webgpu_runs_small_models_like_the_server(page, site, name):
    wasm = {}
    page.context.on("response", lambda r: r.url.endswith(".wasm") and wasm.update({r.url: r.headers["content-type"]}))
    page.goto(f"{site.url}/?sw=off")
    _, info = check_model(page, site.url, name, SAMPLES[name], backend="webgpu", variant="model.onnx")
    assert info["backend"] == "webgpu", info
    assert info["reason"].startswith("WebGPU on")
    # WebGPU runs on ONNX Runtime Web's jsep build (the demo app's own WASM models on the plain one).
    assert wasm.get(f"{site.url}/ort/ort-wasm-simd-threaded.jsep.wasm") == "application/wasm", wasm


def test_fp16_without_shader_f16_falls_back_to_wasm_and_says_why(page, site):
    page.goto(f"{site.url}/?sw=off")
    _, info = check_model(page, site.url, "emotion", SAMPLES["emotion"], backend="webgpu", variant="model.fp16.onnx")
    assert info["backend"] == "wasm"
    assert "shader-f16" in info["fallbackReason"]


def test_demo_faces_page_on_forced_webgpu(page, site, tmp_path):
    # The demo forces a backend from its control (here through ?backend=); its
    # variants are the manifest's, so on SwiftShader (no fp16) it lands on WASM
    # and shows why, rather than failing.
    url = f"{site.url}/?sw=off&backend=webgpu#/faces"
    result = upload_to_demo(page, url, "faces", SAMPLES["face-detector"].png, tmp_path)
    assert len(result["faces"]) == 1 and result["faces"][0]["emotion"]["labels"][0]["label"] == "happy"
    fallback = page.locator('[data-status="face-detector"] [data-field="fallback"]').inner_text()
    assert "shader-f16" in fallback
