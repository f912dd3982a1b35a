"""``browserml export-triton DIR`` (cli/triton.py): a Triton model repository of what the host serves.

No Triton server runs here, so the repository is checked with Triton's own ``ModelConfig``
protobuf (``tritonclient.grpc.model_config_pb2``): every ``config.pbtxt`` must parse, and say
what each manifest says; every ``model.onnx`` must be the manifest's server variant (sha256),
load in ONNX Runtime with the configured names and types, and reproduce the version's
self-check references as a Triton call of it would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from app.config import DEFAULTS
from contract.integrity import sha256_file
from harness.catalog import CATALOG, MODELS, sabotage_self_check, versions_copy
from harness.live_server import browserml
from lifecycle.aliases import servable_versions

pytestmark = pytest.mark.catalog
TYPES = {"float32": pb.TYPE_FP32, "float16": pb.TYPE_FP16, "int64": pb.TYPE_INT64, "int32": pb.TYPE_INT32,
         "uint8": pb.TYPE_UINT8, "bool": pb.TYPE_BOOL}
ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "int64": "tensor(int64)",
             "int32": "tensor(int32)", "uint8": "tensor(uint8)", "bool": "tensor(bool)"}


def export(*args: str, lifecycle_db: Path) -> object:
    """The CLI with the host's default settings and its own lifecycle state (never models/'s)."""
    return browserml("export-triton", *args, env={"BROWSERML_LIFECYCLE_DB": str(lifecycle_db)}, defaults=True)


def config_of(folder: Path) -> pb.ModelConfig:
    return text_format.Parse((folder / "config.pbtxt").read_text(), pb.ModelConfig())


def manifest_of(models: Path, name: str, version: int) -> dict:
    return json.loads((models / name / str(version) / "manifest.json").read_text())


def variant(manifest: dict, file: str) -> dict:
    return next(v for v in manifest["variants"] if v["file"] == file)


def batchable(manifest: dict, file: str) -> bool:
    """The host's batching rules (app/batching.py docstring), restated from the manifest."""
    if variant(manifest, file).get("quantization") == "dynamic":
        return False
    inputs_ok = all(isinstance(s["shape"][0], str) for s in manifest["inputs"])
    outputs_ok = all(isinstance(s["shape"][0], str) and all(isinstance(d, int) for d in s["shape"][1:])
                     for s in manifest["outputs"])
    return inputs_ok and outputs_ok


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    out = tmp_path_factory.mktemp("triton") / "repo"
    done = export(str(out), lifecycle_db=tmp_path_factory.mktemp("state") / "lifecycle.sqlite")
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_every_served_model_gets_a_triton_config_that_matches_its_manifest(repository):
    out, stdout = repository
    assert sorted(p.name for p in out.iterdir()) == CATALOG
    for name in CATALOG:
        version = servable_versions(MODELS, name)[-1]  # no alias set: the newest passing version
        manifest = manifest_of(MODELS, name, version)
        file = manifest["recommended"]["server"]
        config = config_of(out / name)
        assert config.name == name and config.platform == "onnxruntime_onnx"
        assert list(config.version_policy.specific.versions) == [version]
        assert sorted(p.name for p in (out / name).iterdir()) == [str(version), "config.pbtxt"]
        batched = batchable(manifest, file)
        assert config.max_batch_size == (DEFAULTS["BATCH_MAX_SIZE"] if batched else 0), name
        assert config.HasField("dynamic_batching") == batched, name
        if batched:
            assert config.dynamic_batching.max_queue_delay_microseconds == DEFAULTS["BATCH_MAX_DELAY_MS"] * 1000
        for tensors, specs in ((config.input, manifest["inputs"]), (config.output, manifest["outputs"])):
            assert [t.name for t in tensors] == [s["name"] for s in specs]
            for tensor, spec in zip(tensors, specs):
                assert tensor.data_type == TYPES[spec["dtype"]]
                shape = spec["shape"][1:] if batched else spec["shape"]
                assert list(tensor.dims) == [d if isinstance(d, int) else -1 for d in shape]
        assert f"{name}: v{version} {file}" in stdout
    # The catalog's two shapes of answer: a fixed batch of 1, and a dynamic batch.
    assert config_of(out / "face-detector").max_batch_size == 0
    assert list(config_of(out / "face-detector").input[0].dims) == [1, 128, 128, 3]
    assert config_of(out / "imagenet").max_batch_size == DEFAULTS["BATCH_MAX_SIZE"]
    assert list(config_of(out / "imagenet").input[0].dims) == [3, 224, 224]


def test_exported_onnx_files_are_the_server_variants_and_answer_like_the_host(repository):
    out, _ = repository
    for name in CATALOG:
        [version] = config_of(out / name).version_policy.specific.versions
        manifest = manifest_of(MODELS, name, version)
        file = manifest["recommended"]["server"]
        path = out / name / str(version) / "model.onnx"
        assert sha256_file(path) == variant(manifest, file)["sha256"]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [(i.name, i.type) for i in session.get_inputs()] == [
            (s["name"], ORT_TYPES[s["dtype"]]) for s in manifest["inputs"]]
        assert [o.name for o in session.get_outputs()] == [s["name"] for s in manifest["outputs"]]
        # A Triton call of the exported model: the version's reference inputs, its outputs by name.
        check = manifest["self_check"]
        with np.load(MODELS / name / str(version) / check["file"], allow_pickle=False) as refs:
            for sample in range(check["samples"]):
                feeds = {s["name"]: refs[f"input/{sample}/{s['name']}"] for s in manifest["inputs"]}
                outputs = session.run([s["name"] for s in manifest["outputs"]], feeds)
                for index, (actual, atol) in enumerate(zip(outputs, check["variants"][file]["atol"])):
                    expected = refs[f"expected/{file}/{sample}/{index}"]
                    assert actual.shape == expected.shape
                    assert float(np.max(np.abs(actual.astype(np.float64) - expected))) <= atol, (name, sample)


def test_the_export_follows_the_lifecycle_and_the_host_s_variant_choice(tmp_path):
    models = versions_copy(tmp_path / "models", ["emotion"], 2)
    state = tmp_path / "lifecycle.sqlite"
    env = {"BROWSERML_LIFECYCLE_DB": str(state)}
    where = ["--models-dir", str(models)]
    assert browserml("promote", "emotion", "1", *where, env=env, defaults=True).returncode == 0
    assert browserml("canary", "emotion", "2", "--percent", "10", *where, env=env, defaults=True).returncode == 0
    # emotion v1's recommended server variant no longer reproduces its references: the host
    # would run the next candidate, and so must Triton.
    sabotage_self_check(models / "emotion" / "1", "model.onnx")

    done = export(str(tmp_path / "a"), "emotion", *where, lifecycle_db=state)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["emotion"]  # only the model named
    config = config_of(tmp_path / "a" / "emotion")
    assert list(config.version_policy.specific.versions) == [1]  # the pinned stable, not the newest
    assert "canary v2 (10%) not exported (pass --canary)" in done.stdout
    exported = tmp_path / "a" / "emotion" / "1" / "model.onnx"
    manifest = manifest_of(models, "emotion", 1)
    assert sha256_file(exported) != variant(manifest, "model.onnx")["sha256"]
    assert sha256_file(exported) in {v["sha256"] for v in manifest["variants"] if v["file"] != "model.onnx"}

    done = export(str(tmp_path / "b"), "emotion", "--canary", "--max-batch-size", "4", "--max-delay-ms", "1.5",
                  *where, lifecycle_db=state)
    assert done.returncode == 0, done.stderr
    config = config_of(tmp_path / "b" / "emotion")
    assert list(config.version_policy.specific.versions) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "b" / "emotion").iterdir()) == ["1", "2", "config.pbtxt"]
    assert config.max_batch_size == 4 and config.dynamic_batching.max_queue_delay_microseconds == 1500
    assert "callers of the stable one must name v1" in done.stdout


def test_bad_exports_are_refused_with_what_to_do(tmp_path):
    state = tmp_path / "lifecycle.sqlite"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    done = export(str(busy), "emotion", lifecycle_db=state)
    assert done.returncode == 2 and "is not empty; pass --force" in done.stderr
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    done = export(str(tmp_path / "new"), "emotion", "no-such-model", lifecycle_db=state)
    assert done.returncode == 2
    assert "unknown model(s) 'no-such-model'" in done.stderr and ", ".join(CATALOG) in done.stderr
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())

    done = export(str(MODELS), "emotion", "--force", lifecycle_db=state)
    assert done.returncode == 2 and "overlaps the models directory" in done.stderr

    done = export(str(busy), "emotion", "--force", lifecycle_db=state)  # --force: writes beside what is there
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["emotion", "keep.txt"]
    again = export(str(busy), "emotion", "--force", lifecycle_db=state)  # and replaces its own folders
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["emotion", "keep.txt"]

    done = export(str(tmp_path / "x"), "--max-batch-size", "-1", lifecycle_db=state)
    assert done.returncode == 2 and "max batch size must be an integer >= 0" in done.stderr
