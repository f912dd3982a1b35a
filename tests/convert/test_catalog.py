"""Every catalog model, as `browserml convert --all` built it: the manifest is valid, the
files are what the manifest says, and the numbers meet the promises of the README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from contract.integrity import sha256_file
from contract.manifest import load_manifest, passes, passes_in_browser
from contract.native_runtime import session_options
from contract.tasks import task_module
from contract.tasks.assets import load_assets
from convert.datasets import photos
from convert.evaluate import box_iou
from harness.catalog import CATALOG, latest_version_dir


def onnx_variants(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in manifest["variants"] if v.get("format", "onnx") == "onnx"]


def variant(manifest: dict[str, Any], precision: str) -> dict[str, Any]:
    return next(v for v in onnx_variants(manifest) if v["precision"] == precision)


def session(version_dir: Path, file: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(version_dir / file), session_options(), providers=["CPUExecutionProvider"])


def wasm_metrics(variant: dict[str, Any]) -> dict[str, float]:
    """The variant measured in ONNX Runtime Web's WASM build: the same on every CPU."""
    return variant["evaluations"]["wasm"]["metrics"]


def predict(version_dir: Path, manifest: dict[str, Any], file: str, sample: Any) -> dict[str, Any]:
    """What the server fallback will do: contract/tasks around an ONNX Runtime session."""
    assets = load_assets(manifest, version_dir)
    module = task_module(manifest["task"])
    feeds, context = module.prepare(sample, manifest, assets)
    return module.finish(session(version_dir, file).run(None, feeds), context, manifest, assets)


@pytest.mark.parametrize("name", CATALOG)
def test_manifest_is_valid_and_files_match_their_hashes(name: str) -> None:
    version_dir = latest_version_dir(name)
    manifest = load_manifest(version_dir / "manifest.json")
    assert manifest["name"] == name and manifest["version"] == int(version_dir.name)
    for entry in [*onnx_variants(manifest), *manifest["assets"]]:  # TF.js graph models: tests/convert/test_tfjs.py
        path = version_dir / entry["file"]
        assert path.stat().st_size == entry["bytes"]
        assert sha256_file(path) == entry["sha256"]
    assert {v["precision"] for v in onnx_variants(manifest)} == {"fp32", "int8", "fp16"}
    assert manifest["licence"] and manifest["source"]["files"]
    assert (version_dir / "report.md").is_file() and (version_dir / "report.png").is_file()


@pytest.mark.parametrize("name", CATALOG)
def test_only_passing_browser_safe_variants_are_recommended(name: str) -> None:
    manifest = load_manifest(latest_version_dir(name) / "manifest.json")
    by_file = {v["file"]: v for v in manifest["variants"]}
    assert manifest["recommended"]["server"] is not None
    for backend, file in manifest["recommended"].items():
        if file is not None:
            assert passes(by_file[file], backend), (backend, file)
            assert backend in by_file[file]["backends"]
    for v in manifest["variants"]:
        if "wasm" in v["backends"]:
            assert not any(op.startswith("com.microsoft") for op in v["operators"])
    assert manifest["recommended"]["wasm"] is not None, "every catalog model should run in the browser"


@pytest.mark.parametrize("name", CATALOG)
def test_every_variant_was_measured_against_the_source(name: str) -> None:
    manifest = load_manifest(latest_version_dir(name) / "manifest.json")
    for v in onnx_variants(manifest):  # TF.js graph models: tests/convert/test_tfjs.py
        server = v["evaluations"]["server"]
        assert server["metrics"]["max_abs_diff"] >= 0
        assert server["latency_ms"]["threads_1"] > 0 and server["latency_ms"]["threads_2"] > 0
        if "wasm" in v["backends"]:  # every browser variant is judged by ORT Web itself
            wasm = v["evaluations"]["wasm"]
            assert wasm["runtime"].startswith("onnxruntime-web ") and wasm["latency_ms"]["threads_1"] > 0
            assert set(wasm["metrics"]) == set(server["metrics"]) - {"max_abs_diff_vs_wasm"}
    fp32 = variant(manifest, "fp32")
    assert passes(fp32, "server") and passes(fp32, "wasm"), fp32["gates"]


def test_imagenet_int8_is_small_and_faithful() -> None:
    manifest = load_manifest(latest_version_dir("imagenet") / "manifest.json")
    fp32, int8 = variant(manifest, "fp32"), variant(manifest, "int8")
    assert int8["bytes"] <= 0.30 * fp32["bytes"]
    assert passes(int8, "wasm"), int8["gates"]
    # In the browser's runtime, where the source model gives an answer rather than "not sure".
    assert wasm_metrics(int8)["top1_agreement_confident"] >= 0.98
    assert wasm_metrics(int8)["top1_agreement"] >= 0.9
    assert manifest["recommended"]["wasm"] == int8["file"]  # 27% of the download


def test_imagenet_recognises_the_cat_and_the_coffee() -> None:
    version_dir = latest_version_dir("imagenet")
    manifest = load_manifest(version_dir / "manifest.json")
    file = manifest["recommended"]["wasm"]
    cat = predict(version_dir, manifest, file, photos.photo("chelsea"))
    coffee = predict(version_dir, manifest, file, photos.photo("coffee"))
    assert cat["labels"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert coffee["labels"][0]["label"] in {"espresso", "cup", "coffee mug"}
    assert len(cat["labels"]) == 5


def test_face_detector_finds_the_astronaut_and_no_face_elsewhere() -> None:
    version_dir = latest_version_dir("face-detector")
    manifest = load_manifest(version_dir / "manifest.json")
    # The only ones ever run (in ONNX Runtime; the TF.js graph models in tests/browser/test_browser_tfjs.py).
    passing = [v for v in onnx_variants(manifest) if passes_in_browser(v) or passes(v, "server")]
    assert passing
    for v in passing:
        faces = predict(version_dir, manifest, v["file"], photos.photo("astronaut"))["faces"]
        assert len(faces) == 1
        assert box_iou(faces[0]["box"], list(photos.ASTRONAUT_FACE)) >= 0.5
        assert len(faces[0]["keypoints"]) == 6
        for name in photos.NO_FACE_PHOTOS:
            assert predict(version_dir, manifest, v["file"], photos.photo(name))["faces"] == [], name


def test_emotion_reads_a_face_crop() -> None:
    version_dir = latest_version_dir("emotion")
    manifest = load_manifest(version_dir / "manifest.json")
    face = photos.photo("astronaut").crop((170, 70, 280, 180))
    result = predict(version_dir, manifest, manifest["recommended"]["wasm"], face)
    assert result["labels"][0]["label"] in manifest["postprocess"]["labels"]
    assert abs(sum(label["score"] for label in result["labels"]) - 1.0) < 0.5


def test_text_embedder_int8_stays_close_to_pytorch() -> None:
    manifest = load_manifest(latest_version_dir("text-embedder") / "manifest.json")
    int8 = variant(manifest, "int8")
    assert wasm_metrics(int8)["cosine_mean"] >= 0.99
    assert manifest["recommended"]["wasm"] == int8["file"]  # half of fp16's download, and faster in ORT Web


def test_text_embedder_ranks_paraphrases_above_unrelated_text() -> None:
    version_dir = latest_version_dir("text-embedder")
    manifest = load_manifest(version_dir / "manifest.json")
    file = manifest["recommended"]["wasm"]
    a, b, c = (
        np.array(predict(version_dir, manifest, file, text)["embedding"])
        for text in ("A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today.")
    )
    assert np.dot(a, b) > np.dot(a, c) + 0.3
    assert abs(np.linalg.norm(a) - 1.0) < 1e-3


def test_sentiment_accuracy_on_held_out_snippets() -> None:
    manifest = load_manifest(latest_version_dir("sentiment") / "manifest.json")
    best = next(v for v in manifest["variants"] if v["file"] == manifest["recommended"]["wasm"])
    assert wasm_metrics(best)["accuracy_tweets"] >= 0.75
    assert wasm_metrics(best)["accuracy_movies"] >= 0.75  # see README: 0.78 is not reached by this head


def test_sentiment_reads_obvious_sentences() -> None:
    version_dir = latest_version_dir("sentiment")
    manifest = load_manifest(version_dir / "manifest.json")
    file = manifest["recommended"]["wasm"]
    good = predict(version_dir, manifest, file, "What a wonderful, moving film. I loved every minute.")
    bad = predict(version_dir, manifest, file, "Terrible. A boring, stupid waste of two hours.")
    assert good["labels"][0]["label"] == "positive" and bad["labels"][0]["label"] == "negative"
    assert good["fallback"] is None
