"""Reference pre- and post-processing, one module per task.

Every task module exposes the same two pure functions, driven by a manifest
(the contract written by ``browserml convert``) and the version's loaded assets:

``prepare(sample, manifest, assets) -> (feeds, context)``
    turns a user input (a PIL image, or a string / list of strings) into the
    ONNX feeds ``{input_name: np.ndarray}`` plus whatever ``finish`` needs
    (for example the letterbox that maps boxes back to source pixels);
``finish(outputs, context, manifest, assets) -> dict``
    turns the ONNX outputs (a list, in the manifest's output order) into the
    task result shape (docs/architecture.md, "Task results").

``assets`` (``contract.tasks.assets``) carries the tokenizer and the lexicon, loaded
by whoever owns the version folder; the task functions do no I/O at all, so the
pipeline, the server and the golden tests share them. The browser's
``frontend/src/tasks/`` has the same modules with the same functions.
"""

from __future__ import annotations

from types import ModuleType

from contract.manifest import schema
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

# What each task takes, from the manifest schema (``x-task-inputs``): said there once, for
# Python and for the browser (frontend/scripts/manifest_types.mjs generates TASK_INPUTS).
TASK_INPUTS: dict[str, str] = dict(schema()["x-task-inputs"])
IMAGE_TASKS = frozenset(task for task, kind in TASK_INPUTS.items() if kind == "image")
TEXT_TASKS = frozenset(task for task, kind in TASK_INPUTS.items() if kind == "text")


def task_module(task: str) -> ModuleType:
    """Return the module implementing ``task``; raise ValueError naming the known tasks."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(TASKS))}") from None
