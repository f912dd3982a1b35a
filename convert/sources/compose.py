"""Composition: two graphs into one. Today: a sentence embedder (a PyTorch recipe)
followed by a scikit-learn head trained on its embeddings, so the browser runs one
model and sees text in, probabilities out.

Recipe fields: ``source.embedder`` (the recipe whose model comes first) and
``source.trainer`` ("module:function" taking the embedder module and the tokenizer,
loaded with the recipe's ``preprocess.max_length``, returning a fitted classifier),
``source.head`` ("module:function" turning that classifier into an ONNX graph from
``embedding`` to ``probabilities``).

The head alone goes with it (``SourceModel.backbone``): a browser that already has the
embedder's variant file runs it and then the head, and downloads the backbone once
(convert/backbone.py verifies that split path and writes the manifest's ``backbone`` section).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import compose

from contract.tasks.tokenization import load_tokenizer, max_length
from convert.recipe import Recipe, load_recipe
from convert.sources import Feeds, SourceModel, rename_io, resolve_callable
from convert.sources import pytorch as torch_source


@dataclass
class Backbone:
    """The first part of a composed model, a catalog model of its own, and the head that follows it."""

    recipe: Recipe  # the backbone's recipe (``source.embedder``)
    model: onnx.ModelProto  # the backbone's fp32 graph, as its own recipe converts it
    output: str  # the backbone output the head takes
    head: onnx.ModelProto  # ``output`` in, the composed model's outputs out (the recipe's names)


def merge(first: onnx.ModelProto, second: onnx.ModelProto, link: tuple[str, str]) -> onnx.ModelProto:
    """Feed ``first``'s output ``link[0]`` into ``second``'s input ``link[1]``; keep second's outputs."""
    second = compose.add_prefix(second, prefix="head/")
    second.ir_version = first.ir_version
    merged = compose.merge_models(first, second, io_map=[(link[0], f"head/{link[1]}")],
                                  outputs=[o.name for o in second.graph.output])
    # One opset per domain (merge_models can list a domain twice, e.g. a quantised first graph's).
    versions: dict[str, int] = {}
    for opset in merged.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del merged.opset_import[:]
    merged.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in versions.items())
    return merged


def load(recipe: Recipe, extra_training: Sequence[tuple[str, str]] = ()) -> SourceModel:
    """The composed model; ``extra_training`` (text, label) pairs go to the trainer as ``extra``, weighted
    by the recipe's ``retrain.feedback_weight`` (``browserml retrain``)."""
    root = recipe.path.parents[2]
    embed_recipe = load_recipe(recipe.source["embedder"], root)
    module, weights = torch_source.build_module(embed_recipe)
    embedder = torch_source.load(embed_recipe)
    tokenizer = load_tokenizer(embedder.assets["tokenizer.json"], max_length(recipe.preprocess))
    trainer = resolve_callable(recipe.source["trainer"], f"{recipe.path.name}.source.trainer")
    to_onnx = resolve_callable(recipe.source["head"], f"{recipe.path.name}.source.head")
    extra = ({"extra": list(extra_training), "extra_weight": recipe.retrain.get("feedback_weight", 1.0)}
             if extra_training else {})
    head_model: Any = trainer(module, tokenizer, **extra)
    head = to_onnx(head_model)
    embedding_name = embed_recipe.outputs[0].name
    model = merge(embedder.model, head, (embedding_name, head.graph.input[0].name))
    model = rename_io(model, [t.name for t in recipe.inputs], [t.name for t in recipe.outputs])

    def reference(feeds: Feeds) -> list[np.ndarray]:
        embedding = embedder.reference(feeds)[0]
        return [np.asarray(head_model.predict_proba(embedding.astype(np.float64)), dtype=np.float32)]

    head_alone = rename_io(onnx.ModelProto.FromString(head.SerializeToString()), [embedding_name],
                           [t.name for t in recipe.outputs])
    return SourceModel(model, reference, "pytorch + scikit-learn", embedder.files, embedder.assets,
                       backbone=Backbone(embed_recipe, embedder.model, embedding_name, head_alone))
