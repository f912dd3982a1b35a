"""Source converters: each turns one source format into an fp32 ONNX graph plus a
reference that runs the *source framework* on the same feeds, so every variant
can be measured against the original model rather than against itself.

``load_source(recipe)`` dispatches on ``recipe.source.format``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from convert.errors import ConversionError
from convert.recipe import Recipe

# One opset for every graph: ORT Web 1.30 and ORT 1.32 both run 17 fully, and the
# composition of two graphs needs them on the same opset.
OPSET = 17

Feeds = dict[str, np.ndarray]
Reference = Callable[[Feeds], list[np.ndarray]]


@dataclass
class SourceModel:
    """An fp32 ONNX graph named as the recipe says, and the source framework's own runner."""

    model: onnx.ModelProto
    reference: Reference
    framework: str
    files: list[Path]
    assets: dict[str, Path] = field(default_factory=dict)
    # A composed model's first part, when it is another catalog model (compose.Backbone): the
    # pipeline then also writes the head alone and verifies backbone file + head (convert/backbone.py).
    backbone: Any = None


def rename_io(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    """Rename graph inputs and outputs, by position, to the recipe's names."""
    graph = model.graph
    graph_inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(graph_inputs) != len(inputs) or len(graph.output) != len(outputs):
        raise ConversionError(
            f"the converted graph has {len(graph_inputs)} inputs and {len(graph.output)} outputs "
            f"({[i.name for i in graph_inputs]} -> {[o.name for o in graph.output]}); the recipe lists "
            f"{len(inputs)} and {len(outputs)}: fix [[inputs]] / [[outputs]]."
        )
    mapping = {old.name: new for old, new in zip(graph_inputs, inputs)}
    mapping.update({old.name: new for old, new in zip(graph.output, outputs)})
    for value in list(graph_inputs) + list(graph.output):
        value.name = mapping[value.name]
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for value in graph.value_info:
        value.name = mapping.get(value.name, value.name)
    return model


def quiet_tensorflow() -> None:
    """TensorFlow prints pages of start-up noise; the progress display is what matters."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def load_source(recipe: Recipe, extra_training: Sequence[tuple[str, str]] = ()) -> SourceModel:
    """Convert the recipe's source to ONNX and return it with its reference runner.

    ``extra_training`` (text, label) pairs reach a composed model's trainer (``browserml retrain``).
    """
    fmt = recipe.source["format"]
    if extra_training and (fmt != "compose" or not recipe.retrain):
        raise ConversionError(f"{recipe.path.name}: extra training examples need a retrainable recipe "
                              "(source.format = \"compose\" and a [retrain] table)")
    if fmt == "tflite":
        from convert.sources import tflite

        return tflite.load(recipe)
    if fmt == "keras":
        from convert.sources import keras

        return keras.load(recipe)
    if fmt == "pytorch":
        from convert.sources import pytorch

        return pytorch.load(recipe)
    if fmt == "sklearn":
        from convert.sources import sklearn

        return sklearn.load(recipe)
    if fmt == "onnx":
        from convert.sources import onnx_passthrough

        return onnx_passthrough.load(recipe)
    from convert.sources import compose

    return compose.load(recipe, extra_training)


def resolve_callable(spec: str, where: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` named by a recipe field."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConversionError(
            f"{where} is {spec!r}, which cannot be imported ({err}); use 'module:function'."
        ) from None
