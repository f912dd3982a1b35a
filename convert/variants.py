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
    # Composition can leave the default domain spelled "ai.onnx", or listed twice.
    used = {n.domain for n in graph.node} | {""}
    versions: dict[str, int] = {}
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        if domain in used:
            versions[domain] = max(versions.get(domain, 0), o.version)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in sorted(versions.items()))
    return model


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

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("in.onnx", "pre.onnx", "out.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        prepared = onnx.load(pre)
        quantize_static(
            str(pre),
            str(dst),
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
        _gptq_requantize(prepared, quantized, calibration)
    _strip_metadata(quantized)
    return quantized


def _input_convs(model: onnx.ModelProto, count: int) -> list[str]:
    """Names of the first ``count`` Conv nodes reachable from the graph inputs, in order."""
    names = [n.name for n in model.graph.node if n.op_type == "Conv"][:count]
    assert all(names), "Conv nodes need names to be excluded from quantisation"
    return names


def _gptq_requantize(fp32: onnx.ModelProto, qdq: onnx.ModelProto, calibration: list[Feeds]) -> None:
    """Re-choose the int8 weights of ``qdq`` in place with GPTQ, keeping ORT's scales.

    ``fp32`` is the pre-processed float model ``qdq`` was quantised from (same weight
    names). Only symmetric per-output-channel int8 weights (Conv, Gemm with transB=1)
    are touched; int32 biases stay as ORT computed them (their scale is unchanged).
    """
    from onnx import numpy_helper

    weights = {i.name: i for i in fp32.graph.initializer}
    q_init = {i.name: i for i in qdq.graph.initializer}
    dequant = {n.output[0]: n for n in qdq.graph.node if n.op_type == "DequantizeLinear"}
    layers = []
    for node in fp32.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in weights:
            continue
        dq = dequant.get(node.input[1] + "_DequantizeLinear_Output")
        if dq is None or dq.input[0] not in q_init:
            continue  # excluded from quantisation
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        axis = {a.name: a.i for a in dq.attribute}.get("axis", 1)
        if node.op_type == "Gemm" and (attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0):
            continue
        q = numpy_helper.to_array(q_init[dq.input[0]])
        scale = numpy_helper.to_array(q_init[dq.input[1]])
        zero = numpy_helper.to_array(q_init[dq.input[2]]) if len(dq.input) > 2 else np.zeros(1)
        if q.dtype != np.int8 or np.any(zero != 0) or (scale.ndim == 1 and axis != 0):
            continue
        layers.append((node, attrs, dq, scale))
    if not layers:
        return
    hessians = _input_second_moments(fp32, [n for n, *_ in layers], calibration)
    for node, attrs, dq, scale in layers:
        w = numpy_helper.to_array(weights[node.input[1]])
        rows = w.reshape(w.shape[0], -1)
        scales = np.broadcast_to(scale.reshape(-1).astype(np.float64), (rows.shape[0],))
        q = _gptq(rows, hessians[node.name], scales)
        target = q_init[dq.input[0]]
        target.CopyFrom(numpy_helper.from_array(q.reshape(w.shape), target.name))


def _input_second_moments(
    model: onnx.ModelProto, layers: list[onnx.NodeProto], calibration: list[Feeds]
) -> dict[str, np.ndarray]:
    """E[x x^T] of each layer's input patches: (d, d), or (C, k*k, k*k) for depthwise."""
    import onnxruntime as ort
    from numpy.lib.stride_tricks import sliding_window_view

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    listed = {o.name for o in probe.graph.output}
    for node in layers:
        if node.input[0] not in listed:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
            listed.add(node.input[0])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    weights = {i.name: i for i in model.graph.initializer}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for feeds in calibration:
        outputs = dict(zip(names, session.run(None, feeds)))
        for node in layers:
            x = outputs[node.input[0]].astype(np.float64)
            if node.op_type == "Gemm":
                cols = x.reshape(-1, x.shape[-1]).T
                moment, count = cols @ cols.T, cols.shape[1]
            else:
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                kernel = tuple(weights[node.input[1]].dims[2:])
                strides = attrs.get("strides", [1, 1])
                pads = attrs.get("pads", [0, 0, 0, 0])  # top, left, bottom, right
                assert len(kernel) == 2 and attrs.get("dilations", [1, 1]) == [1, 1] and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
                group = attrs.get("group", 1)
                moment, count = 0, 0
                for image in x:  # (C, H, W)
                    padded = np.pad(image, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
                    win = sliding_window_view(padded, kernel, axis=(1, 2))[:, :: strides[0], :: strides[1]]
                    c = win.shape[0]
                    patches = win.reshape(c, -1, kernel[0] * kernel[1])  # C, positions, k*k
                    if group == 1:
                        cols = patches.transpose(0, 2, 1).reshape(c * kernel[0] * kernel[1], -1)
                        moment = moment + cols @ cols.T
                    elif group == c:
                        moment = moment + np.einsum("cpk,cpl->ckl", patches, patches)
                    else:
                        raise NotImplementedError("grouped Conv other than depthwise")
                    count += patches.shape[1]
            sums[node.name] = sums.get(node.name, 0) + moment
            counts[node.name] = counts.get(node.name, 0) + count
    return {k: v / counts[k] for k, v in sums.items()}


def _gptq(rows: np.ndarray, hessian: np.ndarray, scales: np.ndarray, damp: float = 0.01) -> np.ndarray:
    """GPTQ rounding of ``rows`` (R, d) to symmetric int8 with per-row ``scales``.

    ``hessian`` is shared (d, d) or per row (R, d, d). Columns are rounded in order;
    each rounding error is spread over the later columns through the Cholesky factor
    of the inverse Hessian, which minimises the layer's output error on the data.
    """
    w = rows.astype(np.float64).copy()
    d = w.shape[1]
    h = (hessian if hessian.ndim == 3 else hessian[None]).astype(np.float64).copy()
    idx = np.arange(d)
    diag = h[:, idx, idx]
    diag[diag == 0] = 1.0  # inputs that are always zero: any weight works
    h[:, idx, idx] = diag + damp * diag.mean(axis=1, keepdims=True)
    inv_chol = np.linalg.cholesky(np.linalg.inv(h)).transpose(0, 2, 1)  # upper factor
    if inv_chol.shape[0] == 1:
        inv_chol = np.broadcast_to(inv_chol, (w.shape[0], d, d))
    q = np.zeros_like(w)
    for i in range(d):
        q[:, i] = np.clip(np.round(w[:, i] / scales), -127, 127)
        err = (w[:, i] - q[:, i] * scales) / inv_chol[:, i, i]
        w[:, i + 1 :] -= err[:, None] * inv_chol[:, i, i + 1 :]
    return q.astype(np.int8)


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

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("in.onnx", "pre.onnx", "out.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        ort_quantize_dynamic(
            str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gather"]
        )
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
    _fix_casts_to_float(half)
    _strip_metadata(half)
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


def _strip_metadata(model: onnx.ModelProto) -> None:
    # Converters stamp names of temporary files and tool versions into the graph:
    # drop them so converting twice gives the same bytes (and the same sha256).
    del model.metadata_props[:]
    model.doc_string = ""
    model.graph.doc_string = ""
    model.producer_name = "browserml"
    model.producer_version = "1"
