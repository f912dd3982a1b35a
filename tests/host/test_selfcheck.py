"""Runtime-true verification: the host self-checks each variant it loads, the WASM numbers
in a manifest are ORT Web's own and reproducible, and native int8 cannot saturate.

Nothing here depends on which CPU runs it: the WASM build gives the same numbers on
every CPU, and the native checks hold with or without VNNI (see contract/native_runtime.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from app import create_app
from contract import selfcheck
from contract.manifest import passes
from contract.native_runtime import session_options
from convert.selfcheck import SAFETY
from convert.wasm_runtime import run_wasm
from harness.catalog import CATALOG, latest_manifest, latest_version_dir, sabotage_self_check

pytestmark = pytest.mark.catalog


@pytest.fixture()
def sabotaged(tmp_path):
    """emotion's newest version, whose first server variant no longer matches its reference."""
    source = latest_version_dir("emotion")
    target = tmp_path / "models" / "emotion" / source.name
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    from app.registry import Registry

    candidates = Registry(tmp_path / "models").resolve("emotion").server_candidates
    assert len(candidates) >= 2, f"emotion needs two server variants for this test: {manifest['recommended']}"
    sabotage_self_check(target, candidates[0])
    return tmp_path / "models", candidates


def test_a_variant_that_fails_its_self_check_is_not_served_and_the_next_one_answers(sabotaged, capfd):
    models, (first, second) = sabotaged[0], sabotaged[1][:2]
    client = create_app({"MODELS_DIR": str(models), "TESTING": True}).test_client()
    face = np.full((80, 80, 3), 128, np.uint8)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "PNG")
    capfd.readouterr()
    answer = client.post("/api/v1/models/emotion/predict", data={"image": (io.BytesIO(buf.getvalue()), "f.png")})
    assert answer.status_code == 200, answer.json
    assert answer.json["variant"] == second
    # The host's log (JSON lines on stderr; its logger does not propagate to pytest's caplog).
    refusals = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "failed its self-check" in line]
    assert [r["level"] for r in refusals] == ["error"]
    assert f"{first} failed its self-check on this host" in refusals[0]["msg"]

    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200  # another variant serves
    status = ready.json["models"]["emotion"]
    assert status["variant"] == second and "reproduced its 3 reference outputs" in status["self_check"]
    assert "failed its self-check" in status["refused"][first] and "away from the reference" in status["refused"][first]

    catalog = client.get("/api/v1/models/emotion").json["server"]
    assert catalog["variant"] == second and first in catalog["refused"]
    asked = client.post(f"/api/v1/models/emotion/predict?variant={first}",
                        data={"image": (io.BytesIO(buf.getvalue()), "f.png")})
    assert asked.status_code == 503 and "failed its self-check" in asked.json["error"]


def test_readiness_fails_with_the_reasons_when_no_variant_passes_its_self_check(tmp_path):
    source = latest_version_dir("emotion")
    target = tmp_path / "models" / "emotion" / source.name
    shutil.copytree(source, target)
    for entry in latest_manifest("emotion")["variants"]:
        sabotage_self_check(target, entry["file"])
    client = create_app({"MODELS_DIR": str(tmp_path / "models"), "TESTING": True}).test_client()
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert "no variant of emotion" in ready.json["error"] and "failed its self-check" in ready.json["error"]
    assert client.post("/api/v1/models/emotion/predict", json={}).status_code == 503


@pytest.mark.parametrize("name", CATALOG)
def test_every_server_candidate_passes_its_self_check_here(app, name):
    """What the host does at load, for every variant it could fall back to: on this machine,
    native ONNX Runtime reproduces the reference outputs (ORT Web's) within the tolerance."""
    model = app.extensions["browserml"].registry.resolve(name)
    spec = model.manifest["self_check"]
    inputs = [i["name"] for i in model.manifest["inputs"]]
    outputs = [o["name"] for o in model.manifest["outputs"]]
    for file in model.server_candidates:
        session = ort.InferenceSession(
            str(model.artifacts[file].path), session_options(1), providers=["CPUExecutionProvider"]
        )
        verdict = selfcheck.run(spec, model.self_check_arrays, file, lambda f: session.run(outputs, f), inputs)
        assert verdict.passed, f"{name} {file}: {verdict.message}"


@pytest.mark.parametrize("name", CATALOG)
def test_wasm_numbers_are_reproducible(name):
    """ORT Web's WASM build, run again on the reference inputs, gives exactly the outputs recorded
    at conversion: the browser verdicts do not depend on the run or on the CPU."""
    version_dir = latest_version_dir(name)
    manifest = latest_manifest(name)
    arrays = selfcheck.load(version_dir / manifest["self_check"]["file"])
    count = manifest["self_check"]["samples"]
    feeds = [{i["name"]: arrays[selfcheck.input_key(s, i["name"])] for i in manifest["inputs"]} for s in range(count)]
    for variant in manifest["variants"]:
        if "wasm" not in variant["evaluations"]:
            continue
        run = run_wasm(
            version_dir / variant["file"], feeds, [o["name"] for o in manifest["outputs"]], latency_sample=None
        )
        for sample, outputs in enumerate(run.outputs):
            for index, actual in enumerate(outputs):
                expected = arrays[selfcheck.expected_key(variant["file"], sample, index)]
                assert np.array_equal(actual, expected), f"{name} {variant['file']} output {index} sample {sample}"


def _saturating_matmul(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A MatMulInteger whose u8 x s8 pairs sum past int16 (255*127*2 = 64770): the case
    VPMADDUBSW saturates on x86-64 without VNNI. Returns (A, exact result)."""
    rng = np.random.default_rng(0)
    a = np.full((4, 64), 255, np.uint8)
    a[1] = rng.integers(200, 256, 64)
    b = np.full((64, 8), 127, np.int8)
    b[:, 1] = -128
    b[:, 2] = rng.integers(100, 128, 64)
    node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
    graph = helper.make_graph(
        [node], "saturation",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [4, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [4, 8])],
        [onnx.numpy_helper.from_array(b, "B")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return a, a.astype(np.int64) @ b.astype(np.int64)


def test_native_int8_matmul_is_exact_on_this_cpu_and_equals_ort_web(tmp_path):
    path = tmp_path / "matmul.onnx"
    a, exact = _saturating_matmul(path)
    native = ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"]).run(
        None, {"A": a}
    )[0]
    assert np.array_equal(native, exact)
    wasm = run_wasm(path, [{"A": a}], ["Y"], latency_sample=None).outputs[0][0]
    assert np.array_equal(wasm, exact)


@pytest.mark.parametrize("name", CATALOG)
def test_the_self_check_tolerance_rests_on_a_measurement(name):
    manifest = latest_manifest(name)
    for variant in manifest["variants"]:
        if variant.get("format") == "tfjs-graph":  # never run by the host: no self-check
            assert variant["file"] not in manifest["self_check"]["variants"]
            continue
        spec = manifest["self_check"]["variants"][variant["file"]]
        assert len(spec["atol"]) == len(manifest["outputs"])
        if "wasm" in variant["evaluations"]:
            assert spec["reference"] == "wasm"
            measured = variant["evaluations"]["server"]["metrics"]["max_abs_diff_vs_wasm"]
            assert max(spec["measured_native_vs_wasm"]) == pytest.approx(measured, rel=1e-2, abs=1e-9)
            assert all(tol >= SAFETY * m * 0.99 for tol, m in zip(spec["atol"], spec["measured_native_vs_wasm"]))
        if passes(variant, "server"):
            assert variant["evaluations"]["server"]["runtime"].startswith("onnxruntime ")
