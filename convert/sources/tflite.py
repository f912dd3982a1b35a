"""TFLite sources: tf2onnx's TFLite path for the graph, the TFLite interpreter as reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from convert.packages import package_file
from convert.recipe import Recipe
from convert.sources import OPSET, Feeds, SourceModel, quiet_tensorflow, rename_io


def tflite_to_onnx(path: Path, opset: int = OPSET) -> onnx.ModelProto:
    """Convert a .tflite file to ONNX with tf2onnx (inputs/outputs keep TFLite's order)."""
    quiet_tensorflow()
    import tf2onnx

    model, _ = tf2onnx.convert.from_tflite(str(path), opset=opset)
    return model


class TFLiteReference:
    """Runs the original .tflite with TensorFlow's interpreter; feeds in input order."""

    def __init__(self, path: Path, input_names: list[str]) -> None:
        quiet_tensorflow()
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input_names = input_names

    def __call__(self, feeds: Feeds) -> list[np.ndarray]:
        outputs = []
        # The interpreter has fixed shapes: run a batch one sample at a time.
        batch = len(next(iter(feeds.values())))
        for b in range(batch):
            for detail, name in zip(self.interpreter.get_input_details(), self.input_names):
                self.interpreter.set_tensor(detail["index"], feeds[name][b : b + 1])
            self.interpreter.invoke()
            outputs.append(
                [self.interpreter.get_tensor(d["index"]).copy() for d in self.interpreter.get_output_details()]
            )
        return [np.concatenate(parts) for parts in zip(*outputs)]


def load(recipe: Recipe) -> SourceModel:
    src = recipe.source
    path = package_file(src["package"], src["module"], src["file"])
    model = rename_io(tflite_to_onnx(path), [t.name for t in recipe.inputs], [t.name for t in recipe.outputs])
    reference = TFLiteReference(path, [t.name for t in recipe.inputs])
    return SourceModel(model, reference, "tflite-interpreter", [path])
