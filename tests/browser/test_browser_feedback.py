"""The demo's feedback control in Chromium: what a user clicks ends up as a row in the host's
feedback database (real SQLite behind the live server).

- Text page, sentiment computed in the browser (WASM): "Wrong", pick the label, tick "also send
  this text", "Send" -> "Thanks"; the browser result was reported (source "browser") and its
  feedback row holds the text.
- Images page, in the browser and on the server: "Right" -> "Thanks"; the rows hold no image data.
- Faces page: each face's emotion has its own control.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from harness.browser import catalog_samples, js_result, upload_to_demo
from lifecycle.feedback import feedback, metadata, predictions

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
TEXT = "What a wonderful film"  # conftest checks that no input text reaches the log


def rows_of(site, request_id: str) -> tuple[dict | None, dict | None]:
    engine = site.app.extensions["browserml_feedback"].engine
    with engine.connect() as connection:
        prediction = connection.execute(select(predictions).where(predictions.c.request_id == request_id)).first()
        if prediction is None:
            return None, None
        given = connection.execute(select(feedback).where(feedback.c.prediction_id == prediction.id)).first()
    return prediction._asdict(), (given._asdict() if given else None)


def thanked(page, control: str) -> None:
    status = page.locator(f"{control} [data-feedback=status]")
    status.filter(has_text="Thanks").wait_for(timeout=30_000)


def test_wrong_sentiment_with_the_right_label_and_consent_stores_the_text(page, site):
    page.goto(f"{site.url}/?sw=off#/text")
    first = js_result(page, "[data-testid=text-result]")
    page.fill("[data-testid=text-input]", TEXT)
    page.wait_for_function(
        "(old) => { const r = document.querySelector('[data-testid=text-result]').dataset.result;"
        " return r && JSON.parse(r).request_id !== old; }", arg=first["request_id"], timeout=60_000)
    result = js_result(page, "[data-testid=text-result]")
    assert result["backend"] == "wasm", result  # computed in the browser: the host learns of it by telemetry
    predicted = result["labels"][0]["label"]
    actual = "negative" if predicted == "positive" else "positive"

    control = "[data-testid=text-result] [data-testid=feedback-sentiment]"
    consent = page.locator(f"{control} [data-feedback=consent]")
    assert not consent.is_checked()  # unchecked by default
    page.click(f"{control} [data-feedback=wrong]")
    page.select_option(f"{control} [data-feedback=label]", actual)
    consent.check()
    page.click(f"{control} [data-feedback=send]")
    thanked(page, control)

    prediction, given = rows_of(site, result["request_id"])
    assert prediction is not None and prediction["source"] == "browser"
    assert prediction["label"] == predicted and prediction["version"] == result["version"]
    assert given is not None
    assert given["correct"] is False and given["label"] == actual and given["true_label"] == actual
    assert given["text"] == TEXT


def test_sentiment_feedback_without_consent_sends_no_text(page, site):
    page.goto(f"{site.url}/?sw=off#/text")
    result = js_result(page, "[data-testid=text-result]")
    control = "[data-testid=text-result] [data-testid=feedback-sentiment]"
    page.click(f"{control} [data-feedback=right]")
    thanked(page, control)
    _, given = rows_of(site, result["request_id"])
    assert given is not None and given["correct"] is True and given["text"] is None


@pytest.mark.parametrize("backend, source", [("auto", "browser"), ("server", "server")])
def test_right_on_an_image_result_stores_a_row_without_image_data(page, site, tmp_path, backend, source):
    result = upload_to_demo(page, f"{site.url}/?sw=off&backend={backend}#/images", "images",
                            SAMPLES["imagenet"].png, tmp_path)
    assert (result["backend"] == "server") == (source == "server"), result
    control = "[data-testid=feedback-imagenet]"
    page.click(f"{control} [data-feedback=right]")
    thanked(page, control)
    assert page.locator(f"{control} [data-feedback=right]").is_disabled()  # one word per result

    prediction, given = rows_of(site, result["request_id"])
    assert prediction is not None and prediction["source"] == source
    assert prediction["label"] == result["labels"][0]["label"]
    assert given is not None and given["correct"] is True and given["text"] is None
    # No image data anywhere: every stored value of every table is short, and no PNG is in the file.
    engine = site.app.extensions["browserml_feedback"].engine
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                assert all(len(str(value)) <= 128 for value in row if value is not None), (table.name, row)
    database = Path(engine.url.database or "")
    for path in (database, database.with_name(database.name + "-wal")):
        assert not path.exists() or b"\x89PNG" not in path.read_bytes(), path


def test_each_face_has_its_own_emotion_feedback(page, site, tmp_path):
    found = upload_to_demo(page, f"{site.url}/?sw=off#/faces", "faces", SAMPLES["face-detector"].png, tmp_path)
    emotion = found["faces"][0]["emotion"]
    control = "[data-testid=faces-result] li >> nth=0 >> [data-testid=feedback-emotion]"
    page.click(f"{control} >> [data-feedback=wrong]")
    labels = page.locator(f"{control} >> [data-feedback=label] option").all_inner_texts()
    assert emotion["labels"][0]["label"] not in labels  # the predicted one is not offered as the right one
    actual = next(label for label in labels if label != "(not sure)")
    page.select_option(f"{control} >> [data-feedback=label]", actual)
    page.click(f"{control} >> [data-feedback=send]")
    page.locator(f"{control} >> [data-feedback=status]").filter(has_text="Thanks").wait_for(timeout=30_000)
    _, given = rows_of(site, emotion["request_id"])
    assert given is not None and given["label"] == actual and given["correct"] is False
