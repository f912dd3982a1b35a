"""Pipelines answered in one request (``contract.pipelines``: the manifest and the crop).

``detect-then-classify`` (the catalog's ``face-emotion``): the detector finds boxes; each
box, widened by the pipeline's ``crop.margin`` and cropped from the source image, goes
to the classifier. The result is the detector's shape with the classifier's result on
every detection, under the pipeline's ``attach_as`` (``faces[i].emotion``).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from app.inference import SessionPool, run_task
from app.registry import ModelVersion
from contract.pipelines import crop_rect


def crop_box(image: Image.Image, box: list[float], margin: float) -> Image.Image:
    """The ``box`` = [x, y, w, h] (source pixels) widened by ``margin`` per side, clipped."""
    return image.crop(crop_rect(box, image.width, image.height, margin))


def detect_then_classify(
    pool: SessionPool, pipeline: dict[str, Any], detector: ModelVersion, classifier: ModelVersion,
    image: Image.Image,
) -> tuple[dict[str, Any], float]:
    """Detections with their classification attached, and the total latency in ms."""
    found, latency = run_task(pool, detector, pool.server_variant(detector), image)
    detections = []
    for detection in found["faces"]:
        crop = crop_box(image, detection["box"], float(pipeline["crop"]["margin"]))
        classified, spent = run_task(pool, classifier, pool.server_variant(classifier), crop)
        latency += spent
        detections.append({**detection, pipeline["attach_as"]: classified})
    return {"faces": detections}, latency
