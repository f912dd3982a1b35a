"""The whole pipeline on the smallest catalog model, into a temporary models folder:
versions increase, nothing changed means no new version, and the bytes are deterministic."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from contract.integrity import sha256_file
from contract.manifest import load_manifest
from harness import live_server


def browserml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return live_server.browserml(*args, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def first_conversion(
    tmp_path_factory: pytest.TempPathFactory, root: Path
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """emotion converted into an empty models folder, once for the module: the folder and the run."""
    models = tmp_path_factory.mktemp("models")
    result = browserml("convert", "emotion", "--models-dir", str(models), cwd=root)
    assert result.returncode == 0, result.stderr
    return models, result


@pytest.fixture(scope="module")
def converted(first_conversion: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    return first_conversion[0]


def test_conversion_writes_a_valid_version(converted: Path) -> None:
    version = converted / "emotion" / "1"
    manifest = load_manifest(version / "manifest.json")
    assert manifest["version"] == 1
    for variant in manifest["variants"]:
        assert sha256_file(version / variant["file"]) == variant["sha256"]
        files = [variant["file"], *(s["file"] for s in variant.get("shards", []))]  # TF.js: model.json + shards
        assert sum((version / f).stat().st_size for f in files) == variant["bytes"]
    report = (version / "report.md").read_text()
    assert "on the server (native ONNX Runtime)" in report and "on the browser (ONNX Runtime Web, WASM)" in report
    assert "on the browser (TF.js graph models, TF.js's wasm backend" in report
    assert report.count("| model.") == 3 * 2 + 3  # each ONNX variant on both runtimes, each TF.js one on TF.js
    assert "## Self-check at load" in report
    assert (version / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_is_shown_for_each_step(first_conversion: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = first_conversion  # into an empty folder: every step ran
    assert "[emotion] 1/9 load keras source and convert to ONNX" in result.stderr
    assert "[emotion] 7/9 export TF.js graph models (fp32, fp16, uint8 weights)" in result.stderr
    assert "[emotion] 9/9 write version 1" in result.stderr


def test_converting_again_with_nothing_changed_makes_no_new_version(converted: Path, root: Path) -> None:
    result = browserml("convert", "emotion", "--models-dir", str(converted), cwd=root)
    assert result.returncode == 0
    assert "version 1 (unchanged)" in result.stdout
    assert not (converted / "emotion" / "2").exists()


def test_a_forced_conversion_is_a_new_version_with_identical_bytes(converted: Path, root: Path) -> None:
    result = browserml("convert", "emotion", "--force", "--models-dir", str(converted), cwd=root)
    assert result.returncode == 0, result.stderr
    first = json.loads((converted / "emotion" / "1" / "manifest.json").read_text())
    second = json.loads((converted / "emotion" / "2" / "manifest.json").read_text())
    assert second["version"] == 2
    assert [v["sha256"] for v in second["variants"]] == [v["sha256"] for v in first["variants"]]


def test_a_tampered_version_is_not_reused(converted: Path, root: Path, tmp_path: Path) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(converted, models)
    versions = [p for p in (models / "emotion").iterdir() if p.name.isdigit()]
    for version in versions:  # every earlier version is damaged: none may be reused
        (version / "model.int8.onnx").write_bytes(b"corrupt")
    latest = max(int(p.name) for p in versions)
    result = browserml("convert", "emotion", "--models-dir", str(models), cwd=root)
    assert result.returncode == 0, result.stderr
    assert f"version {latest + 1} (new)" in result.stdout


def test_unknown_model_exits_non_zero_with_the_known_names(root: Path, tmp_path: Path) -> None:
    result = browserml("convert", "nope", "--models-dir", str(tmp_path), cwd=root)
    assert result.returncode == 1
    assert "unknown recipe 'nope'" in result.stderr and "emotion" in result.stderr


def test_no_passing_variant_exits_non_zero(root: Path, tmp_path: Path) -> None:
    strict = tmp_path / "emotion.toml"
    text = (root / "models" / "catalog" / "emotion.toml").read_text()
    strict.write_text(text.replace("min = { top1_agreement = 0.9 }", "min = { top1_agreement = 1.01 }"))
    result = browserml("convert", str(strict), "--models-dir", str(tmp_path / "m"), cwd=root)
    assert result.returncode == 1
    assert "no variant passed its gates" in result.stderr
    assert "top1_agreement 1.0000 is under the floor 1.01" in result.stderr


def test_models_list_prints_versions_variants_sizes_and_gates(converted: Path, root: Path) -> None:
    result = browserml("models", "list", "--models-dir", str(converted), cwd=root)
    assert result.returncode == 0
    manifest = load_manifest(converted / "emotion" / "1" / "manifest.json")
    lines = [line.split() for line in result.stdout.splitlines()[1:]]
    for line, variant in zip(lines, manifest["variants"]):  # the verdicts are the manifest's, per backend
        assert line[:4] == ["emotion", "1", "image-classification", variant["file"]]
        assert int(line[4].replace(",", "")) == variant["bytes"]
        passed = [b for b in variant["backends"] if variant["gates"][b]["passed"]]
        assert line[5] == (",".join(passed) or "nowhere")
    for backend, file in manifest["recommended"].items():
        row = next(" ".join(line) for line in lines if line[3] == file)
        assert backend in row.split("recommended:")[1]
