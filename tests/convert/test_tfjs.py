"""TF.js graph models of the TF-sourced catalog models (convert/tfjs.py), as `make models` built them.

Each is a complete, hash-checked graph model; it answers like the source model on TF.js's own
wasm backend (the manifest's numbers, measured again here from the files on disk); its verdicts
are the recipe's gates applied to those numbers; and a recipe that asks for TF.js variants of a
model TF.js cannot take is refused with a message that says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contract.integrity import sha256_file
from contract.manifest import load_manifest, passes
from convert import gates, tfjs
from convert.errors import ConversionError
from convert.recipe import load_recipe
from convert.wasm_runtime import run_node_script
from harness.catalog import latest_version_dir

TFJS_MODELS = ["emotion", "face-detector"]  # the catalog's Keras and TFLite sources
ROOT = Path(__file__).resolve().parents[2]


def graph_models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in manifest["variants"] if v.get("format") == "tfjs-graph"]


@pytest.mark.parametrize("name", TFJS_MODELS)
def test_every_weight_precision_is_a_complete_hash_checked_graph_model(name: str) -> None:
    version_dir = latest_version_dir(name)
    manifest = load_manifest(version_dir / "manifest.json")
    models = graph_models(manifest)
    assert sorted(v["precision"] for v in models) == ["fp16", "fp32", "uint8"]
    for variant in models:
        model = json.loads((version_dir / variant["file"]).read_text())
        named = [p for group in model["weightsManifest"] for p in group["paths"]]
        assert named == [s["file"] for s in variant["shards"]], "model.json names exactly the listed shards"
        for entry in [variant, *variant["shards"]]:
            if entry is not variant:
                assert (version_dir / entry["file"]).stat().st_size == entry["bytes"]
            assert sha256_file(version_dir / entry["file"]) == entry["sha256"]
        assert variant["bytes"] == (version_dir / variant["file"]).stat().st_size + sum(
            s["bytes"] for s in variant["shards"])
        # Fed and fetched by the manifest's names, whatever TF's node names are.
        assert set(model["signature"]["inputs"]) == {t["name"] for t in manifest["inputs"]}
        assert set(model["signature"]["outputs"]) == {t["name"] for t in manifest["outputs"]}
        assert variant["backends"] == ["tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"]


@pytest.mark.parametrize("name", TFJS_MODELS)
def test_verdicts_are_the_recipe_gates_on_tfjs_wasm_and_the_pick_passed(name: str) -> None:
    manifest = load_manifest(latest_version_dir(name) / "manifest.json")
    recipe = load_recipe(name, ROOT)
    for variant in graph_models(manifest):
        expected = gates.judge(variant["precision"], variant["bytes"],
                               variant["evaluations"]["tfjs-wasm"]["metrics"],
                               {**recipe.gates, "max_bytes": recipe.tfjs["max_bytes"]})
        assert variant["gates"]["tfjs-wasm"] == expected
        for backend in ("tfjs-webgl", "tfjs-webgpu"):
            assert variant["gates"][backend] == {**expected, "judged_by": "tfjs-wasm"}
    for backend in ("tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"):
        pick = manifest["recommended"][backend]
        assert pick is not None, f"{name}: no TF.js variant passed on {backend}"
        assert passes(next(v for v in manifest["variants"] if v["file"] == pick), backend)


@pytest.mark.parametrize("name", TFJS_MODELS)
def test_the_recommended_graph_model_answers_like_the_onnx_model_on_tfjs_wasm(name: str) -> None:
    """The self-check's reference inputs through TF.js's wasm backend (Node, the files on disk)
    against the expected outputs of the ONNX fp32 model (native ORT). Tolerance per output: what
    the manifest measured for each of the two against the source model on the evaluation data
    (max_abs_diff of the TF.js variant + that of model.onnx), times 1.5 for inputs it did not see."""
    version_dir = latest_version_dir(name)
    manifest = load_manifest(version_dir / "manifest.json")
    variant = next(v for v in manifest["variants"] if v["file"] == manifest["recommended"]["tfjs-wasm"])
    onnx_fp32 = next(v for v in manifest["variants"] if v["file"] == "model.onnx")
    tolerance = 1.5 * (variant["evaluations"]["tfjs-wasm"]["metrics"]["max_abs_diff"]
                       + onnx_fp32["evaluations"]["server"]["metrics"]["max_abs_diff"])
    arrays = np.load(version_dir / manifest["self_check"]["file"])
    inputs = [t["name"] for t in manifest["inputs"]]
    outputs = [t["name"] for t in manifest["outputs"]]
    count = manifest["self_check"]["samples"]
    samples = [{n: arrays[f"input/{i}/{n}"] for n in inputs} for i in range(count)]
    measured = run_node_script(tfjs.NODE_SCRIPT, version_dir / variant["file"], samples, outputs,
                               latency_sample=None, what="TF.js (wasm)")
    assert measured.runtime["backend"] == "wasm"
    for i, answer in enumerate(measured.outputs):
        for j, actual in enumerate(answer):
            expected = arrays[f"expected/model.onnx/{i}/{j}"]
            assert actual.shape == expected.shape
            assert float(np.max(np.abs(actual - expected))) <= tolerance, (name, i, outputs[j])


def _recipe(tmp_path: Path, source_format: str, table: str) -> Path:
    text = (ROOT / "models" / "catalog" / "emotion.toml").read_text()
    text = text.replace('format = "keras"', f'format = "{source_format}"')
    start = text.index("[tfjs]")
    end = text.index("\n[", start + 1)
    path = tmp_path / "emotion.toml"
    path.write_text(text[:start] + table + text[end:])
    return path


@pytest.mark.parametrize(
    ("source_format", "table", "message"),
    [
        ("pytorch", '[tfjs]\nweights = ["fp32"]\nmax_bytes = { fp32 = 1 }\n',
         r"\[tfjs\] needs a keras or tflite source \(source.format is 'pytorch'\)"),
        ("keras", '[tfjs]\nweights = ["int4"]\nmax_bytes = { int4 = 1 }\n',
         r"tfjs.weights\[\] is 'int4'; allowed: fp32, fp16, uint8"),
        ("keras", '[tfjs]\nweights = ["fp16"]\nmax_bytes = { fp32 = 1 }\n', r"tfjs.max_bytes.*fp16"),
        ("keras", '[tfjs]\nweights = ["fp32"]\nmax_bytes = { fp32 = 1 }\nthreads = 2\n',
         r"tfjs: unknown field\(s\) threads; allowed: max_bytes, weights"),
    ],
)
def test_a_bad_tfjs_table_is_refused_naming_the_field(tmp_path: Path, source_format: str, table: str,
                                                       message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        load_recipe(_recipe(tmp_path, source_format, table), ROOT)


def test_a_missing_converter_environment_says_which_target_builds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERML_TFJS_PYTHON", str(tmp_path / "no-venv" / "bin" / "python"))
    with pytest.raises(ConversionError, match=r"TF.js converter environment is missing .*make tfjs-env"):
        tfjs.export(load_recipe("emotion", ROOT), tmp_path / "model.hdf5", tmp_path)
