"""Reference pre- and post-processing, one module per task.

Every task module exposes the same two pure functions, driven by a manifest
(the contract written by ``browserml convert``):

``prepare(sample, manifest) -> (feeds, context)``
    turns a user input (a PIL image, or a string / list of strings) into the
    ONNX feeds ``{input_name: np.ndarray}`` plus whatever ``finish`` needs
    (for example the letterbox that maps boxes back to source pixels);
``finish(outputs, context, manifest) -> dict``
    turns the ONNX outputs (a list, in the manifest's output order) into the
    task result shape of DESIGN.md ("Task results").

They do no I/O besides reading files named by the manifest (the tokenizer),
so the pipeline, the server and the golden tests all share them.
"""

from __future__ import annotations

from types import ModuleType

from contract.tasks import (
    embeddings,
    face_detection,
    image_classification,
    text_classification,
)

TASKS: dict[str, ModuleType] = {
    "image-classification": image_classification,
    "face-detection": face_detection,
    "text-classification": text_classification,
    "embeddings": embeddings,
}

IMAGE_TASKS = frozenset({"image-classification", "face-detection"})
TEXT_TASKS = frozenset({"text-classification", "embeddings"})


def task_module(task: str) -> ModuleType:
    """Return the module implementing ``task``; raise ValueError naming the known tasks."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(TASKS))}") from None
