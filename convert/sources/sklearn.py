"""scikit-learn sources: a fitted estimator (trained by a recipe-named function, or a
pickle inside a package) converted with skl2onnx; the estimator itself is the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from convert.errors import ConversionError
from convert.recipe import Recipe, TensorSpec
from convert.sources import OPSET, Feeds, SourceModel, rename_io, resolve_callable


def sklearn_to_onnx(estimator: Any, inputs: list[TensorSpec], opset: int = OPSET) -> onnx.ModelProto:
    """Convert a fitted estimator; classifiers give one output, probabilities [N, classes]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    if len(inputs) != 1 or inputs[0].dtype != "float32":
        raise ConversionError("a scikit-learn source takes exactly one float32 input [batch, features].")
    shape = [d if isinstance(d, int) else None for d in inputs[0].shape]
    is_classifier = hasattr(estimator, "predict_proba")
    model = convert_sklearn(
        estimator,
        initial_types=[(inputs[0].name, FloatTensorType(shape))],
        options={id(estimator): {"zipmap": False}} if is_classifier else None,
        target_opset={"": opset, "ai.onnx.ml": 3},
    )
    if is_classifier:  # keep probabilities only: the label is argmax of them
        probabilities = [o for o in model.graph.output if o.name == "probabilities"]
        del model.graph.output[:]
        model.graph.output.extend(probabilities)
    return model


def sklearn_reference(estimator: Any, input_name: str) -> Any:
    def run(feeds: Feeds) -> list[np.ndarray]:
        x = feeds[input_name]
        y = estimator.predict_proba(x) if hasattr(estimator, "predict_proba") else estimator.predict(x)
        return [np.asarray(y, dtype=np.float32)]

    return run


def fit_estimator(recipe: Recipe) -> Any:
    """The recipe's ``source.trainer`` ("module:function") returns a fitted estimator."""
    trainer = resolve_callable(recipe.source.get("trainer", ""), f"{recipe.path.name}.source.trainer")
    return trainer()


def load(recipe: Recipe) -> SourceModel:
    estimator = fit_estimator(recipe)
    model = rename_io(
        sklearn_to_onnx(estimator, recipe.inputs), [t.name for t in recipe.inputs], [t.name for t in recipe.outputs]
    )
    return SourceModel(model, sklearn_reference(estimator, recipe.inputs[0].name), "scikit-learn", [])
