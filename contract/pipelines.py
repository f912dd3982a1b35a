"""Pipelines: chains of catalog models answered as one, described by a manifest of their own.

``models/catalog/pipelines/<name>.toml`` is the recipe; ``browserml convert`` validates it
against ``schemas/pipeline.schema.json`` and writes ``models/pipelines/<name>.json``,
which the host serves and runs and the browser runtime (``loadPipeline``) runs too.

``detect-then-classify``: every box the detector finds is widened by ``crop.margin``,
cropped from the source image and classified; the classification is stored on the
detection under ``attach_as``. ``crop_rect`` is the crop, shared by the host and held
to the browser's ``frontend/src/pipelines.ts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.manifest import check, read_checked

PIPELINES_DIR = "pipelines"  # under the models directory


def validate_pipeline(pipeline: dict[str, Any]) -> None:
    """Raise ManifestError naming the first field that breaks ``schemas/pipeline.schema.json``."""
    check(pipeline, "pipeline", "pipeline")


def load_pipeline(path: Path) -> dict[str, Any]:
    """Read and validate a pipeline manifest."""
    return read_checked(path, "pipeline", "pipeline")


def pipeline_paths(models_dir: Path) -> list[Path]:
    return sorted((Path(models_dir) / PIPELINES_DIR).glob("*.json"))


def crop_rect(box: list[float], width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """``[x, y, w, h]`` widened by ``margin`` per side, as an integer (left, top, right, bottom)
    clipped to the image, at least one pixel wide and high (Python's round: halves to even)."""
    x, y, w, h = box
    left = max(0, int(round(x - margin * w)))
    top = max(0, int(round(y - margin * h)))
    right = min(width, int(round(x + w + margin * w)))
    bottom = min(height, int(round(y + h + margin * h)))
    return left, top, max(right, left + 1), max(bottom, top + 1)
