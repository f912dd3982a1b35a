"""ONNX sources: the file is taken as is; ONNX Runtime on the untouched file is the reference."""

from __future__ import annotations

import numpy as np
import onnx

from convert.packages import package_file
from convert.recipe import Recipe
from convert.sources import Feeds, SourceModel, rename_io


def load(recipe: Recipe) -> SourceModel:
    import onnxruntime as ort

    src = recipe.source
    path = package_file(src["package"], src["module"], src["file"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    source_inputs = [i.name for i in session.get_inputs()]
    renamed = dict(zip([t.name for t in recipe.inputs], source_inputs))

    def reference(feeds: Feeds) -> list[np.ndarray]:
        return list(session.run(None, {renamed[k]: v for k, v in feeds.items()}))

    model = rename_io(onnx.load(str(path)), [t.name for t in recipe.inputs], [t.name for t in recipe.outputs])
    return SourceModel(model, reference, "onnxruntime (source file)", [path])
