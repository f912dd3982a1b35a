"""Variants of one fp32 graph: graph-optimised fp32, int8 and fp16.

- fp32: ONNX Runtime's *basic* graph optimisations only (constant folding,
  redundant node elimination): they keep standard ONNX operators, so the file
  still runs in ONNX Runtime Web; the extended level would fuse into
  com.microsoft operators.
- int8 ``static-qdq``: QuantizeLinear/DequantizeLinear pairs, per-channel int8
  weights, activations calibrated on real data. For CNNs: dynamic quantisation
  of Conv gives ConvInteger, which ORT Web runs poorly.
- int8 ``dynamic``: int8 MatMul weights, activations quantised at run time.
  For transformers, whose activations vary too much per input to calibrate well.
- fp16: weights and activations in half precision, float32 inputs and outputs
  kept so callers never see the difference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx

Feeds = dict[str, np.ndarray]


def optimize_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Basic ONNX Runtime graph optimisation, saved back as a portable ONNX graph."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(model, src)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(dst)
    _strip_metadata(optimized)
    return canonical_names(optimized)


def canonical_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rename nodes, weights and intermediate tensors by their position in the graph.

    Converters number their names with process-wide counters (tf2onnx's
    ``const_fold_opt__179`` one run, ``__181`` the next), which would change the
    bytes and the sha256 of an otherwise identical model. Graph inputs and
    outputs keep their names: they are the contract.
    """
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    initializers = {t.name for t in graph.initializer}
    mapping: dict[str, str] = {}
    for node in graph.node:
        for name in node.input:
            if name in initializers and name not in mapping and name not in keep:
                mapping[name] = f"w{len(mapping)}"
        for name in node.output:
            if name not in keep and name not in mapping:
                mapping[name] = f"t{len(mapping)}"
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for tensor in graph.initializer:
        tensor.name = mapping.get(tensor.name, tensor.name)
    order = {name: i for i, name in enumerate(mapping.values())}
    weights = sorted(graph.initializer, key=lambda t: order.get(t.name, len(order)))
    del graph.initializer[:]
    graph.initializer.extend(weights)
    for value in [*graph.value_info, *graph.input]:
        value.name = mapping.get(value.name, value.name)
    # ONNX Runtime's saver declares every domain it knows (com.microsoft among them):
    # keep only the ones the graph uses.
    used = {n.domain for n in graph.node} | {""}
    imports = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(imports)
    return model


class _FeedsReader:
    """ONNX Runtime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Iterable[Feeds]) -> None:
        self._iter = iter(list(feeds))

    def get_next(self) -> Feeds | None:
        return next(self._iter, None)


def quantize_static_qdq(model: onnx.ModelProto, calibration: list[Feeds]) -> onnx.ModelProto:
    """Static int8 in QDQ format, calibrated (min/max) on ``calibration`` feeds."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("in.onnx", "pre.onnx", "out.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            _FeedsReader(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        quantized = onnx.load(dst)
    _strip_metadata(quantized)
    return quantized


def quantize_dynamic_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 of MatMul weights (transformers); other operators stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("in.onnx", "pre.onnx", "out.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        quantized = onnx.load(dst)
    _strip_metadata(quantized)
    return quantized


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Half precision inside, float32 inputs and outputs kept."""
    import warnings

    from onnxconverter_common import float16

    with warnings.catch_warnings():
        # It warns once per weight it clamps to the fp16 range; the evaluation measures the effect.
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    _strip_metadata(half)
    return half


def _strip_metadata(model: onnx.ModelProto) -> None:
    # Converters stamp names of temporary files and tool versions into the graph:
    # drop them so converting twice gives the same bytes (and the same sha256).
    del model.metadata_props[:]
    model.doc_string = ""
    model.graph.doc_string = ""
    model.producer_name = "browserml"
    model.producer_version = "1"
