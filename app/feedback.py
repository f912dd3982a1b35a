"""User feedback on predictions: ``POST /api/v1/feedback``, and the predictions it refers to.

Every prediction the host answers (``app/predict.py``, the model predict route) is stored with
its request id (``flask.g.request_id``, also returned as ``request_id`` and ``X-Request-ID``),
and so is every result a browser computed, reported through telemetry (``app/telemetry.py``
calls ``record_browser_predictions``). No input is ever stored with a prediction.

A caller then says what it thinks of a result::

    {"model": "sentiment", "version": 1, "request_id": "...", "correct": false, "label": "positive",
     "text": "...", "consent": true}

- ``correct`` (true | false) and/or ``label`` (one of the model version's
  ``postprocess.labels``: what the input really is); at least one of them;
- ``text``: text models only, and only with ``consent: true`` (the user agreed to share it to
  improve the model); it is stored for retraining (``lifecycle.feedback.consented_examples``)
  and never echoed, logged or counted.

201 with the stored feedback (200 when it replaces an earlier feedback on the same
prediction). Unknown fields, a label the model does not have, text without consent or for
an image model: 422 saying what to send; an unknown request id (or one of a prediction without feedback
deleted after ``PREDICTION_DAYS``): 404; a request id of another
model or version: 422. With ``BROWSERML_AUTH=keys`` the route needs the predict scope (a key
or the page session), as predict does. Counted as ``browserml_feedback_total{model,version,verdict}``.

The database is ``BROWSERML_DATABASE_URL`` (default ``sqlite:///<models dir>/feedback.sqlite``),
migrated to the newest schema when the app starts (``lifecycle/feedback.py``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, current_app, g, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from app import host_state
from app.auth import requires
from app.errors import ApiError
from app.inputs import json_object
from app.request_log import REQUEST_ID
from contract.tasks import IMAGE_TASKS
from lifecycle.feedback import FeedbackDB, Prediction, default_database_url, open_feedback_db

log = logging.getLogger("browserml")

FIELDS = ("model", "version", "request_id", "correct", "label", "text", "consent")
WAIT_SECONDS = 1.0  # how long feedback looks for a prediction another worker may still be recording
HOWTO = ('send {"model", "version", "request_id", "correct": true|false} or {..., "label": "<the right label>"}; '
         'text models may add "text" with "consent": true')

FEEDBACK = Counter("browserml_feedback_total", "feedback on predictions by model, version and verdict (right|wrong)",
                   ["model", "version", "verdict"])

bp = Blueprint("feedback", __name__, url_prefix="/api/v1")


@bp.record_once
def _open_database(state: BlueprintSetupState) -> None:
    """Open the feedback database and migrate it (``alembic upgrade head``) when the app is built."""
    config, extensions = state.app.config, state.app.extensions
    url = config.get("DATABASE_URL") or default_database_url(config["MODELS_DIR"])
    extensions["browserml_feedback"] = open_feedback_db(str(url))


def feedback_db() -> FeedbackDB:
    return current_app.extensions["browserml_feedback"]


# --- Recording predictions ---------------------------------------------------------------------

def top_label(result: dict[str, Any]) -> str | None:
    """The top-1 label of a single classification result; None for anything else."""
    labels = result.get("labels")
    if isinstance(labels, list) and labels and isinstance(labels[0], dict):
        label = labels[0].get("label")
        return label if isinstance(label, str) else None
    return None


def may_give_feedback() -> bool:
    """Whether this caller may give feedback (auth off, or a key or page session with the predict scope)."""
    if current_app.config["AUTH"] != "keys":
        return True
    principal = getattr(g, "principal", None)
    return principal is not None and principal.allows("predict")


def record_browser_predictions(event: dict[str, Any]) -> None:
    """A telemetry ``predictions`` event (checked against the schema and the registry): its results
    stored as source "browser". With auth on, only for callers who may give feedback."""
    if not may_give_feedback():
        return
    rows = [{"request_id": item["request_id"], "model": event["model"], "version": event["version"],
             "variant": event["variant"], "label": item["label"], "source": "browser"}
            for item in event["predictions"]]
    try:
        feedback_db().record_predictions(rows)
    except SQLAlchemyError as err:
        log.warning("feedback: %d browser predictions of %s not recorded (%s)", len(rows), event["model"],
                    type(err).__name__)


# --- The route ------------------------------------------------------------------------------------

@bp.post("/feedback")
@requires("predict")
def give_feedback() -> tuple[dict[str, Any], int]:
    body = json_object(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0][:40]!r}; the fields are {', '.join(FIELDS)}: {HOWTO}.")
    name, version, request_id = _identity(body)
    correct, label = body.get("correct"), body.get("label")
    if correct is None and label is None:
        raise ApiError(422, f"say what you think of the result: {HOWTO}.")
    if correct is not None and not isinstance(correct, bool):
        raise ApiError(422, "field 'correct' must be true or false.")
    if label is not None and (not isinstance(label, str) or not label):
        raise ApiError(422, "field 'label' must be one of the model's labels (a string).")
    model = _model_version(name, version)
    text = _consented_text(body, model.task, name)

    prediction = _stored_prediction(request_id)
    if prediction is None:
        raise ApiError(404, f"no prediction with request id {request_id!r} here; use the request_id of a result "
                            "this host answered, or of a browser result once its telemetry is sent "
                            "(the library's feedback() does both).")
    if (prediction.model, prediction.version) != (name, version):
        raise ApiError(422, f"request id {request_id!r} is a prediction of {prediction.model} version "
                            f"{prediction.version}, not of {name} version {version}; send its own model and version.")

    labels: list[str] = list(model.manifest.get("postprocess", {}).get("labels") or [])
    if label is not None and label not in labels:
        if not labels:
            raise ApiError(422, f"{name} has no labels (task {model.task}); send correct: true or false instead.")
        shown = ", ".join(labels[:20]) + (f" (and {len(labels) - 20} more)" if len(labels) > 20 else "")
        raise ApiError(422, f"{label[:64]!r} is not a label of {name} version {version}; its labels: {shown}.")
    correct = _verdict(prediction, correct, label)
    stored, created = feedback_db().give_feedback(prediction, correct, label,
                                                  _true_label(prediction, correct, label, labels), text)
    if correct is not None:
        FEEDBACK.labels(name, str(version), "right" if correct else "wrong").inc()
    return stored, 201 if created else 200


def _stored_prediction(request_id: str) -> Any:
    """The prediction stored under ``request_id``. Predictions are recorded just after they are
    answered (``app/answers.py``): this process's queue is drained first, and an id not found yet
    is looked up again for up to ``WAIT_SECONDS`` (another gunicorn worker may be writing it)."""
    from app.answers import drain

    drain(current_app._get_current_object())  # type: ignore[attr-defined]
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        prediction = feedback_db().prediction(request_id)
        if prediction is not None or time.monotonic() > deadline:
            return prediction
        time.sleep(0.05)


def _identity(body: dict[str, Any]) -> tuple[str, int, str]:
    name, version, request_id = body.get("model"), body.get("version"), body.get("request_id")
    if not isinstance(name, str) or not name:
        raise ApiError(422, f"field 'model' (the model's name) is missing or not a string; {HOWTO}.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ApiError(422, "field 'version' (the model version of the result, an integer) is missing or not one.")
    if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
        raise ApiError(422, "field 'request_id' must be the result's request_id (1 to 64 letters, digits, "
                            "'.', '_' or '-').")
    return name, version, request_id


def _model_version(name: str, version: int) -> Any:
    """The registry's model version (422 if this host does not serve it: the body names it)."""
    registry = host_state().registry
    if name not in registry.names():
        raise ApiError(422, f"field 'model': unknown model {name[:64]!r}; this host serves: "
                            f"{', '.join(registry.names()) or 'none'}.")
    for model in registry.versions(name):
        if model.version == version:
            return model
    raise ApiError(422, f"field 'version': {name} has no version {version} here; versions: "
                        f"{', '.join(str(m.version) for m in registry.versions(name))}.")


def _consented_text(body: dict[str, Any], task: str, name: str) -> str | None:
    text, consent = body.get("text"), body.get("consent")
    if consent is not None and not isinstance(consent, bool):
        raise ApiError(422, "field 'consent' must be true or false.")
    if text is None:
        return None
    if task in IMAGE_TASKS:
        raise ApiError(422, f"{name} is an image model: feedback on it takes no text (and no image is ever "
                            "stored); leave 'text' out.")
    if consent is not True:
        raise ApiError(422, "'text' is stored only with the user's consent: send \"consent\": true with it "
                            "(after asking the user), or leave 'text' out.")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(422, "field 'text' must be the non-empty text that was classified.")
    limit = int(current_app.config["MAX_TEXT_CHARS"])
    if len(text) > limit:
        raise ApiError(422, f"field 'text' is {len(text):,} characters; the limit is {limit:,}.")
    return text


def _verdict(prediction: Prediction, correct: bool | None, label: str | None) -> bool | None:
    """Whether the prediction was right: as said, or from the label; 422 if the two disagree."""
    if label is None or prediction.label is None:
        return correct
    implied = label == prediction.label
    if correct is not None and correct != implied:
        said = "right" if correct else "wrong"
        raise ApiError(422, f"correct: {str(correct).lower()} says the prediction was {said}, but label "
                            f"{label[:64]!r} says {'it was' if implied else 'it was not'}: send one of them, "
                            "or both in agreement.")
    return implied


def _true_label(prediction: Prediction, correct: bool | None, label: str | None, labels: list[str]) -> str | None:
    """What the input really is, when that follows from the feedback (for retraining)."""
    if label is not None:
        return label
    if correct and prediction.label is not None:
        return prediction.label
    if correct is False and prediction.label in labels and len(labels) == 2:
        return next(other for other in labels if other != prediction.label)
    return None
