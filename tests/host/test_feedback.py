"""Feedback on predictions (``POST /api/v1/feedback``) against a real SQLite database.

A server prediction is stored with its request id (no input), and feedback on it is
stored (the text only with consent, never echoed); every bad request is a 4xx JSON saying
what to do; browser results reported through telemetry take feedback too; the Alembic
migration builds the schema the code uses, is idempotent, and survives two processes
migrating one empty database at once, and 0002 (the index on predictions.created) upgrades a
database with rows; ``consented_examples`` returns what retraining may use; ``PREDICTION_DAYS``:
old predictions without feedback are purged in chunks by the recorder, at most once an hour.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, inspect, select, update

from app.answers import drain
from harness.catalog import MODELS, ROOT
from lifecycle.feedback import consented_examples, feedback, open_feedback_db, predictions

pytestmark = pytest.mark.catalog

URL = "/api/v1/feedback"
TEXT = "What a wonderful film"  # conftest checks that no input text reaches the log


@pytest.fixture()
def db(app):
    return app.extensions["browserml_feedback"]


def predict(client, name: str, **body) -> dict:
    if "text" in body or "texts" in body:
        response = client.post(f"/api/v1/models/{name}/predict", json=body)
    else:
        from harness.browser import catalog_samples

        png = catalog_samples()[name].png
        response = client.post(f"/api/v1/models/{name}/predict", data=png, content_type="image/png")
    assert response.status_code == 200, response.get_json()
    drain(client.application)  # the prediction is stored just after the answer (app/answers.py)
    return response.get_json()


def row_of(db, request_id: str) -> dict | None:
    with db.engine.connect() as connection:
        prediction = connection.execute(select(predictions).where(predictions.c.request_id == request_id)).first()
        if prediction is None:
            return None
        given = connection.execute(select(feedback).where(feedback.c.prediction_id == prediction.id)).first()
    return {"prediction": prediction._asdict(), "feedback": given._asdict() if given else None}


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def feedback_samples(client) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.labels["model"], s.labels["version"], s.labels["verdict"]): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == "browserml_feedback_total"}


# --- The 201 path ----------------------------------------------------------------------------

def test_a_server_prediction_is_stored_without_its_input_and_takes_feedback_with_consented_text(client, db):
    result = predict(client, "sentiment", text=TEXT)
    request_id = result["request_id"]
    stored = row_of(db, request_id)["prediction"]
    assert stored["model"] == "sentiment" and stored["version"] == result["version"]
    assert stored["variant"] == result["variant"] and stored["source"] == "server"
    assert stored["label"] == result["labels"][0]["label"]
    assert TEXT not in repr(stored)

    before = feedback_samples(client)
    wrong = "negative" if stored["label"] == "positive" else "positive"
    response = client.post(URL, json={"model": "sentiment", "version": result["version"], "request_id": request_id,
                                      "correct": False, "label": wrong, "text": TEXT, "consent": True})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["request_id"] == request_id and body["model"] == "sentiment" and body["correct"] is False
    assert body["label"] == wrong and isinstance(body["id"], int) and body["created"].endswith("Z")
    assert TEXT not in response.get_data(as_text=True)  # never echoed
    given = row_of(db, request_id)["feedback"]
    assert given["text"] == TEXT and given["correct"] is False and given["true_label"] == wrong
    after = feedback_samples(client)
    key = ("sentiment", str(result["version"]), "wrong")
    assert after.get(key, 0) - before.get(key, 0) == 1

    # A second word on the same result replaces the first (200), without the text this time.
    again = client.post(URL, json={"model": "sentiment", "version": result["version"], "request_id": request_id,
                                   "correct": True})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert row_of(db, request_id)["feedback"]["text"] is None


def test_the_predict_response_carries_its_request_id_as_the_header_does(client):
    response = client.post("/api/v1/models/sentiment/predict", json={"text": "A fine day"},
                           headers={"X-Request-ID": "client-chosen-id-1"})
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"] == "client-chosen-id-1"


def test_a_label_alone_says_whether_the_prediction_was_right(client, db):
    result = predict(client, "imagenet")
    top = result["labels"][0]["label"]
    response = client.post(URL, json={"model": "imagenet", "version": result["version"],
                                      "request_id": result["request_id"], "label": top})
    assert response.status_code == 201 and response.get_json()["correct"] is True
    given = row_of(db, result["request_id"])["feedback"]
    assert given["text"] is None and given["true_label"] == top


# --- What is refused ----------------------------------------------------------------------------

def test_an_unknown_request_id_is_404_json(client):
    error = error_of(client.post(URL, json={"model": "sentiment", "version": 1, "request_id": uuid.uuid4().hex,
                                            "correct": True}), 404)
    assert "no prediction with request id" in error


def test_a_request_id_of_another_model_or_version_is_422(client, tmp_path):
    result = predict(client, "sentiment", text="A fine day")
    error = error_of(client.post(URL, json={"model": "imagenet", "version": 1, "request_id": result["request_id"],
                                            "correct": True}), 422)
    assert "is a prediction of sentiment version" in error
    from app import create_app
    from harness.catalog import versions_copy

    two = create_app({"MODELS_DIR": str(versions_copy(tmp_path / "models", ["emotion"], 2)), "TESTING": True,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    client = two.test_client()  # emotion v1 and v2
    emotion = predict(client, "emotion")
    other = next(v for v in (1, 2) if v != emotion["version"])
    error = error_of(client.post(URL, json={"model": "emotion", "version": other,
                                            "request_id": emotion["request_id"], "correct": False}), 422)
    assert f"not of emotion version {other}" in error


def test_malformed_json_is_400_and_the_wrong_shape_422(client):
    error = error_of(client.post(URL, data=b'{"model": "sentiment",', content_type="application/json"), 400)
    assert "malformed JSON" in error
    assert "expected application/json" in error_of(client.post(URL, data=b"x", content_type="text/plain"), 415)
    assert "expected an object" in error_of(client.post(URL, json=[1]), 422)


@pytest.mark.parametrize("body, says", [
    ({"verdict": "right"}, "unknown field 'verdict'"),
    ({"correct": "yes"}, "'correct' must be true or false"),
    ({"correct": None}, "say what you think of the result"),  # neither correct nor label
    ({"label": "unicorn"}, "'unicorn' is not a label of sentiment version "),
    ({"correct": True, "label": "negative", "version": "1"}, "field 'version'"),
    ({"correct": True, "request_id": "not/an id"}, "field 'request_id'"),
    ({"correct": True, "text": TEXT}, "only with the user's consent"),
    ({"correct": True, "text": TEXT, "consent": False}, "only with the user's consent"),
    ({"correct": True, "consent": "yes"}, "'consent' must be true or false"),
    ({"correct": True, "text": "", "consent": True}, "non-empty text"),
])
def test_every_malformed_feedback_is_a_422_that_says_what_to_send(client, body, says):
    result = predict(client, "sentiment", text="A fine day")
    sent = {"model": "sentiment", "version": result["version"], "request_id": result["request_id"], **body}
    sent = {key: value for key, value in sent.items() if value is not None}  # None: the field left out
    error = error_of(client.post(URL, json=sent), 422)
    assert says in error
    assert TEXT not in error
    assert row_of(client.application.extensions["browserml_feedback"], result["request_id"])["feedback"] is None


def test_text_for_an_image_model_is_a_422_and_no_image_is_stored(client, db):
    result = predict(client, "imagenet")
    error = error_of(client.post(URL, json={"model": "imagenet", "version": result["version"],
                                            "request_id": result["request_id"], "correct": True,
                                            "text": TEXT, "consent": True}), 422)
    assert "imagenet is an image model" in error
    stored = row_of(db, result["request_id"])
    assert stored["feedback"] is None
    assert set(stored["prediction"]) == {"id", "request_id", "model", "version", "variant", "label", "source",
                                         "created"}


def test_a_label_on_a_model_without_labels_and_a_contradiction_are_422(client):
    faces = predict(client, "face-detector")
    error = error_of(client.post(URL, json={"model": "face-detector", "version": faces["version"],
                                            "request_id": faces["request_id"], "label": "face"}), 422)
    assert "face-detector has no labels" in error
    ok = client.post(URL, json={"model": "face-detector", "version": faces["version"],
                                "request_id": faces["request_id"], "correct": True})
    assert ok.status_code == 201
    result = predict(client, "sentiment", text="A fine day")
    top = result["labels"][0]["label"]
    error = error_of(client.post(URL, json={"model": "sentiment", "version": result["version"],
                                            "request_id": result["request_id"], "correct": False, "label": top}), 422)
    assert "send one of them, or both in agreement" in error


def test_with_auth_on_feedback_needs_the_predict_scope(tmp_path):
    from app import create_app

    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys",
                      "KEYS_FILE": str(tmp_path / "keys.json"), "SECRET_KEY": "test",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}",
                      "LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite")})
    response = app.test_client().post(URL, json={"model": "sentiment", "version": 1, "request_id": "abcdefgh",
                                                 "correct": True})
    assert response.status_code == 401 and "browserml keys create" in response.get_json()["error"]
    app.extensions["browserml_feedback"].dispose()


# --- Browser results, through telemetry ------------------------------------------------------------

def predictions_event(request_id: str, label: str | None, model: str = "sentiment", version: int = 1) -> dict:
    return {"type": "predictions", "model": model, "version": version, "variant": "model.int8.onnx",
            "predictions": [{"request_id": request_id, "label": label}]}


def test_a_browser_result_reported_by_telemetry_takes_feedback(client, db):
    request_id = str(uuid.uuid4())
    response = client.post("/api/v1/telemetry", json={"events": [predictions_event(request_id, "positive")]})
    assert response.status_code == 202, response.get_json()
    stored = row_of(db, request_id)["prediction"]
    assert stored["source"] == "browser" and stored["label"] == "positive" and stored["variant"] == "model.int8.onnx"
    # Sent again (a flush and the feedback call's own report): the first row stays, no error.
    again = client.post("/api/v1/telemetry", json={"events": [predictions_event(request_id, "negative")]})
    assert again.status_code == 202 and row_of(db, request_id)["prediction"]["label"] == "positive"
    response = client.post(URL, json={"model": "sentiment", "version": 1, "request_id": request_id,
                                      "correct": False})
    assert response.status_code == 201 and response.get_json()["source"] == "browser"
    assert row_of(db, request_id)["feedback"]["true_label"] == "negative"  # the other of two labels


@pytest.mark.parametrize("event, says", [
    (predictions_event(str(uuid.uuid4()), "unicorn"), "is not a label of sentiment version 1"),
    (predictions_event(str(uuid.uuid4()), "positive", version=9), "sentiment has no version 9"),
    (predictions_event("short", "positive"), "does not match"),
    ({**predictions_event(str(uuid.uuid4()), None), "predictions": []}, "should be non-empty"),
])
def test_bad_predictions_events_are_refused_and_nothing_is_stored(client, db, event, says):
    response = client.post("/api/v1/telemetry", json={"events": [event]})
    assert response.status_code == 422 and says in response.get_json()["error"], response.get_json()
    for item in event["predictions"]:
        assert row_of(db, item["request_id"]) is None


# --- The migration -------------------------------------------------------------------------------------

def test_the_migration_builds_the_schema_the_code_uses_and_is_idempotent(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from lifecycle.feedback import metadata

    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    db = open_feedback_db(url)
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert db.upgrade() == "0002"  # again: nothing to do
    db.record_prediction("r-1", "sentiment", 1, None, "positive", "server")
    assert db.upgrade() == "0002" and db.counts() == {"predictions": 1, "feedback": 0}
    db.dispose()


def test_two_processes_migrating_one_empty_database_at_once_both_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    command = [sys.executable, "-m", "cli", "db", "upgrade", "--database-url", url]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("at revision 0002" in out for out in outputs)
    engine = create_engine(url)
    assert {"predictions", "feedback", "alembic_version"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
    engine.dispose()


# --- What retraining reads -----------------------------------------------------------------------------

def test_consented_examples_are_the_consented_texts_with_their_labels_oldest_first(tmp_path):
    url = f"sqlite:///{tmp_path / 'examples.sqlite'}"
    db = open_feedback_db(url)
    rows = [("s-right", "sentiment", "positive"), ("s-wrong", "sentiment", "positive"),
            ("s-label", "sentiment", "negative"), ("s-nolabel", "sentiment", None),
            ("s-private", "sentiment", "positive"), ("e-right", "emotion", "happy")]
    db.record_predictions([{"request_id": r, "model": m, "version": 1, "variant": None, "label": label,
                            "source": "server"} for r, m, label in rows])
    given = [("s-right", True, None, "positive", "loved it"), ("s-wrong", False, None, "negative", "meh, no"),
             ("s-label", False, "positive", "positive", "great stuff"), ("s-nolabel", True, None, None, "a list"),
             ("s-private", True, None, "positive", None), ("e-right", True, None, "happy", "other model")]
    for request_id, correct, label, true_label, text in given:
        prediction = db.prediction(request_id)
        assert prediction is not None
        db.give_feedback(prediction, correct, label, true_label, text)
    assert consented_examples(url, "sentiment") == [("loved it", "positive"), ("meh, no", "negative"),
                                                    ("great stuff", "positive")]
    assert consented_examples(url, "sentiment", since=datetime.now(UTC) + timedelta(seconds=5)) == []
    assert consented_examples(url, "sentiment", since=datetime.now(UTC) - timedelta(minutes=5))[0] == (
        "loved it", "positive")
    db.dispose()


def test_a_database_at_0001_with_rows_upgrades_to_0002_keeping_them_and_downgrades_back(tmp_path):
    from alembic import command

    from lifecycle.feedback import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    db = open_feedback_db(url, migrate=False)
    with db.engine.begin() as connection:  # the schema as 0001 left it
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    db.record_prediction("r-1", "sentiment", 1, None, "positive", "server")
    db.give_feedback(db.prediction("r-1"), True, None, "positive", "kept text")
    assert "predictions_created" not in {index["name"] for index in inspect(db.engine).get_indexes("predictions")}
    assert db.upgrade() == "0002"
    assert db.counts() == {"predictions": 1, "feedback": 1}
    assert consented_examples(url, "sentiment") == [("kept text", "positive")]
    assert "predictions_created" in {index["name"] for index in inspect(db.engine).get_indexes("predictions")}
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "predictions_created" not in {index["name"] for index in inspect(db.engine).get_indexes("predictions")}
    assert db.counts() == {"predictions": 1, "feedback": 1}
    db.dispose()


# --- Retention (PREDICTION_DAYS) ------------------------------------------------------------------------

def backdate(db, request_ids: list[str], days: float) -> None:
    """Make predictions look ``days`` old, as the SQL a month of waiting would leave."""
    with db.engine.begin() as connection:
        connection.execute(update(predictions).where(predictions.c.request_id.in_(request_ids))
                           .values(created=datetime.now(UTC) - timedelta(days=days)))


def stored_ids(db) -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.execute(select(predictions.c.request_id)).scalars())


def test_old_predictions_without_feedback_are_purged_and_those_with_feedback_or_recent_are_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'purge.sqlite'}"
    db = open_feedback_db(url)
    ids = ["old-plain", "old-feedback", "new-plain", "new-feedback"]
    db.record_predictions([{"request_id": r, "model": "sentiment", "version": 1, "variant": None,
                            "label": "positive", "source": "server"} for r in ids])
    backdate(db, ["old-plain", "old-feedback"], days=40)
    for request_id in ("old-feedback", "new-feedback"):
        db.give_feedback(db.prediction(request_id), False, None, "negative", f"text of {request_id}")
    assert db.purge_predictions(datetime.now(UTC) - timedelta(days=30)) == 1
    assert stored_ids(db) == {"old-feedback", "new-plain", "new-feedback"}
    assert consented_examples(url, "sentiment") == [("text of old-feedback", "negative"),
                                                    ("text of new-feedback", "negative")]
    assert db.purge_predictions(datetime.now(UTC) - timedelta(days=30)) == 0  # again: nothing left to do
    db.dispose()


def test_the_purge_deletes_in_chunks_until_every_old_prediction_is_gone(tmp_path):
    db = open_feedback_db(f"sqlite:///{tmp_path / 'chunks.sqlite'}")
    ids = [f"r-{i:02d}" for i in range(27)]  # one batch: they all share one created time
    db.record_predictions([{"request_id": r, "model": "sentiment", "version": 1, "variant": None,
                            "label": None, "source": "server"} for r in ids])
    for request_id in ("r-03", "r-13"):  # kept in the middle of the chunks
        db.give_feedback(db.prediction(request_id), True, None, None, None)
    backdate(db, ids, days=2)
    assert list(db.purge_chunks(datetime.now(UTC) - timedelta(days=1), chunk=4)) == [4, 4, 4, 4, 4, 4, 1]
    assert stored_ids(db) == {"r-03", "r-13"} and db.counts() == {"predictions": 2, "feedback": 2}
    db.dispose()


def retention_app(tmp_path, **config):
    from app import create_app

    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                       "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}",
                       "LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"), "JOBS_DB": str(tmp_path / "jobs.sqlite"),
                       **config})


def test_the_recorder_purges_old_predictions_once_an_hour_and_feedback_on_them_is_404(tmp_path, monkeypatch):
    app = retention_app(tmp_path, PREDICTION_DAYS=30)
    client, db = app.test_client(), app.extensions["browserml_feedback"]
    db.record_predictions([{"request_id": r, "model": "sentiment", "version": 1, "variant": None,
                            "label": "positive", "source": "server"} for r in ("month-old", "kept", "week-old")])
    db.give_feedback(db.prediction("kept"), True, None, "positive", None)
    backdate(db, ["month-old", "kept"], days=31)
    backdate(db, ["week-old"], days=7)
    first = predict(client, "sentiment", text="A fine day")  # the first batch of a process purges
    assert stored_ids(db) == {"kept", "week-old", first["request_id"]}
    gone = {"model": "sentiment", "version": 1, "request_id": "month-old", "correct": True}
    error_of(client.post(URL, json=gone), 404)  # purged: as unknown as a request id never seen

    db.record_prediction("late", "sentiment", 1, None, "positive", "server")
    backdate(db, ["late"], days=31)
    second = predict(client, "sentiment", text="A fine day")  # within the hour: no purge
    assert {"late", second["request_id"]} <= stored_ids(db)
    monkeypatch.setattr("app.answers.PURGE_EVERY_SECONDS", 0.0)
    third = predict(client, "sentiment", text="A fine day")
    assert stored_ids(db) == {"kept", "week-old", first["request_id"], second["request_id"], third["request_id"]}
    db.dispose()


@pytest.mark.parametrize("days", [0, None])
def test_prediction_days_0_or_null_keeps_every_prediction(tmp_path, days):
    app = retention_app(tmp_path, PREDICTION_DAYS=days)
    client, db = app.test_client(), app.extensions["browserml_feedback"]
    db.record_prediction("years-old", "sentiment", 1, None, "positive", "server")
    backdate(db, ["years-old"], days=3000)
    result = predict(client, "sentiment", text="A fine day")
    assert stored_ids(db) == {"years-old", result["request_id"]}
    db.dispose()


def test_a_prediction_days_that_is_not_a_number_of_days_stops_start_up(tmp_path):
    with pytest.raises(ValueError, match="BROWSERML_PREDICTION_DAYS is 'a month'; give a number of days"):
        retention_app(tmp_path, PREDICTION_DAYS="a month")
