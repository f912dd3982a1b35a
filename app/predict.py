"""The task API: ``POST /api/v1/models/<name>/predict`` and the face-emotion chain.

This is the fallback a browser uses when it cannot run a model itself, and a
plain server API for anyone else: it answers with the same task result shape
the browser runtime produces, plus where and how it was computed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from app import host_state
from app.inference import run_task
from app.inputs import read_image, read_texts
from app.pipelines import FaceEmotion, face_emotion
from contract.tasks import IMAGE_TASKS
from contract.tasks.tokenization import max_length

bp = Blueprint("predict", __name__, url_prefix="/api/v1")


@bp.post("/models/<name>/predict")
def predict(name: str) -> dict[str, Any]:
    state = host_state()
    model = state.registry.resolve(name, request.args.get("version"))
    variant = request.args.get("variant")
    if variant:
        model.variant(variant)  # 404 / 422 for an unknown variant or one rejected on the server
    else:
        variant = state.pool.server_variant(model)
    if model.task in IMAGE_TASKS:
        sample: Any = read_image(request, current_app.config)
    else:
        sample = read_texts(request, current_app.config, max_length(model.manifest["preprocess"]))
    result, latency = run_task(state.pool, model, variant, sample)
    return {
        **result,
        "model": model.name,
        "version": model.version,
        "variant": variant,
        "backend": "server",
        "latency_ms": round(latency, 3),
    }


@bp.post("/pipelines/face-emotion/predict")
def predict_face_emotion() -> dict[str, Any]:
    state = host_state()
    chain = FaceEmotion()
    detector = state.registry.resolve(chain.detector)
    classifier = state.registry.resolve(chain.classifier)
    image = read_image(request, current_app.config)
    result, latency = face_emotion(state.pool, detector, classifier, image, chain)
    return {
        **result,
        "pipeline": "face-emotion",
        "models": {
            "detector": {"model": detector.name, "version": detector.version,
                         "variant": state.pool.server_variant(detector)},
            "classifier": {"model": classifier.name, "version": classifier.version,
                           "variant": state.pool.server_variant(classifier)},
        },
        "backend": "server",
        "latency_ms": round(latency, 3),
    }
