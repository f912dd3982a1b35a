"""Variants of a small CNN and the browser operator check."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from convert import variants
from convert.opcheck import check_browser_ops, suitable_backends

RNG = np.random.default_rng(1)


def small_cnn() -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> MatMul: enough to exercise every variant."""
    rng = np.random.default_rng(7)  # the same weights on every call
    w = numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(8,)).astype(np.float32), "b")
    fc = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "fc")
    shape = numpy_helper.from_array(np.array([-1, 8], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [w, b, fc, shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def calibration() -> list[dict[str, np.ndarray]]:
    return [{"x": RNG.random((1, 3, 16, 16), dtype=np.float32)} for _ in range(8)]


def op_types(model: onnx.ModelProto) -> set[str]:
    return {n.op_type for n in model.graph.node}


def test_fp32_optimisation_keeps_results_and_standard_ops() -> None:
    model = small_cnn()
    optimized = variants.optimize_fp32(model)
    x = RNG.random((2, 3, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(run(optimized, x), run(model, x), atol=1e-5)
    assert check_browser_ops(optimized).browser_ok


def test_static_qdq_uses_quantize_dequantize_not_conv_integer() -> None:
    quantized = variants.quantize_static_qdq(variants.optimize_fp32(small_cnn()), calibration())
    ops = op_types(quantized)
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "ConvInteger" not in ops
    x = calibration()[0]["x"]
    np.testing.assert_allclose(run(quantized, x), run(small_cnn(), x), atol=0.2)


def test_quantisation_is_deterministic() -> None:
    fp32 = variants.optimize_fp32(small_cnn())
    data = calibration()
    first = variants.quantize_static_qdq(fp32, data).SerializeToString()
    assert variants.quantize_static_qdq(fp32, data).SerializeToString() == first


def test_dynamic_quantisation_targets_matmul() -> None:
    quantized = variants.quantize_dynamic(variants.optimize_fp32(small_cnn()))
    ops = op_types(quantized)
    assert "MatMulInteger" in ops and "ConvInteger" not in ops


def test_fp16_keeps_float32_inputs_and_outputs() -> None:
    half = variants.convert_fp16(small_cnn())
    assert half.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(t.data_type == TensorProto.FLOAT16 for t in half.graph.initializer)
    x = RNG.random((1, 3, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(run(half, x), run(small_cnn(), x), atol=0.05)


def test_contrib_operators_and_strings_are_not_browser_safe() -> None:
    graph = helper.make_graph(
        [helper.make_node("FusedGemm", ["a", "b"], ["c"], domain="com.microsoft")],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("c", TensorProto.STRING, [2, 2])],
    )
    report = check_browser_ops(helper.make_model(graph))
    assert not report.browser_ok
    assert any("com.microsoft.FusedGemm" in p for p in report.problems)
    assert any("string tensors" in p for p in report.problems)
    assert suitable_backends("fp32", report) == ["server"]


def test_backends_by_precision() -> None:
    ok = check_browser_ops(small_cnn())
    assert suitable_backends("fp16", ok) == ["webgpu", "wasm", "server"]
    assert suitable_backends("int8", ok) == ["wasm", "server"]
