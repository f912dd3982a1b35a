"""Async jobs (app/jobs.py): ``Prefer: respond-async`` or a big text batch gets 202 and a job to poll,
whose result is what sync predict answers; ids are scoped to their caller and expire; bad input is
4xx at once; with REDIS_URL the jobs run on a real ``browserml worker`` subprocess over a real Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app import create_app
from app.drift import FLUSH_SECONDS
from app.keys import KeyStore
from harness.browser import SENTENCES
from harness.catalog import MODELS, ROOT
from harness.live_server import LiveServer, browserml, serve, start_redis

ASYNC = {"Prefer": "respond-async"}
VOLATILE = ("latency_ms", "request_id")  # differ between two runs of the same request


def host(tmp_path: Path, **config) -> LiveServer:
    """The host over real HTTP, its lifecycle and feedback state in ``tmp_path`` (never in models/)."""
    return LiveServer(create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                                  "LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"),
                                  "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}",
                                  "JOBS_DB": str(tmp_path / "jobs.sqlite"), **config}))


@pytest.fixture()
def server(tmp_path):
    live = host(tmp_path)
    yield live
    live.close()


def poll(url: str, headers: dict[str, str] | None = None, seconds: float = 60) -> dict:
    """GET the job until it is done or failed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert 0.0 <= body["progress"] <= 1.0
        if body["status"] in ("done", "failed"):
            return body
        assert body["status"] in ("queued", "running")
        time.sleep(0.05)
    raise AssertionError(f"{url} not done after {seconds} s")


def assert_done_then_gone(url: str, after: float) -> None:
    """The job at ``url`` finishes, and ``after`` seconds later (past its TTL) it is a 404."""
    assert poll(url)["status"] == "done"
    time.sleep(after)
    assert requests.get(url, timeout=10).status_code == 404


def submit(base: str, name: str, headers: dict[str, str] | None = None, **body) -> requests.Response:
    response = requests.post(f"{base}/api/v1/models/{name}/predict", headers={**ASYNC, **(headers or {})},
                             timeout=60, **body)
    assert response.status_code == 202, response.text
    return response


def stable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def test_respond_async_gets_202_and_a_job_whose_result_is_the_sync_answer(server):
    predict = f"{server.url}/api/v1/models/sentiment/predict"
    accepted = submit(server.url, "sentiment", json={"texts": SENTENCES})
    body = accepted.json()
    assert body["status"] == "queued" and len(body["id"]) >= 32
    assert accepted.headers["Location"] == body["url"] == f"/api/v1/jobs/{body['id']}"
    assert accepted.headers["Preference-Applied"] == "respond-async"
    done = poll(server.url + accepted.headers["Location"])
    assert done == {"id": body["id"], "status": "done", "progress": 1.0, "result": done["result"]}
    sync = requests.post(predict, json={"texts": SENTENCES}, timeout=60).json()
    assert stable(done["result"]) == stable(sync)
    assert len(done["result"]["results"]) == len(SENTENCES)
    # The result names the submission's request id (the one feedback refers to).
    assert done["result"]["request_id"] == accepted.headers["X-Request-ID"]


def test_an_image_job_carries_the_decoded_pixels_and_answers_as_sync(server, photos):
    files = {"image": ("coffee.jpg", photos["coffee.jpg"], "image/jpeg")}
    accepted = submit(server.url, "imagenet", files=files)
    done = poll(server.url + accepted.headers["Location"])
    assert done["status"] == "done", done
    sync = requests.post(f"{server.url}/api/v1/models/imagenet/predict", files=files, timeout=60).json()
    assert stable(done["result"]) == stable(sync)


def test_a_batch_over_async_over_goes_async_on_its_own(tmp_path):
    live = host(tmp_path, ASYNC_OVER=16)
    try:
        texts = [SENTENCES[i % len(SENTENCES)] for i in range(40)]
        predict = f"{live.url}/api/v1/models/sentiment/predict"
        accepted = requests.post(predict, json={"texts": texts}, timeout=60)
        assert accepted.status_code == 202, accepted.text
        assert "Preference-Applied" not in accepted.headers  # nobody asked; the size decided
        done = poll(live.url + accepted.headers["Location"])
        assert len(done["result"]["results"]) == 40
        assert requests.post(predict, json={"texts": texts[:16]}, timeout=60).status_code == 200  # at the limit
    finally:
        live.close()


def test_an_unknown_job_is_a_404_json(server):
    for job in ("A" * 32, "not-a-job", "x" * 200):
        response = requests.get(f"{server.url}/api/v1/jobs/{job}", timeout=10)
        assert response.status_code == 404
        assert "no job with this id" in response.json()["error"]


def test_bad_input_is_refused_before_any_job(server):
    predict = f"{server.url}/api/v1/models/sentiment/predict"
    cases = [({"json": {"texts": []}}, 422), ({"json": {"text": 5}}, 422), ({"json": {"texts": ["x"] * 65}}, 422),
             ({"data": "{", "headers": {"Content-Type": "application/json"}}, 400)]
    for body, status in cases:
        headers = {**ASYNC, **body.pop("headers", {})}
        response = requests.post(predict, headers=headers, timeout=10, **body)
        assert response.status_code == status, response.text
        assert "Location" not in response.headers and "error" in response.json()
    garbage = requests.post(f"{server.url}/api/v1/models/imagenet/predict", headers=ASYNC,
                            files={"image": ("x.jpg", b"not an image", "image/jpeg")}, timeout=10)
    assert garbage.status_code == 415 and "Location" not in garbage.headers
    assert requests.post(f"{server.url}/api/v1/models/nope/predict", headers=ASYNC, json={"text": "x"},
                         timeout=10).status_code == 404


def test_a_job_is_its_callers_alone(tmp_path, log_of_the_whole_run):
    keys_file = tmp_path / "keys.json"
    store = KeyStore(keys_file)
    alice, bob = store.create("alice", "predict"), store.create("bob", "predict")
    log_of_the_whole_run.keys.extend([alice, bob])
    live = host(tmp_path, AUTH="keys", KEYS_FILE=str(keys_file))
    try:
        accepted = submit(live.url, "sentiment", {"Authorization": f"Bearer {alice}"}, json={"text": SENTENCES[0]})
        url = live.url + accepted.headers["Location"]
        assert poll(url, {"Authorization": f"Bearer {alice}"})["status"] == "done"
        theirs = requests.get(url, headers={"Authorization": f"Bearer {bob}"}, timeout=10)
        unknown = requests.get(f"{live.url}/api/v1/jobs/{'B' * 32}", headers={"Authorization": f"Bearer {bob}"},
                               timeout=10)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()  # nothing tells bob that alice's job exists
        assert requests.get(url, timeout=10).status_code == 401
    finally:
        live.close()


def test_without_redis_every_gunicorn_worker_answers_for_every_job(tmp_path):
    """Two workers, no Redis: a job runs in the worker that took it, and a poll on a new connection
    (either worker) sees it queued, running, then done: the state is in a SQLite file they share."""
    env = {"BROWSERML_LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"),
           "BROWSERML_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}",
           "BROWSERML_JOBS_DB": str(tmp_path / "jobs.sqlite"), "BROWSERML_RATE_LIMIT_PREDICT": "null"}
    process, base = serve("--workers", "2", env=env, seconds=120)
    try:
        jobs = [submit(base, "sentiment", json={"text": text}).headers["Location"] for text in SENTENCES[:6]]
        sync = [requests.post(f"{base}/api/v1/models/sentiment/predict", json={"text": text}, timeout=60).json()
                for text in SENTENCES[:6]]
        assert len(jobs) >= 4
        for location, expected in zip(jobs, sync, strict=True):
            body = poll(base + location)  # a new connection per poll: gunicorn spreads them over both workers
            assert body["status"] == "done" and body["result"]["labels"] == expected["labels"]
            for _ in range(6):  # and again, wherever they land
                again = requests.get(base + location, timeout=10)
                assert again.status_code == 200 and again.json()["status"] == "done", again.text
    finally:
        process.terminate()
        process.wait(30)


def test_a_job_whose_worker_died_reads_failed(tmp_path):
    """A job's row names the process running it; if that process is gone (kill -9, OOM), a poll says
    the job failed and to send the request again, instead of "running" forever."""
    from app.jobs import WORKER_FAILED, JobTable

    table = JobTable(tmp_path / "jobs.sqlite", ttl=60)
    table.add("job-of-a-dead-worker-0001", None)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    import sqlite3

    with sqlite3.connect(tmp_path / "jobs.sqlite") as db:
        db.execute("UPDATE jobs SET pid = ?, status = 'running'", (gone.pid,))
    found = table.get("job-of-a-dead-worker-0001")
    assert found is not None and (found.status, found.error) == ("failed", WORKER_FAILED)
    table.add("job-of-this-worker-00001", None)  # this process is alive: still queued
    assert table.get("job-of-this-worker-00001").status == "queued"  # type: ignore[union-attr]


def test_a_result_expires_after_job_ttl(tmp_path):
    live = host(tmp_path, JOB_TTL=1)
    try:
        url = live.url + submit(live.url, "sentiment", json={"text": SENTENCES[1]}).headers["Location"]
        assert_done_then_gone(url, after=1.5)
    finally:
        live.close()


# --- RQ over Redis, with a real worker ------------------------------------------------------------

def start_worker(redis_url: str, log: Path) -> subprocess.Popen:
    cli = Path(sys.executable).with_name("browserml")
    with log.open("w") as out:
        return subprocess.Popen([str(cli), "worker", "--models-dir", str(MODELS), "--redis-url", redis_url],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def test_jobs_run_on_a_browserml_worker_over_redis(tmp_path, redis_url, photos):
    live = host(tmp_path, REDIS_URL=redis_url)
    expiring = host(tmp_path, REDIS_URL=redis_url, JOB_TTL=1)
    worker = start_worker(redis_url, tmp_path / "worker.log")
    try:
        text_job = submit(live.url, "sentiment", json={"texts": SENTENCES})
        files = {"image": ("coffee.jpg", photos["coffee.jpg"], "image/jpeg")}
        image_job = submit(live.url, "imagenet", files=files)
        for accepted, body in ((text_job, {"json": {"texts": SENTENCES}}), (image_job, {"files": files})):
            done = poll(live.url + accepted.headers["Location"])
            assert done["status"] == "done", done
            sync = requests.post(live.url + "/api/v1/models/" + done["result"]["model"] + "/predict", timeout=60,
                                 **body).json()
            assert stable(done["result"]) == stable(sync)
        # A job is fetched from Redis by any host; a job id this host never made is still a 404.
        assert requests.get(f"{live.url}/api/v1/jobs/{'C' * 32}", timeout=10).status_code == 404
        short = expiring.url + submit(expiring.url, "sentiment", json={"text": SENTENCES[2]}).headers["Location"]
        assert_done_then_gone(short, after=2.2)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        live.close()
        expiring.close()
    log = (tmp_path / "worker.log").read_text()
    assert log.count("Job OK") == 3, log  # the three jobs ran on the worker
    public_id = text_job.json()["id"]
    assert public_id not in log and not any(text in log for text in SENTENCES)


def test_redis_down_is_a_503_for_async_and_sync_still_answers(tmp_path):
    redis, url = start_redis(tmp_path)
    live = host(tmp_path, REDIS_URL=url)  # predict unlimited: the rate limiter's counters are in this Redis too
    try:
        redis.terminate()
        redis.wait(timeout=10)
        down = requests.post(f"{live.url}/api/v1/models/sentiment/predict", headers=ASYNC,
                             json={"text": SENTENCES[0]}, timeout=30)
        assert down.status_code == 503 and "Redis" in down.json()["error"], down.text
        sync = requests.post(f"{live.url}/api/v1/models/sentiment/predict", json={"text": SENTENCES[0]}, timeout=30)
        assert sync.status_code == 200, sync.text
        time.sleep(FLUSH_SECONDS + 0.5)  # the sync answer's drift flush finds Redis down: let it say so now
    finally:
        live.close()
        if redis.poll() is None:
            redis.kill()


def test_the_worker_needs_redis():
    result = browserml("worker", "--models-dir", str(MODELS), defaults=True)
    assert result.returncode == 2 and "--redis-url" in result.stderr
