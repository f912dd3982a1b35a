"""PyTorch sources: a module built by a factory the recipe names, exported with torch.onnx."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from convert.packages import package_dir, package_file
from convert.recipe import Recipe, TensorSpec
from convert.sources import OPSET, Feeds, SourceModel, resolve_callable

_TORCH_DTYPES = {"float32": "float32", "int64": "int64", "int32": "int32", "uint8": "uint8"}


def example_inputs(inputs: list[TensorSpec], dynamic_size: int = 2) -> tuple[Any, ...]:
    """Tensors of the recipe's shapes (dynamic dims set to ``dynamic_size``) for tracing."""
    import torch

    tensors = []
    for spec in inputs:
        shape = [d if isinstance(d, int) else dynamic_size for d in spec.shape]
        dtype = getattr(torch, _TORCH_DTYPES[spec.dtype])
        tensors.append(
            torch.ones(shape, dtype=dtype)
            if dtype != torch.float32
            else torch.rand(shape, generator=torch.Generator().manual_seed(0))
        )
    return tuple(tensors)


def torch_to_onnx(
    module: Any, inputs: list[TensorSpec], outputs: list[TensorSpec], opset: int = OPSET
) -> onnx.ModelProto:
    """Export ``module`` with the recipe's names; named dims become dynamic axes."""
    import torch

    dynamic_axes = {
        t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)} for t in [*inputs, *outputs]
    }
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module,
            example_inputs(inputs),
            # The ignore: torch annotates ``f`` as a path, but the TorchScript exporter writes to file objects too.
            buffer,  # type: ignore[arg-type]
            input_names=[t.name for t in inputs],
            output_names=[t.name for t in outputs],
            dynamic_axes={k: v for k, v in dynamic_axes.items() if v},
            opset_version=opset,
            dynamo=False,  # the TorchScript exporter gives plain, deterministic graphs
        )
    return onnx.load_from_string(buffer.getvalue())


def torch_reference(module: Any, input_names: list[str]) -> Any:
    import torch

    def run(feeds: Feeds) -> list[np.ndarray]:
        with torch.no_grad():
            result = module(*[torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names])
        results = result if isinstance(result, (list, tuple)) else [result]
        return [r.numpy() for r in results]

    return run


def build_module(recipe: Recipe) -> tuple[Any, Path]:
    """Build the recipe's network: ``source.network`` is called with the weights path."""
    src = recipe.source
    factory = resolve_callable(src["network"], f"{recipe.path.name}.source.network")
    if "file" in src:
        weights = package_file(src["package"], src["module"], src["file"])
    else:  # a folder (for example a transformers checkpoint)
        weights = package_dir(src["package"], src["module"]) / src.get("folder", "")
    module = factory(weights)
    module.eval()
    return module, weights


def load(recipe: Recipe) -> SourceModel:
    module, weights = build_module(recipe)
    model = torch_to_onnx(module, recipe.inputs, recipe.outputs)
    files = [weights] if weights.is_file() else sorted(p for p in weights.glob("*.safetensors"))
    assets = {}
    if "tokenizer" in recipe.source:  # shipped beside the variants for the browser and the server
        assets["tokenizer.json"] = package_file(
            recipe.source["package"], recipe.source["module"], recipe.source["tokenizer"]
        )
    return SourceModel(model, torch_reference(module, [t.name for t in recipe.inputs]), "pytorch", files, assets)
