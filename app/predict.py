"""The task API: ``POST /api/v1/models/<name>/predict`` and ``/api/v1/pipelines/<name>/predict``.

This is the fallback a browser uses when it cannot run a model itself, and a
plain server API for anyone else: it answers with the same task result shape
the browser runtime produces, plus where and how it was computed.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from app import cache, host_state
from app.answers import Spec, answer, record
from app.auth import requires
from app.errors import ApiError
from app.inference import run_task
from app.inputs import read_image, read_texts
from app.jobs import submit, wants_async
from app.lifecycle import choose, switched_off
from app.metrics import record_prediction
from app.pipelines import detect_then_classify
from app.registry import ModelVersion
from app.request_log import served, timing
from contract.tasks import IMAGE_TASKS
from contract.tasks.text_classification import lexicon_only
from contract.tasks.tokenization import as_texts, max_length

bp = Blueprint("predict", __name__, url_prefix="/api/v1")


@bp.post("/models/<name>/predict")
@requires("predict")
def predict(name: str) -> dict[str, Any] | tuple[dict[str, Any], dict[str, str]] | Response:
    state = host_state()
    model, arm = choose(state.registry, name, request.args.get("version"))
    if switched_off(name):
        return switched_off_answer(model, arm)
    variant = request.args.get("variant")
    if variant:
        model.variant(variant)  # 404 / 422 for an unknown variant or one rejected on the server
    else:
        variant = state.pool.server_variant(model)
    started = time.perf_counter()
    if model.task in IMAGE_TASKS:
        sample: Any = read_image(request, current_app.config)
    else:
        sample = read_texts(request, current_app.config, max_length(model.manifest["preprocess"]))
    timing("input", 1000 * (time.perf_counter() - started))
    if wants_async(sample):  # Prefer: respond-async, or a big batch: 202 and a job to poll (app/jobs.py)
        return submit(model, arm, variant, sample)
    cached = cache.lookup(current_app, request, model, variant, sample)  # X-Cache: hit, miss or bypass
    if cached.status is not None:
        timing("cache", cached.ms)  # hashing the input + the lookup
    if cached.result is not None:
        result, latency = cached.result, cached.ms
    else:
        result, latency = run_task(state.pool, model, variant, sample)
        cached.store(result)
        timing("infer", latency)
    served(model.name, model.version, variant)
    spec = Spec(model.name, model.version, arm, variant, g.request_id)
    record(model, spec, sample, result, None if cached.result is not None else latency)  # a hit is not timed
    return answer(spec, result, latency), cached.headers


def switched_off_answer(model: ModelVersion, arm: str) -> dict[str, Any]:
    """The kill switch is on: the model's non-ML fallback answers (sentiment: the lexicon), or 503."""
    lexicon = model.assets.lexicon
    if model.task != "text-classification" or lexicon is None:
        raise ApiError(503, f"{model.name} is switched off by the operator and has no non-ML fallback; "
                            f"it answers again after: browserml fallback {model.name} off.",
                       headers={"Retry-After": "60"})
    sample = read_texts(request, current_app.config, max_length(model.manifest["preprocess"]))
    texts, single = as_texts(sample)
    results = lexicon_only(texts, lexicon, model.manifest["postprocess"])
    served(model.name, model.version, None)
    return {**(results[0] if single else {"results": results}), "model": model.name, "version": model.version,
            "arm": arm, "variant": None, "backend": "server", "latency_ms": 0.0}


@bp.post("/pipelines/<name>/predict")
@requires("predict")
def predict_pipeline(name: str) -> dict[str, Any]:
    state = host_state()
    pipeline = state.registry.pipeline(name)
    (detector, _), (classifier, _) = choose(state.registry, pipeline["detector"]), choose(state.registry,
                                                                                           pipeline["classifier"])
    for part in (detector, classifier):
        if switched_off(part.name):
            raise ApiError(503, f"{part.name}, part of the {name} pipeline, is switched off by the operator; "
                                f"it answers again after: browserml fallback {part.name} off.",
                           headers={"Retry-After": "60"})
    image = read_image(request, current_app.config)
    result, latency = detect_then_classify(state.pool, pipeline, detector, classifier, image)
    detector_variant, classifier_variant = state.pool.server_variant(detector), state.pool.server_variant(classifier)
    served(detector.name, detector.version, detector_variant)
    record_prediction(detector.name, detector.version, detector_variant, latency / 1000, {"faces": result["faces"]})
    for face in result["faces"]:
        record_prediction(classifier.name, classifier.version, classifier_variant, 0.0, face[pipeline["attach_as"]])
    return {
        **result,
        "pipeline": pipeline["name"],
        "models": {
            "detector": {"model": detector.name, "version": detector.version, "variant": detector_variant},
            "classifier": {"model": classifier.name, "version": classifier.version, "variant": classifier_variant},
        },
        "backend": "server",
        "latency_ms": round(latency, 3),
    }


@bp.get("/limits")
def limits() -> dict[str, Any]:
    """What this host accepts (its config): pages check inputs against it before uploading."""
    config = current_app.config
    return {
        "max_upload_bytes": int(config["MAX_CONTENT_LENGTH"]),
        "max_image_pixels": int(config["MAX_IMAGE_PIXELS"]),
        "min_image_side": int(config["MIN_IMAGE_SIDE"]),
        "max_text_chars": int(config["MAX_TEXT_CHARS"]),
        "max_texts": int(config["MAX_TEXTS"]),
    }
