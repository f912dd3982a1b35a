"""Drift monitoring with real shifts: real predictions through the host, PSI in ``/metrics`` and
in ``browserml drift`` (a subprocess reading the same lifecycle store).

- darkened / flattened photos to imagenet and face-detector: brightness / contrast PSI over
  the alert threshold;
- the evaluation photos themselves (re-encoded losslessly) and a seeded sample of 600
  evaluation texts: every asserted feature under the warn threshold (600 texts: sampling
  alone gives about (bins - 1) / 600 = 0.015 on the 10-bin text length);
- only negative texts to sentiment: label PSI over the alert threshold;
- browser ``runs`` reports count into the label and uncertain features.

The app has its own lifecycle store (a temp SQLite file), so the other tests' predictions do
not count here; each test clears its model's counts first.
"""

from __future__ import annotations

import io
import json
import random
import subprocess

import pytest
from PIL import Image, ImageEnhance
from prometheus_client.parser import text_string_to_metric_families

from harness import live_server
from harness.catalog import MODELS, latest_manifest

pytestmark = pytest.mark.catalog


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return tmp_path_factory.mktemp("drift") / "lifecycle.sqlite"


@pytest.fixture(scope="module")
def dapp(db):
    from app import create_app

    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                       "RATE_LIMIT_TELEMETRY": None, "LIFECYCLE_DB": str(db),
                       "DATABASE_URL": f"sqlite:///{db.parent / 'feedback.sqlite'}"})


@pytest.fixture()
def dclient(dapp):
    return dapp.test_client()


def fresh(client, db, model: str) -> None:
    """Flush this process's pending counts (a scrape does), then clear the model's counts."""
    from lifecycle.store import open_store

    if "drift" not in latest_manifest(model):
        pytest.fail(f"{model}'s newest version has no drift reference; convert again: browserml convert --all")

    assert client.get("/metrics").status_code == 200
    open_store(MODELS, db).reset_counts(model)


def drift_psi(client, model: str) -> dict[str, tuple[float, float]]:
    """feature -> (PSI, live values) of the version that answers by default, from /metrics."""
    version = str(client.get(f"/api/v1/models/{model}").get_json()["version"])
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name in ("browserml_drift_psi", "browserml_drift_samples") and \
                    sample.labels["model"] == model and sample.labels["version"] == version:
                index = 0 if sample.name == "browserml_drift_psi" else 1
                out.setdefault(sample.labels["feature"], [0.0, 0.0])[index] = sample.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")  # lossless: the pixels the reference saw
    return buf.getvalue()


def predict_images(client, model: str, images: list[Image.Image]) -> None:
    for image in images:
        response = client.post(f"/api/v1/models/{model}/predict", data=png(image), content_type="image/png")
        assert response.status_code == 200, response.get_json()


def predict_texts(client, texts: list[str]) -> None:
    for i in range(0, len(texts), 64):
        response = client.post("/api/v1/models/sentiment/predict", json={"texts": texts[i:i + 64]})
        assert response.status_code == 200, response.get_json()


def evaluation_inputs(dataset: str) -> list:
    from convert import datasets

    return [s.input for s in datasets.load(dataset, "evaluation")]


def thresholds(model: str) -> tuple[float, float]:
    reference = latest_manifest(model)["drift"]
    return reference["psi_warn"], reference["psi_alert"]


def cli(db, *args: str) -> subprocess.CompletedProcess:
    return live_server.browserml("drift", *args, "--models-dir", str(MODELS), defaults=True,
                                 env={"BROWSERML_LIFECYCLE_DB": str(db)})


def dark(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(0.25)


def flat(image: Image.Image) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(0.15)


@pytest.mark.parametrize(("shift", "feature"), [(dark, "brightness"), (flat, "contrast")])
def test_shifted_photos_to_imagenet_raise_psi_over_alert(dclient, db, shift, feature):
    fresh(dclient, db, "imagenet")
    photos = evaluation_inputs("photos")  # 70 views of 10 photos
    predict_images(dclient, "imagenet", [shift(p) for p in photos])
    psi = drift_psi(dclient, "imagenet")
    warn, alert = thresholds("imagenet")
    assert psi[feature][1] == len(photos)
    assert psi[feature][0] >= alert, psi
    assert psi["image_pixels"][0] < warn, psi  # the size did not change


def test_reference_photos_to_imagenet_stay_under_warn(dclient, db):
    fresh(dclient, db, "imagenet")
    predict_images(dclient, "imagenet", evaluation_inputs("photos"))
    psi = drift_psi(dclient, "imagenet")
    warn, _ = thresholds("imagenet")
    for feature in ("image_pixels", "brightness", "contrast", "label", "confidence", "uncertain"):
        assert psi[feature][0] < warn, (feature, psi)


def test_dark_photos_to_the_face_detector_and_the_cli(dclient, db):
    fresh(dclient, db, "face-detector")
    photos = evaluation_inputs("face-photos")
    predict_images(dclient, "face-detector", photos)
    psi = drift_psi(dclient, "face-detector")
    warn, alert = thresholds("face-detector")
    assert psi["brightness"][0] < warn and psi["contrast"][0] < warn and psi["faces"][0] < warn, psi

    fresh(dclient, db, "face-detector")
    predict_images(dclient, "face-detector", [dark(p) for p in photos] * 3)
    psi = drift_psi(dclient, "face-detector")
    assert psi["brightness"][0] >= alert, psi

    version = latest_manifest("face-detector")["version"]
    done = cli(db, "face-detector")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"face-detector v{version}")
    row = next(line.split() for line in lines if line.split()[:1] == ["brightness"])
    assert row[1:3] == ["input", str(3 * len(photos))] and row[-1] == "alert"
    assert float(row[3]) == pytest.approx(psi["brightness"][0], abs=1e-4)

    report = json.loads(cli(db, "face-detector", "--json").stdout)
    rows = {r["feature"]: r for r in report[0]["features"]}
    assert report[0]["version"] == version and rows["brightness"]["verdict"] == "alert"

    assert cli(db, "face-detector", "--reset").returncode == 0
    assert "no live counts yet" in cli(db, "face-detector").stdout
    assert "brightness" not in drift_psi(dclient, "face-detector")

    unknown = cli(db, "nope")
    assert unknown.returncode == 2 and "no model 'nope'" in unknown.stderr and "face-detector" in unknown.stderr


def test_only_negative_texts_to_sentiment_raise_label_psi(dclient, db):
    from convert import datasets

    samples = datasets.load("vader-snippets", "evaluation")
    warn, alert = thresholds("sentiment")

    fresh(dclient, db, "sentiment")
    like = random.Random(7).sample([s.input for s in samples], 600)
    predict_texts(dclient, like)
    psi = drift_psi(dclient, "sentiment")
    for feature in ("text_chars", "unknown_share", "label", "confidence", "uncertain"):
        assert psi[feature][0] < warn, (feature, psi)

    fresh(dclient, db, "sentiment")
    negative = [s.input for s in samples if s.truth["label"] == "negative"][:300]
    predict_texts(dclient, negative)
    psi = drift_psi(dclient, "sentiment")
    assert psi["label"] == (pytest.approx(psi["label"][0]), 300)
    assert psi["label"][0] >= alert, psi
    done = cli(db, "sentiment")
    label = next(line.split() for line in done.stdout.splitlines() if line.split()[:1] == ["label"])
    assert label[1:3] == ["output", "300"] and label[-1] == "alert"


def test_browser_runs_count_into_label_and_uncertain(dclient, db):
    fresh(dclient, db, "sentiment")
    event = {"type": "runs", "model": "sentiment", "backend": "wasm", "variant": None,
             "latency_buckets": {"50": 40}, "uncertain": 4, "results": 40, "labels": {"negative": 40}}
    response = dclient.post("/api/v1/telemetry", json={"events": [event]})
    assert response.status_code == 202, response.get_json()
    psi = drift_psi(dclient, "sentiment")
    _, alert = thresholds("sentiment")
    assert psi["label"][1] == 40 and psi["label"][0] >= alert  # all negative: reference is 40 % negative
    assert psi["uncertain"][1] == 40
    assert "text_chars" not in psi  # browsers report no inputs


def test_browser_runs_count_for_the_version_they_name(tmp_path):
    """The runtime names the version it loaded: browser results of v1 drift-count for v1, not for
    the default version (v2 here); a version the host does not have is a 422."""
    from app import create_app
    from harness.catalog import versions_copy
    from lifecycle.store import open_store

    models = versions_copy(tmp_path / "models", ["sentiment"], 2)
    state = tmp_path / "lifecycle.sqlite"
    client = create_app({"MODELS_DIR": str(models), "TESTING": True, "RATE_LIMIT_TELEMETRY": None,
                         "LIFECYCLE_DB": str(state), "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite'}",
                         "JOBS_DB": str(tmp_path / "jobs.sqlite")}).test_client()
    event = {"type": "runs", "model": "sentiment", "version": 1, "backend": "wasm", "variant": None,
             "latency_buckets": {"50": 10}, "uncertain": 0, "results": 10, "labels": {"negative": 10}}
    assert client.post("/api/v1/telemetry", json={"events": [event]}).status_code == 202
    assert client.get("/metrics").status_code == 200  # flushes this process's counts to the store
    store = open_store(models, state)
    assert sum(store.counts("sentiment", 1)["label"].values()) == 10
    assert store.counts("sentiment", 2) == {}
    refused = client.post("/api/v1/telemetry", json={"events": [{**event, "version": 9}]})
    assert refused.status_code == 422 and "has no version 9" in refused.get_json()["error"]


def test_two_gunicorn_workers_add_up_in_metrics_and_the_cli(tmp_path):
    """``browserml serve --workers 2`` (gunicorn, PROMETHEUS_MULTIPROC_DIR): every worker's counts
    reach the shared store, so /metrics (whichever worker answers) and the CLI see them all."""
    import time

    import requests

    from harness.live_server import serve

    db = tmp_path / "lifecycle.sqlite"
    photos = [dark(p) for p in evaluation_inputs("face-photos")] * 3
    process, url = serve("--workers", "2", env={"BROWSERML_LIFECYCLE_DB": str(db),
                                                "BROWSERML_DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite'}",
                                                "BROWSERML_RATE_LIMIT_PREDICT": "1000/second"})
    try:
        for image in photos:
            response = requests.post(url + "/api/v1/models/face-detector/predict", data=png(image),
                                     headers={"Content-Type": "image/png"}, timeout=60)
            assert response.status_code == 200, response.text
        time.sleep(2.5)  # each worker flushes its counts about once a second
        version = str(latest_manifest("face-detector")["version"])
        for _ in range(4):  # several scrapes: either worker may answer, each reads the shared store
            families = text_string_to_metric_families(requests.get(url + "/metrics", timeout=10).text)
            samples = {s.labels["feature"]: s.value for f in families for s in f.samples
                       if s.name == "browserml_drift_samples" and s.labels["model"] == "face-detector"
                       and s.labels["version"] == version}
            assert samples["brightness"] == len(photos)
        rows = {r["feature"]: r for r in json.loads(cli(db, "face-detector", "--json").stdout)[0]["features"]}
        assert rows["brightness"]["n"] == len(photos) and rows["brightness"]["verdict"] == "alert"
    finally:
        process.terminate()
        process.wait(timeout=30)
