"""ONNX Runtime Web's WASM build, driven from Python: what the pipeline judges browser variants with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from convert import wasm_runtime
from convert.errors import ConversionError


def _add_one(path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])], "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
        [onnx.numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)


def test_runs_every_sample_in_order_and_times_one(tmp_path):
    _add_one(tmp_path / "add.onnx")
    samples = [{"x": np.arange(n, dtype=np.float32)} for n in (1, 3, 5)]
    run = wasm_runtime.run_wasm(tmp_path / "add.onnx", samples, ["y"], repeats=5)
    assert [o[0].tolist() for o in run.outputs] == [[1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]]
    assert run.latency_ms is not None and run.latency_ms >= 0
    assert run.runtime["package"] == "onnxruntime-web" and run.runtime["version"] == wasm_runtime.runtime_version()


def test_a_model_ort_web_cannot_load_is_a_conversion_error_naming_it(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(ConversionError, match="ONNX Runtime Web could not run broken.onnx"):
        wasm_runtime.run_wasm(tmp_path / "broken.onnx", [{"x": np.zeros(1, np.float32)}], ["y"])


def test_a_missing_install_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(wasm_runtime, "PACKAGE", tmp_path / "nope" / "package.json")
    with pytest.raises(ConversionError, match=r"make frontend"):
        wasm_runtime.run_wasm(tmp_path / "add.onnx", [], ["y"])


def test_many_samples_run_in_two_processes_in_order_and_the_latency_alone(tmp_path):
    """From PARALLEL_SAMPLES samples on the outputs come from two Node processes: same outputs, same order."""
    _add_one(tmp_path / "add.onnx")
    count = wasm_runtime.PARALLEL_SAMPLES + 1  # an odd count: the halves differ by one
    samples = [{"x": np.full(2, n, dtype=np.float32)} for n in range(count)]
    run = wasm_runtime.run_wasm(tmp_path / "add.onnx", samples, ["y"], latency_sample=count - 1, repeats=5)
    assert [o[0].tolist() for o in run.outputs] == [[n + 1.0, n + 1.0] for n in range(count)]
    assert run.latency_ms is not None and run.latency_ms >= 0
    assert run.runtime["package"] == "onnxruntime-web"
