"""Variants of one fp32 graph: graph-optimised fp32, int8 and fp16.

- fp32: ONNX Runtime's *basic* graph optimisations only (constant folding,
  redundant node elimination): they keep standard ONNX operators, so the file
  still runs in ONNX Runtime Web; the extended level would fuse into
  com.microsoft operators.
- int8 ``static-qdq``: QuantizeLinear/DequantizeLinear pairs, per-channel int8
  weights, activations calibrated on real data. For CNNs: dynamic quantisation
  of Conv gives ConvInteger, which ORT Web runs poorly.
- int8 ``dynamic``: int8 MatMul weights and embedding tables, activations quantised at run time.
  For transformers, whose activations vary too much per input to calibrate well.
- fp16: weights and activations in half precision, float32 inputs and outputs
  kept so callers never see the difference.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx

from convert.gptq import gptq_requantize
from convert.graph_determinism import canonical_names, strip_metadata
from convert.onnx_files import model_files

Feeds = dict[str, np.ndarray]


def optimize_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Basic ONNX Runtime graph optimisation, saved back as a portable ONNX graph."""
    import onnxruntime as ort

    with model_files(model, "out.onnx") as (src, dst):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = dst
        ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(dst)
    strip_metadata(optimized)
    return canonical_names(optimized)


class _FeedsReader:
    """ONNX Runtime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Iterable[Feeds]) -> None:
        self._iter = iter(list(feeds))

    def get_next(self) -> Feeds | None:
        return next(self._iter, None)


def quantize_static_qdq(
    model: onnx.ModelProto,
    calibration: list[Feeds],
    *,
    float_input_convs: int = 2,
    gptq: bool = True,
) -> onnx.ModelProto:
    """Static int8 in QDQ format, calibrated (min/max) on ``calibration`` feeds.

    Plain ONNX QuantizeLinear/DequantizeLinear (opset of the source model), per-channel
    symmetric int8 weights, uint8 activations. Two refinements over ONNX Runtime's
    defaults, both found on EfficientNet-Lite0 (77% top-1 agreement with fp32 before):

    - ``gptq``: ORT rounds every weight to the nearest int8 step on its own. With BN
      folded, early depthwise/stem filters are large *zero-sum* edge detectors (e.g.
      weights of +-8 summing to -0.015); independent rounding breaks the zero sum, so
      flat image regions leak a large DC error that the network amplifies (weights-only
      logit SNR 17.5 dB although every layer's weight SNR is >40 dB). We keep ORT's
      scales but re-choose the int8 values with GPTQ (Frantar et al. 2022), which
      rounds one input column at a time and pushes the error onto the remaining columns
      using the calibration inputs' second moments E[x x^T] (per channel for depthwise).
      Weights-only logit SNR 17.5 -> 27 dB; same bytes, same graph.
    - ``float_input_convs``: the first N Conv nodes on the input path stay float
      (weights and the activation between them). The stem's ReLU6 output is the most
      sensitive activation (its 0..6 uint8 noise goes straight into those high-gain edge
      filters); it costs ~4 KB of float weights for EfficientNet-Lite0.

    Not the cause, checked: Pad nodes (quant_pre_process folds them into Conv pads),
    int32 bias overflow on dead channels (ORT 1.32 widens their weight scale),
    Percentile/Entropy calibration or symmetric int8 activations (no better).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with model_files(model, "pre.onnx", "out.onnx") as (src, pre, dst):
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        prepared = onnx.load(pre)
        quantize_static(
            pre,
            dst,
            _FeedsReader(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=_input_convs(prepared, float_input_convs),
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        quantized = onnx.load(dst)
    if gptq:
        gptq_requantize(prepared, quantized, calibration)
    strip_metadata(quantized)
    return quantized


def _input_convs(model: onnx.ModelProto, count: int) -> list[str]:
    """Names of the first ``count`` Conv nodes reachable from the graph inputs, in order."""
    names = [n.name for n in model.graph.node if n.op_type == "Conv"][:count]
    assert all(names), "Conv nodes need names to be excluded from quantisation"
    return names


def quantize_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 for transformers: MatMul weights and the embedding tables (Gather).

    Weights are int8 per output channel; activations are quantised at run time.
    Measured on all-MiniLM-L6-v2 (60 movie snippets): per-channel QInt8 keeps
    cosine 0.993 to fp32, per-tensor QUInt8 0.981, reduce_range 0.868. Quantising
    Gather too takes the 47 MB word-embedding table to 12 MB.
    """
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with model_files(model, "pre.onnx", "out.onnx") as (src, pre, dst):
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        ort_quantize_dynamic(
            pre, dst, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gather"]
        )
        quantized = onnx.load(dst)
    strip_metadata(quantized)
    return quantized


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Half precision inside, float32 inputs and outputs kept."""
    import warnings

    from onnxconverter_common import float16

    with warnings.catch_warnings():
        # It warns once per weight it clamps to the fp16 range; the evaluation measures the effect.
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    _fix_casts_to_float(half)
    strip_metadata(half)
    return half


def _fix_casts_to_float(model: onnx.ModelProto) -> None:
    # The converter retypes a Cast's output (an int mask cast to float, in BERT)
    # to float16 but leaves the Cast's `to` at float: make the node agree.
    half = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.output[0] in half:
            for attr in node.attribute:
                if attr.name == "to" and attr.i == onnx.TensorProto.FLOAT:
                    attr.i = onnx.TensorProto.FLOAT16
