"""Keras sources (.h5 / .hdf5 / .keras / SavedModel): tf2onnx from the Keras model, Keras as reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from convert.packages import package_file
from convert.recipe import Recipe, TensorSpec
from convert.sources import OPSET, Feeds, SourceModel, quiet_tensorflow, rename_io


def load_keras(path: Path) -> Any:
    """Load a Keras model for inference (no optimizer state needed)."""
    quiet_tensorflow()
    import keras

    if path.is_dir():  # a SavedModel directory: wrap it as an inference-only layer
        return keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    return keras.models.load_model(str(path), compile=False)


def keras_to_onnx(model: Any, inputs: list[TensorSpec], outputs: list[str], opset: int = OPSET) -> onnx.ModelProto:
    """Convert a loaded Keras model; Keras 3 needs ``output_names`` set for tf2onnx."""
    quiet_tensorflow()
    import tensorflow as tf
    import tf2onnx

    model.output_names = list(outputs)
    signature = [
        tf.TensorSpec([d if isinstance(d, int) else None for d in t.shape], tf.as_dtype(t.dtype), name=t.name)
        for t in inputs
    ]
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    return onnx_model


def keras_reference(model: Any, input_names: list[str]) -> Any:
    def run(feeds: Feeds) -> list[np.ndarray]:
        result = model([feeds[n] for n in input_names], training=False)
        results = result if isinstance(result, (list, tuple)) else [result]
        return [np.asarray(r) for r in results]

    return run


def load(recipe: Recipe) -> SourceModel:
    src = recipe.source
    path = package_file(src["package"], src["module"], src["file"])
    model = load_keras(path)
    out_names = [t.name for t in recipe.outputs]
    onnx_model = rename_io(keras_to_onnx(model, recipe.inputs, out_names), [t.name for t in recipe.inputs], out_names)
    return SourceModel(onnx_model, keras_reference(model, [t.name for t in recipe.inputs]), "keras", [path])
