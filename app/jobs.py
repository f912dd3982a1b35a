"""Async jobs: a predict request answered later, polled at ``GET /api/v1/jobs/<id>``.

A predict request with ``Prefer: respond-async`` (RFC 7240), or a text batch of more than
``ASYNC_OVER`` texts (off unless set), is validated as a sync one (bad input is 4xx at once),
then answered ``202`` with ``Location: /api/v1/jobs/<id>``. The version and variant are fixed
then, so the job runs exactly what the caller's arm got. Polling answers ``{id, status:
queued|running|done|failed, progress, result | error}``; ``result`` is the body the sync
request would have returned (its ``request_id`` is the submission's, for feedback).

Ids are 192 random bits, scoped to the caller that made them (the API key's name or the page
session; with auth off, anyone holding the id). An unknown id, another caller's, or one whose
result is older than ``JOB_TTL`` seconds gets the same 404: nothing confirms a job exists.

Where jobs run: a thread pool in the process that took the request (``JOB_THREADS``), their state in
a SQLite file every worker on the machine shares (``JOBS_DB``, default ``<models dir>/jobs.sqlite``: a
poll may reach another gunicorn worker; a job whose worker died reads failed), or, with ``REDIS_URL`` set,
RQ workers on any machine (``browserml worker``, ``cli/worker.py``): ``run_job`` builds a
``Registry`` and ``SessionPool`` from its own models directory and runs ``run_task``, the code
sync predict runs. Jobs travel as JSON (RQ's JSON serializer, never pickle): texts as they came,
images as their decoded pixels. Redis ids are the sha256 of the public id, so Redis and the
worker log never hold an id that reads a result. Redis down: 503 at submission; sync predict
does not need it. Drift, metrics and the feedback record of a job are written by the host
(when the thread finishes, or when a poll first sees an RQ job done), as for a sync answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, url_for
from flask.blueprints import BlueprintSetupState
from PIL import Image

from app.answers import Spec, answer, record
from app.auth import requires
from app.errors import ApiError
from app.inference import SessionPool, run_task
from app.registry import ModelVersion, Registry
from app.request_log import served
from lifecycle.sqlite import connect

log = logging.getLogger("browserml")

# Read with current_app.config.get (BROWSERML_ASYNC_OVER, BROWSERML_JOB_TTL, BROWSERML_JOB_THREADS).
JOB_DEFAULTS: dict[str, Any] = {
    "ASYNC_OVER": None,  # a text batch of more texts than this goes async on its own; None: only on request
    "JOB_TTL": 3600,  # seconds a finished job's result is kept, then 404
    "JOB_THREADS": 2,  # in-process runner threads (without REDIS_URL)
    "JOBS_DB": None,  # the in-process runners' SQLite file (without REDIS_URL); None: <MODELS_DIR>/jobs.sqlite
}
QUEUE = "browserml-predict"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
EXTENSION = "browserml_jobs"
GONE = ("no job with this id for this caller: it never existed, is another caller's, or its result "
        "expired ({ttl} s after it was done); send the predict request again.")
WORKER_FAILED = "the worker stopped while running this job; send the request again, or ask the operator."

bp = Blueprint("jobs", __name__, url_prefix="/api/v1")


@dataclass
class Status:
    """A job as its owner sees it."""

    owner: str | None
    status: str  # queued | running | done | failed
    result: dict[str, Any] | None = None
    error: str | None = None


def setting(key: str) -> Any:
    return current_app.config.get(key, JOB_DEFAULTS[key])


# --- The in-process runner --------------------------------------------------------------------

class JobTable:
    """The jobs of the in-process runners of every worker on this machine: one SQLite file (WAL),
    so that any gunicorn worker answers a poll for a job another one runs. Ids are stored as their
    sha256 (``redis_id``), results as JSON; rows done more than ``ttl`` seconds ago are deleted."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, owner TEXT, status TEXT NOT NULL, result TEXT, error TEXT,
        pid INTEGER NOT NULL, created REAL NOT NULL, done_at REAL);
    CREATE INDEX IF NOT EXISTS jobs_done ON jobs (done_at);
    """

    def __init__(self, path: Path, ttl: float) -> None:
        self.path, self.ttl = Path(path), ttl
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db().executescript(self.SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def add(self, job_id: str, owner: str | None) -> None:
        now = time.time()
        db = self._db()
        db.execute("DELETE FROM jobs WHERE done_at < ?", (now - self.ttl,))
        db.execute("INSERT INTO jobs (id, owner, status, pid, created) VALUES (?, ?, 'queued', ?, ?)",
                   (redis_id(job_id), owner, os.getpid(), now))

    def update(self, job_id: str, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        done = time.time() if status in ("done", "failed") else None
        self._db().execute("UPDATE jobs SET status = ?, result = ?, error = ?, done_at = ? WHERE id = ?",
                           (status, json.dumps(result) if result is not None else None, error, done,
                            redis_id(job_id)))

    def get(self, job_id: str) -> Status | None:
        row = self._db().execute("SELECT owner, status, result, error, pid, done_at FROM jobs WHERE id = ?",
                                 (redis_id(job_id),)).fetchone()
        if row is None or (row[5] is not None and time.time() - row[5] > self.ttl):
            return None
        owner, status, result, error, pid, _ = row
        if status in ("queued", "running") and not _alive(pid):  # its worker died (kill -9, OOM)
            self.update(job_id, "failed", error=WORKER_FAILED)
            status, error = "failed", WORKER_FAILED
        return Status(owner, status, json.loads(result) if result else None, error)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


class LocalJobs:
    """Jobs on a thread pool of this process, their state in the machine's ``JobTable``."""

    def __init__(self, app: Flask, threads: int, table: JobTable) -> None:
        self._app = app
        self._table = table
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="browserml-job")

    def submit(self, job_id: str, owner: str | None, model: ModelVersion, spec: Spec, sample: Any) -> None:
        self._table.add(job_id, owner)
        self._pool.submit(self._run, job_id, model, spec, sample)

    def _run(self, job_id: str, model: ModelVersion, spec: Spec, sample: Any) -> None:
        self._table.update(job_id, "running")
        with self._app.app_context():
            try:
                result, latency = run_task(self._app.extensions["browserml"].pool, model, spec.variant, sample)
                record(model, spec, sample, result, latency)
                self._table.update(job_id, "done", result=answer(spec, result, latency))
            except ApiError as err:
                self._table.update(job_id, "failed", error=err.message)
            except Exception:  # the traceback goes to the log (never the input); the caller gets a message
                log.exception("async job of %s v%s failed", spec.model, spec.version)
                self._table.update(job_id, "failed", error="internal error running this job; the server log "
                                                           "has the details.")

    def get(self, job_id: str) -> Status | None:
        return self._table.get(job_id)


# --- RQ over Redis ----------------------------------------------------------------------------

def redis_id(job_id: str) -> str:
    """The RQ job id of a public id: its sha256, so Redis and worker logs never hold a usable id."""
    return hashlib.sha256(job_id.encode("ascii")).hexdigest()


def encode_sample(sample: Any) -> dict[str, Any]:
    """A validated sample as JSON: texts as they are, an image as its decoded pixels."""
    if isinstance(sample, Image.Image):
        return {"image": {"mode": sample.mode, "size": list(sample.size),
                          "pixels": base64.b64encode(sample.tobytes()).decode("ascii")}}
    return {"texts": sample}


def decode_sample(payload: dict[str, Any]) -> Any:
    if "image" in payload:
        image = payload["image"]
        return Image.frombytes(image["mode"], tuple(image["size"]), base64.b64decode(image["pixels"]))
    return payload["texts"]


def _queue_down(err: Exception) -> ApiError:
    return ApiError(503, f"the job queue (Redis) cannot be reached ({type(err).__name__}); send the request "
                         "without 'Prefer: respond-async' (and at most ASYNC_OVER texts) to be answered now, "
                         "or try again later.", headers={"Retry-After": "30"})


class RqJobs:
    """Jobs on RQ workers (``browserml worker``) over Redis; RQ keeps results ``ttl`` seconds."""

    def __init__(self, app: Flask, url: str, ttl: int) -> None:
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self._app = app
        self._ttl = ttl
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        self.queue = Queue(QUEUE, connection=self.redis, serializer=JSONSerializer)

    def submit(self, job_id: str, owner: str | None, model: ModelVersion, spec: Spec, sample: Any) -> None:
        from redis.exceptions import RedisError

        try:
            self.queue.enqueue(run_job, kwargs={"model": spec.model, "version": spec.version, "variant": spec.variant,
                                                "sample": encode_sample(sample)},
                               job_id=redis_id(job_id), description=f"predict {spec.model} v{spec.version}",
                               result_ttl=self._ttl, failure_ttl=self._ttl, ttl=self._ttl,
                               meta={"owner": owner, "arm": spec.arm, "request_id": spec.request_id})
        except RedisError as err:
            raise _queue_down(err) from None

    def get(self, job_id: str) -> Status | None:
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus
        from rq.serializers import JSONSerializer

        try:
            job = Job.fetch(redis_id(job_id), connection=self.redis, serializer=JSONSerializer)
            state = job.get_status()
            owner = job.meta.get("owner")
            if state == JobStatus.FINISHED:
                value = job.return_value()
                if value is None:  # the result expired between the two reads
                    return None
                return self._finished(job, owner, value)
        except NoSuchJobError:
            return None
        except RedisError as err:
            raise _queue_down(err) from None
        if state in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return Status(owner, "failed", error=WORKER_FAILED)
        return Status(owner, "running" if state == JobStatus.STARTED else "queued")

    def _finished(self, job: Any, owner: str | None, value: dict[str, Any]) -> Status:
        if "error" in value:
            return Status(owner, "failed", error=str(value["error"]))
        kwargs = job.kwargs
        spec = Spec(kwargs["model"], kwargs["version"], job.meta["arm"], kwargs["variant"], job.meta["request_id"])
        # The first poll that sees it done records it, once across every host polling this Redis.
        if self.redis.set(f"browserml:job-recorded:{job.id}", 1, nx=True, ex=self._ttl):
            try:
                model = self._app.extensions["browserml"].registry.resolve(spec.model, spec.version)
                record(model, spec, decode_sample(kwargs["sample"]), value["result"], value["latency_ms"])
            except ApiError as err:  # the version left this host's models dir: the answer still stands
                log.warning("async job of %s v%s not recorded: %s", spec.model, spec.version, err.message)
        return Status(owner, "done", answer(spec, value["result"], value["latency_ms"]))


# --- The worker side (browserml worker) ----------------------------------------------------------

_worker: tuple[Registry, SessionPool] | None = None
_worker_lock = threading.Lock()


def worker_state(models_dir: Path | None = None) -> tuple[Registry, SessionPool]:
    """This worker process's registry and sessions (built once, from ``models_dir``, else
    ``BROWSERML_MODELS_DIR``, else ``models``)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            from app.config import setting
            from app.inference import parse_providers
            from app.remote import backends_from_env  # INFERENCE_URL: the worker's tensors run remotely too

            folder = models_dir or Path(str(setting("MODELS_DIR")))
            _worker = (Registry(Path(folder)), SessionPool(int(setting("ORT_THREADS")), remote=backends_from_env(),
                                                           providers=parse_providers(setting("ORT_PROVIDERS"))))
        return _worker


def run_job(model: str, version: int, variant: str, sample: dict[str, Any]) -> dict[str, Any]:
    """The RQ job: ``run_task`` on version ``version`` and ``variant`` of ``model``, as sync predict runs it.
    An error the client can act on is an answer (``{"error"}``); anything else fails the RQ job."""
    registry, pool = worker_state()
    try:
        try:
            found = registry.resolve(model, version)
        except ApiError:
            registry.reload()  # a version converted after this worker started
            found = registry.resolve(model, version)
        result, latency = run_task(pool, found, variant, decode_sample(sample))
    except ApiError as err:
        return {"error": err.message}
    return {"result": result, "latency_ms": latency}


def work(redis_url: str, models_dir: Path, burst: bool = False) -> None:
    """Run jobs from the queue until stopped (``burst``: until it is empty). One job at a time, in this
    process (RQ's SimpleWorker: the ONNX Runtime sessions stay loaded between jobs; run more workers for more)."""
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    worker_state(models_dir)
    connection = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    connection.ping()
    queue = Queue(QUEUE, connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=burst, logging_level="INFO")


# --- The routes --------------------------------------------------------------------------------

def runner() -> LocalJobs | RqJobs:
    return current_app.extensions[EXTENSION]


@bp.record_once
def _init(setup: BlueprintSetupState) -> None:
    app = cast(Flask, setup.app)  # the sansio App type of the setup state; a Flask app here
    ttl = int(app.config.get("JOB_TTL", JOB_DEFAULTS["JOB_TTL"]))
    url = app.config.get("REDIS_URL")
    if url:
        app.extensions[EXTENSION] = RqJobs(app, str(url), ttl)
        return
    path = app.config.get("JOBS_DB") or Path(app.config["MODELS_DIR"]) / "jobs.sqlite"
    app.extensions[EXTENSION] = LocalJobs(app, int(app.config.get("JOB_THREADS", JOB_DEFAULTS["JOB_THREADS"])),
                                          JobTable(Path(path), ttl))


def asked_async() -> bool:
    """Whether the request says ``Prefer: respond-async``."""
    prefer = ",".join(request.headers.getlist("Prefer"))
    return any(token.split(";")[0].strip().lower() == "respond-async" for token in prefer.split(","))


def wants_async(sample: Any) -> bool:
    """``Prefer: respond-async``, or a text batch over ``ASYNC_OVER``."""
    over = setting("ASYNC_OVER")
    return asked_async() or (over is not None and isinstance(sample, list) and len(sample) > int(over))


def owner() -> str | None:
    """Who a job belongs to: the key or page session (auth on); None (anyone holding the id) with auth off."""
    if current_app.config["AUTH"] != "keys":
        return None
    principal = g.principal
    return f"{principal.kind}:{principal.name}"


def submit(model: ModelVersion, arm: str, variant: str, sample: Any) -> Response:
    """Queue ``sample`` (already validated) for ``model`` and ``variant``: the 202 answer."""
    job_id = secrets.token_urlsafe(24)
    spec = Spec(model.name, model.version, arm, variant, g.request_id)
    runner().submit(job_id, owner(), model, spec, sample)
    served(model.name, model.version, variant)
    url = url_for("jobs.job", job_id=job_id)
    response = jsonify({"id": job_id, "status": "queued", "url": url})
    response.status_code = 202
    response.headers["Location"] = url
    response.headers["Retry-After"] = "1"
    if asked_async():
        response.headers["Preference-Applied"] = "respond-async"
    return response


@bp.get("/jobs/<job_id>")
@requires("predict")
def job(job_id: str) -> Response:
    found = runner().get(job_id) if JOB_ID.match(job_id) else None
    mine = owner()
    if found is None or (mine is not None and found.owner != mine):
        raise ApiError(404, GONE.format(ttl=setting("JOB_TTL")))
    body: dict[str, Any] = {"id": job_id, "status": found.status,
                            "progress": 1.0 if found.status in ("done", "failed") else 0.0}
    if found.status == "done":
        body["result"] = found.result
    elif found.status == "failed":
        body["error"] = found.error
    response = jsonify(body)
    if found.status in ("queued", "running"):
        response.headers["Retry-After"] = "1"
    return response
