"""Source model -> TF SavedModel -> TF.js graph models. Runs in the TF.js converter venv.

``convert/tfjs.py`` starts this script with ``.venv-tfjs/bin/python`` (tensorflowjs 4.22
cannot share a venv with the serving venv's TensorFlow 2.21 / Keras 3.12), so it imports
nothing from browserml. Usage: ``python tfjs_export.py REQUEST.json RESPONSE.json``

    REQUEST:  {"format": "keras" | "tflite", "source": path, "out": folder,
               "inputs": [{"name", "shape"}], "outputs": [names], "weights": ["fp32", "fp16", "uint8"]}
    RESPONSE: {"models": {weights: folder with model.json + shards}, "versions": {package: version}}

The SavedModel's serving signature is keyed by the recipe's input and output names, so the
graph model's ``signature`` maps the manifest's names to its nodes.

- Keras (.hdf5/.keras): Keras 3 ``ExportArchive``. Keras 3 *layers* models do not load in
  TF.js 4.22; graph models do.
- TFLite: BlazeFace's operators, translated one by one to ``tf.nn`` in NHWC (TFLite's own
  layout, so no Transpose is added). onnx2tf would need a calibration file it downloads,
  a fix for grouped convolutions and leaves 40 Transposes; this is about 60 lines.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the reference kernels, as the TFLite interpreter

# tensorflowjs_converter's weight quantisation per stored precision (as --quantize_float16=*, i.e. every
# weight); the converter's Python API in this process, so TensorFlow is imported once.
QUANTIZE: dict[str, dict[str, list[str]]] = {"fp32": {}, "fp16": {"float16": ["*"]}, "uint8": {"uint8": ["*"]}}


def _dims(shape: list[Any]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


def keras_saved_model(request: dict[str, Any], dst: Path) -> None:
    import keras
    import tensorflow as tf

    model = keras.models.load_model(request["source"], compile=False)
    (spec,) = request["inputs"]  # the catalog's Keras models have one input
    (output,) = request["outputs"]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda x: {output: model(x, training=False)},
        input_signature=[tf.TensorSpec(_dims(spec["shape"]), tf.float32, name=spec["name"])],
    )
    archive.write_out(str(dst), verbose=False)


def tflite_saved_model(request: dict[str, Any], dst: Path) -> None:
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema

    buffer = Path(request["source"]).read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buffer, 0))
    (graph,) = model.subgraphs
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    dtypes = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
              schema.TensorType.INT32: np.int32}
    padding = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}

    def constant(index: int) -> Any:
        tensor = graph.tensors[index]
        data = model.buffers[tensor.buffer].data
        if data is None or len(data) == 0:
            return None
        return np.frombuffer(bytes(data), dtypes[tensor.type]).reshape(tensor.shape).copy()

    constants = {i: constant(i) for i in range(len(graph.tensors))}

    def activation(x: Any, kind: int) -> Any:
        if kind == schema.ActivationFunctionType.NONE:
            return x
        if kind == schema.ActivationFunctionType.RELU:
            return tf.nn.relu(x)
        raise SystemExit(f"TFLite fused activation {kind} is not translated (convert/tfjs_export.py)")

    def forward(image: Any) -> list[Any]:
        values: dict[int, Any] = {graph.inputs[0]: image}

        def get(i: int) -> Any:
            return values[i] if i in values else tf.constant(constants[i])

        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            kind = op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]
            o, ins = op.builtinOptions, list(op.inputs)
            if kind == "DEQUANTIZE":  # fp16 weights stored by the TFLite file: fp32 here
                y = tf.constant(constants[ins[0]].astype(np.float32))
            elif kind == "CONV_2D":  # filter OHWI -> HWIO
                w = tf.transpose(get(ins[1]), [1, 2, 3, 0])
                y = tf.nn.conv2d(get(ins[0]), w, [1, o.strideH, o.strideW, 1], padding[o.padding],
                                 dilations=[1, o.dilationHFactor, o.dilationWFactor, 1])
                y = activation(tf.nn.bias_add(y, get(ins[2])), o.fusedActivationFunction)
            elif kind == "DEPTHWISE_CONV_2D":  # filter 1 H W (C*M) -> H W C M
                f = get(ins[1])
                channels = f.shape[3] // o.depthMultiplier
                w = tf.reshape(f, [f.shape[1], f.shape[2], channels, o.depthMultiplier])
                y = tf.nn.depthwise_conv2d(get(ins[0]), w, [1, o.strideH, o.strideW, 1], padding[o.padding],
                                           dilations=[o.dilationHFactor, o.dilationWFactor])
                y = activation(tf.nn.bias_add(y, get(ins[2])), o.fusedActivationFunction)
            elif kind == "ADD":
                y = activation(get(ins[0]) + get(ins[1]), o.fusedActivationFunction)
            elif kind == "RELU":
                y = tf.nn.relu(get(ins[0]))
            elif kind == "PAD":
                y = tf.pad(get(ins[0]), constants[ins[1]])
            elif kind == "MAX_POOL_2D":
                y = tf.nn.max_pool2d(get(ins[0]), [1, o.filterHeight, o.filterWidth, 1],
                                     [1, o.strideH, o.strideW, 1], padding[o.padding])
                y = activation(y, o.fusedActivationFunction)
            elif kind == "RESHAPE":
                y = tf.reshape(get(ins[0]), graph.tensors[op.outputs[0]].shape)
            elif kind == "CONCATENATION":
                y = activation(tf.concat([get(i) for i in ins], o.axis), o.fusedActivationFunction)
            else:
                raise SystemExit(f"TFLite operator {kind} is not translated (convert/tfjs_export.py)")
            values[op.outputs[0]] = y
        return [values[i] for i in graph.outputs]

    (spec,) = request["inputs"]
    names = request["outputs"]
    if len(names) != len(graph.outputs):
        raise SystemExit(f"the recipe names {len(names)} outputs, the TFLite model has {len(graph.outputs)}")
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec(_dims(spec["shape"]), tf.float32, name=spec["name"])])
    def serve(x: Any) -> dict[str, Any]:
        return dict(zip(names, forward(x)))  # TFLite output order = the recipe's

    module.serve = serve
    tf.saved_model.save(module, str(dst), signatures={"serving_default": serve})


def main() -> None:
    request_path, response_path = sys.argv[1:3]
    request = json.loads(Path(request_path).read_text())
    out = Path(request["out"])
    saved = out / "saved_model"
    {"keras": keras_saved_model, "tflite": tflite_saved_model}[request["format"]](request, saved)
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    models = {}
    for weights in request["weights"]:
        folder = out / weights
        convert_tf_saved_model(str(saved), str(folder), signature_def="serving_default",
                               quantization_dtype_map=QUANTIZE[weights] or None)
        models[weights] = str(folder)
    from importlib.metadata import version

    versions = {p: version(p) for p in ("tensorflow", "tensorflowjs", "keras")}
    Path(response_path).write_text(json.dumps({"models": models, "versions": versions}))


if __name__ == "__main__":
    main()
