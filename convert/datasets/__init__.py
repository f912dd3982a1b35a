"""Calibration and evaluation data, all from installed registry packages.

A recipe names a dataset and a split (``[data.calibration]``, ``[data.evaluation]``);
``load(name, split)`` returns its samples. Nothing is fetched from the web: images
come from scikit-image and scikit-learn, texts from the vaderSentiment source
archive on PyPI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convert.errors import ConversionError


@dataclass(frozen=True)
class Sample:
    """One input (a PIL image or a string) with what is known about it.

    ``group`` names a slice for per-slice metrics (for example the VADER domain
    or "faces" / "no-faces"); ``truth`` holds ground truth where there is one
    (a class label, a face box).
    """

    id: str
    input: Any
    group: str = ""
    truth: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[str], list[Sample]]


# Dataset name -> "module:function"; imported lazily, each loader pulls in its own packages.
DATASETS = {
    "photos": "convert.datasets.photos:photos",
    "face-photos": "convert.datasets.photos:face_photos",
    "lfw-faces": "convert.datasets.photos:lfw_faces",
    "vader-snippets": "convert.datasets.vader:samples",
}


def load(name: str, split: str) -> list[Sample]:
    """Samples of dataset ``name`` for ``split`` ("calibration" or "evaluation")."""
    import importlib

    if name not in DATASETS:
        raise ConversionError(f"data.*.dataset is {name!r}; allowed: {', '.join(sorted(DATASETS))}.")
    if split not in ("calibration", "evaluation"):
        raise ConversionError(f"split is {split!r}; allowed: calibration, evaluation.")
    module_name, _, function = DATASETS[name].partition(":")
    loader: Loader = getattr(importlib.import_module(module_name), function)
    samples = loader(split)
    if not samples:
        raise ConversionError(f"dataset {name!r} has no samples for split {split!r}.")
    return samples
