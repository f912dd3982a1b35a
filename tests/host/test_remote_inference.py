"""Remote inference (``INFERENCE_URL``, app/remote.py): the tensors run on a V2 server.

Triton cannot run here, so the remote is a second real browserml host (``browserml serve``
in a subprocess) whose ``/v2/models/<name>/versions/<v>/infer`` is a real V2 server;
tritonclient.http talks to it over loopback with binary tensors. The front host keeps
decoding, pre- and post-processing, auth, limits and metrics, and must answer as a host
that runs everything itself: the raw outputs within the self-check's tolerance of the
variant the response names (the manifest's server recommendation), the same labels.
A per-model mapping sends only that model away; an unreachable or silent remote is a
503 JSON naming the model, never the URL's credentials; a remote answering other numbers
than the references is refused by the self-check, as a local variant would be.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from app import create_app
from contract.tasks import task_module
from harness.catalog import MODELS, latest_version_dir, sabotage_self_check
from harness.live_server import LiveServer, free_port, serve

pytestmark = pytest.mark.catalog

SECRET = "s3cret-Pa55"
SENTENCES = ["This movie was absolutely wonderful, I loved every minute of it.",
             "The service was slow and the food was cold. Never again."]


def host(tmp: Path, **config):
    """A host over the converted catalog with its own lifecycle and feedback files, no result cache."""
    return create_app({"MODELS_DIR": str(config.pop("models", MODELS)), "TESTING": True,
                       "RATE_LIMIT_PREDICT": None, "CACHE_MB": 0,  # every predict runs the model
                       "LIFECYCLE_DB": str(tmp / "lifecycle.sqlite"),
                       "DATABASE_URL": f"sqlite:///{tmp / 'feedback.sqlite'}", **config})


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """``browserml serve`` in a subprocess: the V2 server (its URL)."""
    state = tmp_path_factory.mktemp("remote")
    process, url = serve(env={"BROWSERML_LIFECYCLE_DB": str(state / "lifecycle.sqlite"),
                              "BROWSERML_DATABASE_URL": f"sqlite:///{state / 'feedback.sqlite'}",
                              "BROWSERML_RATE_LIMIT_PREDICT": "null", "BROWSERML_LOG_LEVEL": "WARNING"})
    drain = threading.Thread(target=lambda: process.stdout.read(), daemon=True)  # a full pipe blocks it
    drain.start()
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def front(remote, tmp_path_factory):
    """A host whose every model's inference runs on ``remote`` (with credentials in the URL)."""
    url = remote.replace("http://", f"http://svc-browserml:{SECRET}@")
    server = LiveServer(host(tmp_path_factory.mktemp("front"), INFERENCE_URL=url))
    yield server
    server.close()


def predict(url: str, name: str, photo: bytes | None = None) -> requests.Response:
    if photo is not None:
        return requests.post(f"{url}/api/v1/models/{name}/predict", files={"image": ("p.jpg", photo)}, timeout=60)
    return requests.post(f"{url}/api/v1/models/{name}/predict", json={"texts": SENTENCES}, timeout=60)


def labels(result: dict) -> list:
    items = result.get("results", [result])
    return [[entry["label"] for entry in item["labels"]] for item in items]


def scores(result: dict) -> np.ndarray:
    items = result.get("results", [result])
    return np.array([[entry["score"] for entry in item["labels"]] for item in items])


def tolerance(model, variant: str) -> float:
    """The self-check's tolerance for ``variant``: its largest per-output atol in the manifest."""
    return max(model.manifest["self_check"]["variants"][variant]["atol"])


def test_predict_through_the_remote_answers_as_the_local_host(app, live_server, front, photos):
    local_pool, front_pool = app.extensions["browserml"].pool, front.app.extensions["browserml"].pool
    for name, photo in (("imagenet", photos["chelsea.png"]), ("sentiment", None)):
        here, there = predict(live_server.url, name, photo), predict(front.url, name, photo)
        assert there.status_code == 200, there.text
        mine, theirs = here.json(), there.json()
        model = app.extensions["browserml"].registry.resolve(name, theirs["version"])
        assert theirs["variant"] == mine["variant"] == model.manifest["recommended"]["server"]
        assert theirs["backend"] == "server" and labels(theirs) == labels(mine)
        atol = tolerance(model, theirs["variant"])
        assert np.max(np.abs(scores(theirs) - scores(mine))) <= atol + 1e-6  # scores are rounded to 6 places

        # The raw tensors the remote returns, against ONNX Runtime here, on the task's own inputs.
        task = task_module(model.task)
        sample = Image.open(io.BytesIO(photo)).convert("RGB") if photo else SENTENCES
        feeds, _ = task.prepare(sample, model.manifest, model.assets)
        names = [o["name"] for o in model.manifest["outputs"]]
        if name == "sentiment":
            assert {a.dtype for a in feeds.values()} == {np.dtype(np.int64)}  # ids and attention mask
        remote_out = front_pool.session(model, theirs["variant"]).run(names, feeds)
        local_out = local_pool.session(model, theirs["variant"]).run(names, feeds)
        worst = max(float(np.max(np.abs(r - loc))) for r, loc in zip(remote_out, local_out))
        print(f"\n{name} v{model.version} {theirs['variant']}: remote vs local max |diff| {worst:.3g}, "
              f"self-check tolerance {atol:.3g}")
        assert worst <= atol

        status = requests.get(f"{front.url}/api/v1/models/{name}", timeout=10).json()["server"]
        assert status["inference"] == "remote" and status["backend"].startswith("http://127.0.0.1:")
        assert status["variant"] == theirs["variant"] and "reproduced its 3 reference outputs" in status["self_check"]
        assert SECRET not in json.dumps(status) and "svc-browserml" not in json.dumps(status)
        assert requests.get(f"{live_server.url}/api/v1/models/{name}", timeout=10).json()["server"]["inference"] \
            == "local"

    other = next(v["file"] for v in model.manifest["variants"] if v["file"] != theirs["variant"])
    asked = requests.post(f"{front.url}/api/v1/models/sentiment/predict?variant={other}", json={"text": "fine"},
                          timeout=60)
    assert asked.status_code == 503 and f"serves {theirs['variant']}" in asked.json()["error"]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A host that runs every model itself, without the result cache (as ``front``)."""
    server = LiveServer(host(tmp_path_factory.mktemp("local")))
    yield server
    server.close()


def test_the_remote_adds_little_latency(local, front, photos):
    """Median of 30 imagenet predictions (whole HTTP request) and of 30 bare ``session.run``, local
    vs through the remote over loopback; every remote answer must carry the local labels and numbers."""
    photo = photos["coffee.jpg"]
    expected = labels(predict(local.url, "imagenet", photo).json())
    timings: dict[str, list[float]] = {"local": [], "remote": [], "local run": [], "remote run": []}
    # In blocks, not interleaved: ONNX Runtime's threads here spin a while after a local run, which
    # would slow the remote's process on this 2-core machine (a real front host runs no model).
    for where, url in (("remote", front.url), ("local", local.url)):
        for _ in range(30):
            started = time.perf_counter()
            answer = predict(url, "imagenet", photo)
            timings[where].append(1000 * (time.perf_counter() - started))
            assert answer.status_code == 200 and labels(answer.json()) == expected
    model = local.app.extensions["browserml"].registry.resolve("imagenet")
    variant = model.manifest["recommended"]["server"]
    feeds, _ = task_module(model.task).prepare(Image.open(io.BytesIO(photo)).convert("RGB"), model.manifest,
                                                model.assets)
    names = [o["name"] for o in model.manifest["outputs"]]
    sessions = {"local run": local.app.extensions["browserml"].pool.session(model, variant),
                "remote run": front.app.extensions["browserml"].pool.session(model, variant)}
    top = int(np.argmax(sessions["local run"].run(names, feeds)[0]))
    for where in ("remote run", "local run"):
        for _ in range(30):
            session = sessions[where]
            started = time.perf_counter()
            out = session.run(names, feeds)
            timings[where].append(1000 * (time.perf_counter() - started))
            assert out[0].shape == (1, 1000) and int(np.argmax(out[0])) == top
    median = {where: statistics.median(values) for where, values in timings.items()}
    print(f"\nimagenet, median of 30: predict local {median['local']:.1f} ms, remote {median['remote']:.1f} ms "
          f"({median['remote'] - median['local']:+.1f} ms); session.run local {median['local run']:.1f} ms, "
          f"remote {median['remote run']:.1f} ms ({median['remote run'] - median['local run']:+.1f} ms)")


def test_gunicorn_workers_share_the_remote_under_concurrent_requests(remote, live_server, photos, tmp_path):
    """``browserml serve --workers 2`` (gthread: 4 threads each, one tritonclient per thread) with
    ``BROWSERML_INFERENCE_URL``: 32 requests from 8 threads, images and texts, all answer as locally."""
    from concurrent.futures import ThreadPoolExecutor

    process, url = serve("--workers", "2", env={
        "BROWSERML_INFERENCE_URL": remote, "BROWSERML_CACHE_MB": "0", "BROWSERML_RATE_LIMIT_PREDICT": "null",
        "BROWSERML_LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"), "BROWSERML_LOG_LEVEL": "WARNING",
        "BROWSERML_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()
    try:
        asks = [("imagenet", photos["coffee.jpg"]), ("sentiment", None)]
        expected = [labels(predict(live_server.url, name, photo).json()) for name, photo in asks]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: predict(url, *asks[i % 2]), range(32)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
        assert all(labels(a.json()) == expected[i % 2] for i, a in enumerate(answers))
        status = requests.get(f"{url}/api/v1/models/sentiment", timeout=10).json()["server"]
        assert status["inference"] == "remote" and status["backend"] == remote
    finally:
        process.terminate()
        process.wait(timeout=30)


def remote_predictions(remote: str) -> dict[str, float]:
    """The remote's V2 inferences by model, from its /metrics."""
    counts: dict[str, float] = {}
    for line in requests.get(f"{remote}/metrics", timeout=10).text.splitlines():
        found = re.match(r'browserml_predictions_total\{.*model="([^"]+)".*\} ([0-9.e+]+)', line)
        if found:
            counts[found[1]] = counts.get(found[1], 0) + float(found[2])
    return counts


def test_a_model_mapping_sends_only_the_named_model_away(remote, photos, tmp_path):
    server = LiveServer(host(tmp_path, INFERENCE_URL={"imagenet": remote}))
    try:
        before = remote_predictions(remote)
        assert predict(server.url, "imagenet", photos["chelsea.png"]).status_code == 200
        assert predict(server.url, "sentiment").status_code == 200
        after = remote_predictions(remote)
        assert after.get("imagenet", 0) > before.get("imagenet", 0)
        assert after.get("sentiment", 0) == before.get("sentiment", 0)
        catalog = {m: requests.get(f"{server.url}/api/v1/models/{m}", timeout=10).json()["server"]
                   for m in ("imagenet", "sentiment")}
        assert catalog["imagenet"]["inference"] == "remote" and catalog["imagenet"]["backend"] == remote
        assert catalog["sentiment"]["inference"] == "local"
        assert "backend" not in catalog["sentiment"]
    finally:
        server.close()


def test_an_unreachable_remote_is_a_503_naming_the_model(photos, tmp_path):
    port = free_port()  # nothing listens there
    client = host(tmp_path, INFERENCE_URL=f"http://svc-browserml:{SECRET}@127.0.0.1:{port}").test_client()
    answer = client.post("/api/v1/models/imagenet/predict",
                         data={"image": (io.BytesIO(photos["chelsea.png"]), "c.png")})
    assert answer.status_code == 503 and answer.is_json
    error = answer.json["error"]
    assert "imagenet" in error and "inference backend" in error and "unreachable" in error, error
    assert SECRET not in error and "svc-browserml" not in error and str(port) not in error
    assert answer.headers["Retry-After"] == "5"
    # Not a self-check verdict: nothing is refused, the next request tries the remote again.
    status = client.get("/api/v1/models/imagenet").json["server"]
    assert status["refused"] == {} and status["inference"] == "remote" and SECRET not in json.dumps(status)
    assert client.post("/api/v1/models/sentiment/predict", json={"text": "fine"}).status_code == 503
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and "unreachable" in ready.json["error"] and SECRET not in ready.text


def test_a_silent_remote_times_out_after_inference_timeout(photos, tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = host(tmp_path, INFERENCE_URL=url, INFERENCE_TIMEOUT=1).test_client()
        started = time.monotonic()
        answer = client.post("/api/v1/models/sentiment/predict", json={"text": "fine"})
        assert answer.status_code == 503 and "no answer within 1 s" in answer.json["error"]
        assert "sentiment" in answer.json["error"] and time.monotonic() - started < 10


def test_a_remote_answering_other_numbers_is_refused_by_the_self_check(remote, tmp_path):
    """This host's emotion references no longer match what the remote (the real model) answers."""
    source = latest_version_dir("emotion")
    target = tmp_path / "models" / "emotion" / source.name
    shutil.copytree(source, target)
    served = json.loads((target / "manifest.json").read_text())["recommended"]["server"]
    sabotage_self_check(target, served)
    client = host(tmp_path, models=tmp_path / "models", INFERENCE_URL=remote).test_client()
    face = Image.new("RGB", (64, 64), (120, 100, 90))
    buf = io.BytesIO()
    face.save(buf, "PNG")
    answer = client.post("/api/v1/models/emotion/predict", data={"image": (io.BytesIO(buf.getvalue()), "f.png")})
    assert answer.status_code == 503, answer.json
    assert "failed its self-check on its remote inference backend" in answer.json["error"]
    assert "away from the reference" in answer.json["error"]
    status = client.get("/api/v1/models/emotion").json["server"]
    assert status["variant"] is None and "away from the reference" in status["refused"][served]


def test_a_remote_without_the_version_is_a_503_with_its_answer(remote, tmp_path):
    """This host has emotion v<n+50>, the remote has not: the remote's 404 comes back as a 503 naming
    the model, with the remote's own message, and is no self-check verdict."""
    source = latest_version_dir("emotion")
    version = int(source.name) + 50
    target = tmp_path / "models" / "emotion" / str(version)
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    (target / "manifest.json").write_text(json.dumps(manifest))
    client = host(tmp_path, models=tmp_path / "models", INFERENCE_URL=remote).test_client()
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 100, 90)).save(buf, "PNG")
    answer = client.post("/api/v1/models/emotion/predict", data={"image": (io.BytesIO(buf.getvalue()), "f.png")})
    assert answer.status_code == 503, answer.json
    error = answer.json["error"]
    assert f"the inference backend of emotion v{version} answered 404" in error and str(version) in error, error
    assert client.get("/api/v1/models/emotion").json["server"]["refused"] == {}
