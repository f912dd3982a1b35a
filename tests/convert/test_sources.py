"""Each source converter on a small synthetic model: the ONNX graph must compute what
the source framework computes, under the names the recipe asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from convert.errors import ConversionError
from convert.recipe import TensorSpec
from convert.sources import rename_io

RNG = np.random.default_rng(0)


def run_onnx(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def tiny_keras_cnn():
    import keras

    inputs = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_tflite_source_matches_the_interpreter(tmp_path: Path) -> None:
    import tensorflow as tf

    from convert.sources.tflite import TFLiteReference, tflite_to_onnx

    path = tmp_path / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tiny_keras_cnn()).convert())
    model = rename_io(tflite_to_onnx(path), ["image"], ["scores"])
    x = RNG.random((1, 16, 16, 3), dtype=np.float32)
    expected = TFLiteReference(path, ["image"])({"image": x})[0]
    np.testing.assert_allclose(run_onnx(model, {"image": x})[0], expected, atol=1e-5)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_source_matches_keras(tmp_path: Path, suffix: str) -> None:
    from convert.sources.keras import keras_reference, keras_to_onnx, load_keras

    path = tmp_path / f"tiny{suffix}"
    tiny_keras_cnn().save(path)
    model = load_keras(path)
    inputs = [TensorSpec("image", "float32", ["batch", 16, 16, 3])]
    converted = rename_io(keras_to_onnx(model, inputs, ["scores"]), ["image"], ["scores"])
    x = RNG.random((2, 16, 16, 3), dtype=np.float32)  # a batch of 2: the batch dim is dynamic
    expected = keras_reference(model, ["image"])({"image": x})[0]
    np.testing.assert_allclose(run_onnx(converted, {"image": x})[0], expected, atol=1e-5)


def test_pytorch_source_matches_torch_with_dynamic_axes() -> None:
    import torch

    from convert.sources.pytorch import torch_reference, torch_to_onnx

    module = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU6(), torch.nn.Linear(4, 2)).eval()
    inputs = [TensorSpec("features", "float32", ["batch", 8])]
    outputs = [TensorSpec("logits", "float32", ["batch", 2])]
    model = torch_to_onnx(module, inputs, outputs)
    assert [i.name for i in model.graph.input] == ["features"]
    x = RNG.random((5, 8), dtype=np.float32)
    expected = torch_reference(module, ["features"])({"features": x})[0]
    np.testing.assert_allclose(run_onnx(model, {"features": x})[0], expected, atol=1e-6)


def test_sklearn_source_gives_probabilities_only() -> None:
    from sklearn.linear_model import LogisticRegression

    from convert.sources.sklearn import sklearn_reference, sklearn_to_onnx

    x = RNG.random((60, 6), dtype=np.float32)
    y = (x[:, 0] + x[:, 1] > 1).astype(int)
    estimator = LogisticRegression().fit(x, y)
    model = sklearn_to_onnx(estimator, [TensorSpec("embedding", "float32", ["batch", 6])])
    assert [o.name for o in model.graph.output] == ["probabilities"]
    expected = sklearn_reference(estimator, "embedding")({"embedding": x})[0]
    np.testing.assert_allclose(run_onnx(model, {"embedding": x})[0], expected, atol=1e-5)


def test_onnx_passthrough_renames_inputs_and_outputs() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )
    model = rename_io(helper.make_model(graph), ["input"], ["output"])
    x = np.array([[-1.0, 0.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(run_onnx(model, {"input": x})[0], [[0.0, 0.0, 2.0]])


def test_rename_io_says_what_to_fix_when_counts_differ() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(ConversionError, match=r"fix \[\[inputs\]\] / \[\[outputs\]\]"):
        rename_io(helper.make_model(graph), ["a", "b"], ["y"])
