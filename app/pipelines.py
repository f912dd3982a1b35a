"""Chains of models answered in one request.

``face-emotion``: the face detector finds faces; each face, cropped from the
source image with a margin, goes to the emotion classifier. The result is the
face-detection shape with an ``emotion`` (the image-classification shape) on
every face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from app.inference import SessionPool, run_task
from app.registry import ModelVersion


@dataclass(frozen=True)
class FaceEmotion:
    """Which models the chain uses and how faces are cropped for the classifier."""

    detector: str = "face-detector"
    classifier: str = "emotion"
    # BlazeFace boxes are tight (brows to chin); the emotion model was trained
    # on crops that include a little forehead and jaw, hence a margin.
    margin: float = 0.15


def crop_face(image: Image.Image, box: list[float], margin: float) -> Image.Image:
    """The face ``box`` = [x, y, w, h] (source pixels) widened by ``margin`` per side, clipped to the image."""
    x, y, w, h = box
    left = max(0, int(round(x - margin * w)))
    top = max(0, int(round(y - margin * h)))
    right = min(image.width, int(round(x + w + margin * w)))
    bottom = min(image.height, int(round(y + h + margin * h)))
    right, bottom = max(right, left + 1), max(bottom, top + 1)
    return image.crop((left, top, right, bottom))


def face_emotion(
    pool: SessionPool, detector: ModelVersion, classifier: ModelVersion, image: Image.Image,
    chain: FaceEmotion = FaceEmotion(),
) -> tuple[dict[str, Any], float]:
    """Faces with their emotion, and the total latency in ms."""
    found, latency = run_task(pool, detector, pool.server_variant(detector), image)
    faces = []
    for face in found["faces"]:
        crop = crop_face(image, face["box"], chain.margin)
        emotion, spent = run_task(pool, classifier, pool.server_variant(classifier), crop)
        latency += spent
        faces.append({**face, "emotion": emotion})
    return {"faces": faces}, latency
