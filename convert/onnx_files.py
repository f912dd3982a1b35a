"""ONNX Runtime's tools read and write model files, not ModelProtos: a temporary place for them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx


@contextmanager
def model_files(model: onnx.ModelProto, *outputs: str) -> Iterator[tuple[str, ...]]:
    """Save ``model`` as ``in.onnx`` in a new temporary directory and yield file paths.

    Yields the path of ``in.onnx`` followed by one path per name in ``outputs``
    (same directory, not created), as strings, which is what the tools take.
    Load what the tool wrote inside the ``with`` block: the directory is deleted
    on leaving it.

        with model_files(model, "out.onnx") as (src, dst):
            tool(src, dst)
            result = onnx.load(dst)
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.onnx"
        onnx.save(model, src)
        yield (str(src), *(str(Path(tmp) / name) for name in outputs))
