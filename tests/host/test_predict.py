"""The task API over real HTTP equals contract.tasks run directly on the same input."""

from __future__ import annotations

import base64
import io

import numpy as np
import onnxruntime as ort
import pytest
import requests
from PIL import Image

from contract.native_runtime import session_options
from contract.tasks import task_module
from harness.catalog import face_crop

pytestmark = pytest.mark.catalog

SENTENCES = [
    "This movie was absolutely wonderful, I loved every minute of it.",
    "The service was slow and the food was cold. Never again.",
    "It's a phone.",
]
# The astronaut's face in skimage's astronaut photo (checked by eye at conversion).
ASTRONAUT_FACE = (177.3, 80.6, 94.6, 94.6)


def direct(app, name: str, sample, variant: str | None = None) -> dict:
    """What contract.tasks + ONNX Runtime give in-process, without the host."""
    model = app.extensions["browserml"].registry.resolve(name)
    file = variant or model.server_candidates[0]
    session = ort.InferenceSession(
        str(model.artifacts[file].path), session_options(), providers=["CPUExecutionProvider"]
    )
    task = task_module(model.task)
    feeds, context = task.prepare(sample, model.manifest, model.assets)
    outputs = session.run([o["name"] for o in model.manifest["outputs"]], feeds)
    return task.finish(outputs, context, model.manifest, model.assets)


def assert_same_result(got, want):
    """Equal structure and labels; floats equal to 1e-5 (threads may reorder sums)."""
    if isinstance(want, dict):
        assert set(want) <= set(got)
        for key in want:
            assert_same_result(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert_same_result(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-5)
    else:
        assert got == want


@pytest.mark.parametrize(
    ("name", "photo"),
    [("imagenet", "chelsea.png"), ("imagenet", "coffee.jpg"), ("face-detector", "astronaut.jpg"),
     ("face-detector", "rocket.jpg")],
)
def test_image_predict_over_http_equals_the_tasks(app, live_server, photos, name, photo):
    response = requests.post(
        f"{live_server.url}/api/v1/models/{name}/predict",
        files={"image": (photo, photos[photo])},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    want = direct(app, name, Image.open(io.BytesIO(photos[photo])))
    assert_same_result(body, want)
    assert body["model"] == name and body["backend"] == "server"
    assert body["version"] == app.extensions["browserml"].registry.resolve(name).version
    assert body["variant"] == app.extensions["browserml"].registry.resolve(name).server_candidates[0]
    assert body["latency_ms"] > 0


def test_imagenet_recognises_the_cat_and_the_face_detector_the_astronaut(live_server, photos):
    cat = requests.post(f"{live_server.url}/api/v1/models/imagenet/predict",
                        files={"image": ("c.png", photos["chelsea.png"])}, timeout=60).json()
    assert cat["labels"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    faces = requests.post(f"{live_server.url}/api/v1/models/face-detector/predict",
                          data=photos["astronaut.jpg"], headers={"Content-Type": "image/jpeg"}, timeout=60).json()
    assert len(faces["faces"]) == 1
    x, y, w, h = faces["faces"][0]["box"]
    tx, ty, tw, th = ASTRONAUT_FACE
    overlap = max(0, min(x + w, tx + tw) - max(x, tx)) * max(0, min(y + h, ty + th) - max(y, ty))
    assert overlap / (w * h + tw * th - overlap) > 0.9


def test_json_base64_and_data_url_images_give_the_same_answer(live_server, photos):
    url = f"{live_server.url}/api/v1/models/imagenet/predict"
    encoded = base64.b64encode(photos["coffee.jpg"]).decode()
    plain = requests.post(url, json={"image": encoded}, timeout=60).json()
    data_url = requests.post(url, json={"image": "data:image/jpeg;base64," + encoded}, timeout=60).json()
    multipart = requests.post(url, files={"image": ("c.jpg", photos["coffee.jpg"])}, timeout=60).json()
    assert plain["labels"] == data_url["labels"] == multipart["labels"]


def test_emotion_predict_on_a_face_crop(app, live_server, photos):
    face = face_crop(Image.open(io.BytesIO(photos["astronaut.jpg"])), list(ASTRONAUT_FACE))
    buf = io.BytesIO()
    face.save(buf, "PNG")
    body = requests.post(f"{live_server.url}/api/v1/models/emotion/predict",
                         files={"image": ("face.png", buf.getvalue())}, timeout=60).json()
    assert_same_result(body, direct(app, "emotion", face))
    assert body["labels"][0]["label"] == "happy"  # she is smiling


@pytest.mark.parametrize("name", ["sentiment", "text-embedder"])
def test_text_predict_over_http_equals_the_tasks(app, live_server, name):
    url = f"{live_server.url}/api/v1/models/{name}/predict"
    one = requests.post(url, json={"text": SENTENCES[0]}, timeout=60).json()
    assert_same_result(one, direct(app, name, SENTENCES[0]))
    many = requests.post(url, json={"texts": SENTENCES}, timeout=60).json()
    assert_same_result(many, direct(app, name, SENTENCES))
    assert many["model"] == name and many["backend"] == "server"


def test_sentiment_reads_the_sentiment(live_server):
    body = requests.post(f"{live_server.url}/api/v1/models/sentiment/predict",
                         json={"texts": SENTENCES[:2]}, timeout=60).json()
    assert [r["labels"][0]["label"] for r in body["results"]] == ["positive", "negative"]
    assert all(r["fallback"] is None for r in body["results"])


def test_embeddings_put_paraphrases_closer_than_unrelated_sentences(live_server):
    texts = ["A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell today."]
    body = requests.post(f"{live_server.url}/api/v1/models/text-embedder/predict",
                         json={"texts": texts}, timeout=60).json()
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_a_variant_can_be_chosen_and_a_rejected_one_is_refused(app, client, photos, tmp_path):
    model = app.extensions["browserml"].registry.resolve("face-detector")
    other = model.server_candidates[-1]  # a variant the server would not pick by itself
    chosen = client.post(f"/api/v1/models/face-detector/predict?variant={other}",
                         data={"image": (io.BytesIO(photos["astronaut.jpg"]), "a.jpg")})
    assert chosen.status_code == 200 and chosen.json["variant"] == other
    # A variant rejected on the server (whatever this CPU's verdicts are: the manifest is edited).
    import json
    import shutil

    from app import create_app

    target = tmp_path / "face-detector" / str(model.version)
    shutil.copytree(model.directory, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["variants"][0]["gates"]["server"] = {
        "passed": False, "reasons": ["box_iou_min 0.5 is under the floor 0.9"]
    }
    (target / "manifest.json").write_text(json.dumps(manifest))
    edited = create_app({"MODELS_DIR": str(tmp_path), "TESTING": True}).test_client()
    file = manifest["variants"][0]["file"]
    rejected = edited.post(f"/api/v1/models/face-detector/predict?variant={file}",
                           data={"image": (io.BytesIO(photos["astronaut.jpg"]), "a.jpg")})
    assert rejected.status_code == 422
    assert "did not pass its gates on the server (server: box_iou_min 0.5" in rejected.json["error"]
    assert edited.post("/api/v1/models/face-detector/predict?variant=nope.onnx",
                       data={"image": (io.BytesIO(photos["astronaut.jpg"]), "a.jpg")}).status_code == 404


def test_face_emotion_pipeline_chains_detector_and_classifier(app, live_server, photos):
    body = requests.post(f"{live_server.url}/api/v1/pipelines/face-emotion/predict",
                         files={"image": ("a.jpg", photos["astronaut.jpg"])}, timeout=60).json()
    image = Image.open(io.BytesIO(photos["astronaut.jpg"]))
    faces = direct(app, "face-detector", image)["faces"]
    assert len(body["faces"]) == len(faces) == 1
    for got, face in zip(body["faces"], faces):
        assert_same_result({k: v for k, v in got.items() if k != "emotion"}, face)
        crop = face_crop(image, face["box"])
        assert_same_result(got["emotion"], direct(app, "emotion", crop))
    assert body["faces"][0]["emotion"]["labels"][0]["label"] == "happy"
    assert body["models"]["detector"]["model"] == "face-detector"
    none = requests.post(f"{live_server.url}/api/v1/pipelines/face-emotion/predict",
                         files={"image": ("r.jpg", photos["rocket.jpg"])}, timeout=60).json()
    assert none["faces"] == []


def test_concurrent_requests_share_one_session_safely(app, live_server, photos):
    from concurrent.futures import ThreadPoolExecutor

    url = f"{live_server.url}/api/v1/models/imagenet/predict"

    def call(_):
        return requests.post(url, files={"image": ("c.png", photos["chelsea.png"])}, timeout=120).json()["labels"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(16)))
    assert all(a == answers[0] for a in answers)


def test_unsure_sentiment_falls_back_to_the_lexicon_and_says_so(app, live_server):
    body = requests.post(f"{live_server.url}/api/v1/models/sentiment/predict",
                         json={"texts": ["One funny popcorn flick.", SENTENCES[0]]}, timeout=60).json()
    unsure, confident = body["results"]
    assert unsure["uncertain"] is True and unsure["fallback"] == "lexicon"
    assert unsure["labels"][0]["label"] == "positive"  # the model alone said negative (0.57)
    assert confident["fallback"] is None and confident["uncertain"] is False
    assert_same_result(body, direct(app, "sentiment", ["One funny popcorn flick.", SENTENCES[0]]))


def test_the_host_tells_pages_its_limits_from_its_config():
    from app import create_app
    from harness.catalog import MODELS

    client = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "MAX_CONTENT_LENGTH": 5_000_000,
                         "MAX_TEXTS": 8}).test_client()
    limits = client.get("/api/v1/limits").json
    assert limits["max_upload_bytes"] == 5_000_000 and limits["max_texts"] == 8
    too_big = client.post("/api/v1/models/imagenet/predict", data=b"x" * 5_000_001,
                          headers={"Content-Type": "image/png"})
    assert too_big.status_code == 413
