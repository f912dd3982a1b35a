"""One backbone download: a composed model (sentiment) also ships its head alone, and its manifest
names, per variant, the backbone model's own variant file (text-embedder), verified as backbone
file + head in ORT Web's WASM build and gated like the composed variant (convert/backbone.py)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from contract.integrity import sha256_file
from contract.manifest import load_manifest, passes
from contract.native_runtime import session_options
from contract.tasks import task_module
from contract.tasks.assets import load_assets
from convert.backbone import AGREEMENT_SLACK, _less_faithful
from harness.catalog import MODELS, latest_version_dir

TEXTS = ["What a wonderful, moving film. I loved every minute.", "Terrible. A boring, stupid waste of two hours.",
         "It's a phone.", "One funny popcorn flick."]


def test_a_split_less_faithful_than_its_composed_variant_is_rejected() -> None:
    composed = {"top1_agreement": 0.977, "accuracy_movies": 0.759, "max_abs_diff": 0.14}
    gates = {"min": {"accuracy_movies": 0.75}}
    assert _less_faithful({**composed, "top1_agreement": 0.977 - AGREEMENT_SLACK / 2}, composed, gates) == []
    assert _less_faithful({**composed, "max_abs_diff": 0.3}, composed, gates) == []  # not an agreement metric
    reasons = _less_faithful({**composed, "top1_agreement": 0.95, "accuracy_movies": 0.752}, composed, gates)
    assert reasons == [
        f"top1_agreement 0.9500 is under the composed variant's 0.9770 (slack {AGREEMENT_SLACK})",
        f"accuracy_movies 0.7520 is under the composed variant's 0.7590 (slack {AGREEMENT_SLACK})",
    ]


@pytest.mark.catalog
def test_sentiment_names_the_text_embedders_files_and_its_head() -> None:
    version_dir = latest_version_dir("sentiment")
    manifest = load_manifest(version_dir / "manifest.json")
    if "backbone" not in manifest:
        pytest.fail("sentiment has no backbone section; convert it again: browserml convert sentiment")
    section = manifest["backbone"]
    embedder_dir = MODELS / section["model"] / str(section["version"])
    embedder = load_manifest(embedder_dir / "manifest.json")
    head = version_dir / section["head"]["file"]
    assert sha256_file(head) == section["head"]["sha256"] and head.stat().st_size == section["head"]["bytes"] < 50_000
    assert section["output"] == embedder["outputs"][0]["name"] == section["head"]["input"]
    browser = {v["file"] for v in manifest["variants"] if "wasm" in v["backends"]}
    assert {s["variant"] for s in section["splits"]} == browser
    for split in section["splits"]:
        composed = next(v for v in manifest["variants"] if v["file"] == split["variant"])
        backbone = next(v for v in embedder["variants"] if v["file"] == split["backbone_file"])
        assert backbone["precision"] == composed["precision"] and backbone["sha256"] == split["backbone_sha256"]
        assert sha256_file(embedder_dir / split["backbone_file"]) == split["backbone_sha256"]
        # Measured in ORT Web: as faithful to the source as the composed variant, and passed on WASM.
        ours, theirs = split["evaluations"]["wasm"]["metrics"], composed["evaluations"]["wasm"]["metrics"]
        assert ours["top1_agreement"] >= theirs["top1_agreement"] - AGREEMENT_SLACK
        assert passes(split, "wasm") == passes(composed, "wasm")
        assert "text-embedder" in split["evaluations"]["wasm"]["runtime"]


@pytest.mark.catalog
def test_backbone_then_head_gives_the_composed_variants_answers() -> None:
    """Natively, on sentences a user would type: the same labels, scores within the split's recorded
    difference from the composed variant (measured in ORT Web over the evaluation data) plus 0.01."""
    version_dir = latest_version_dir("sentiment")
    manifest = load_manifest(version_dir / "manifest.json")
    section = manifest["backbone"]
    embedder_dir = MODELS / section["model"] / str(section["version"])
    assets = load_assets(manifest, version_dir)
    module = task_module(manifest["task"])
    head = ort.InferenceSession(str(version_dir / section["head"]["file"]), session_options(),
                                providers=["CPUExecutionProvider"])
    for split in section["splits"]:
        composed = ort.InferenceSession(str(version_dir / split["variant"]), session_options(),
                                        providers=["CPUExecutionProvider"])
        backbone = ort.InferenceSession(str(embedder_dir / split["backbone_file"]), session_options(),
                                        providers=["CPUExecutionProvider"])
        feeds, _ = module.prepare(TEXTS, manifest, assets)
        want = composed.run(None, feeds)[0]
        embedding = backbone.run([section["output"]], feeds)[0]
        got = head.run(None, {section["head"]["input"]: embedding})[0]
        assert (np.argmax(got, axis=-1) == np.argmax(want, axis=-1)).all(), (split["variant"], got, want)
        assert np.max(np.abs(got - want)) <= split["max_abs_diff_vs_composed"] + 0.01, split["variant"]
