"""Faults under a real ``browserml serve``: a gunicorn worker killed with SIGKILL mid-load, and a
model file corrupted on disk while it is served. Each test starts its own server (loopback only)
and bounds its load in time and count."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from harness.browser import catalog_samples
from harness.catalog import versions_copy
from harness.live_server import serve

THREADS, BEFORE_KILL, AFTER_KILL = 8, 4.0, 8.0


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No rate limit (one address sends everything), no result cache (every request runs the model),
    state in ``tmp_path``."""
    return {"BROWSERML_RATE_LIMIT_PREDICT": "null", "BROWSERML_CACHE_MB": "0",
            "BROWSERML_LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"),
            "BROWSERML_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}", **extra}


def _drain(process: Any, lines: list[str]) -> None:
    """Keep the server's output (for the failure message), so it never blocks on a full pipe."""
    for line in iter(process.stdout.readline, ""):
        lines.append(line)


def _workers(master: psutil.Process, count: int, gone: int | None = None, seconds: float = 30) -> set[int]:
    """The pids of gunicorn's live workers once there are ``count`` of them (``gone`` not among them)."""
    deadline = time.monotonic() + seconds
    pids: set[int] = set()
    while time.monotonic() < deadline:
        pids = set()
        for child in master.children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    pids.add(child.pid)
            except psutil.NoSuchProcess:
                continue
        if len(pids) == count and gone not in pids:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"gunicorn has not {count} live workers (without {gone}) after {seconds} s: {pids}")


def test_a_worker_killed_mid_load_loses_at_most_its_requests_in_flight_and_is_replaced(tmp_path):
    process, url = serve("--workers", "2", env=_env(tmp_path), seconds=120)
    lines: list[str] = []
    threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
    try:
        master = psutil.Process(process.pid)  # browserml serve exec()s gunicorn: the same pid
        workers = _workers(master, 2)
        done: list[tuple[int, float, float, Any]] = []  # (thread, started, ended, status code or exception)
        stop = threading.Event()

        def client(i: int) -> None:
            with requests.Session() as session:
                n = 0
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        outcome: Any = session.post(f"{url}/api/v1/models/sentiment/predict", timeout=60,
                                                    json={"text": f"client {i} request {n}: a fine day"}).status_code
                    except requests.RequestException as err:
                        outcome = err
                    done.append((i, started, time.monotonic(), outcome))
                    n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        # Load until both workers have answered for a while (their sessions loaded), then kill one.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(1 for d in done if d[3] == 200) < 40:
            time.sleep(0.1)
        time.sleep(BEFORE_KILL)
        victim = min(workers)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replacement = _workers(master, 2, gone=victim, seconds=AFTER_KILL + 20) - workers  # gunicorn forks a new one
        replaced_at = time.monotonic()
        time.sleep(max(0.0, AFTER_KILL - (replaced_at - killed_at)))
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

        assert len(replacement) == 1, (workers, replacement)
        statuses = {d[3] for d in done if not isinstance(d[3], Exception)}
        failures = [d for d in done if isinstance(d[3], Exception)]
        assert statuses == {200}, statuses  # never a 5xx from the surviving worker or the new one
        # Only requests the dead worker held can fail: at most one per client connection, all cut at the kill.
        assert len(failures) <= THREADS, [(d[0], repr(d[3])[:120]) for d in failures]
        cut = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)  # reset before or during the answer
        assert all(isinstance(d[3], cut) for d in failures), [repr(d[3]) for d in failures]
        assert all(d[1] <= killed_at + 0.5 for d in failures), [(d[1] - killed_at, d[3]) for d in failures]
        after = [d for d in done if d[1] > killed_at + 0.5]
        assert len(after) >= 20 and all(d[3] == 200 for d in after), len(after)
        assert {d[0] for d in after} == set(range(THREADS))  # every client kept going
        # New connections (which either worker may accept, the new one included) all succeed.
        for n in range(10):
            answer = requests.post(f"{url}/api/v1/models/sentiment/predict", json={"text": f"afterwards {n}"},
                                   timeout=60)
            assert answer.status_code == 200, answer.text
        print(f"\n{len(done)} requests, {len(failures)} failed at the kill of worker {victim}; "
              f"replaced by {replacement} in {replaced_at - killed_at:.1f} s; load average {os.getloadavg()}")
    finally:
        process.terminate()
        process.wait(30)


def _corrupt(path: Path) -> None:
    """Overwrite 4 KiB in the middle of ``path`` in place (same size, other bytes), as a bad disk or a
    stray write would. versions_copy hard-links the catalog's files: give this one its own inode first."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    with path.open("r+b") as handle:
        handle.seek(len(data) // 2)
        handle.write(b"\x7f" * 4096)


def _predict(url: str, photo: bytes, **params: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/models/emotion/predict", params=params, timeout=60,
                         files={"image": ("face.png", photo, "image/png")})


def test_a_model_file_corrupted_while_served_keeps_its_loaded_session_and_is_refused_at_the_next_load(tmp_path):
    models = versions_copy(tmp_path / "models", ["emotion"], 2)  # v1 and v2, the same files
    env = _env(tmp_path, BROWSERML_MODELS_DIR=json.dumps(str(models)))
    photo = catalog_samples()["emotion"].png
    assert photo is not None
    version = models / "emotion" / "2"

    process, url = serve("--models-dir", str(models), env=env)
    try:
        first = _predict(url, photo)
        assert first.status_code == 200, first.text
        assert first.json()["version"] == 2
        served = first.json()["variant"]
        other = next(v["file"] for v in json.loads((version / "manifest.json").read_text())["variants"]
                     if v["file"] != served and "server" in v["backends"])
        _corrupt(version / served)
        _corrupt(version / other)

        # The session loaded before the corruption keeps answering, with the same result.
        again = _predict(url, photo)
        assert again.status_code == 200, again.text
        assert {k: again.json()[k] for k in ("labels", "version", "variant")} == \
            {k: first.json()[k] for k in ("labels", "version", "variant")}
        # A variant of that version not loaded yet is refused before ONNX Runtime reads it: its sha256
        # no longer matches the manifest. The error names the file, and no path on the server.
        refused = _predict(url, photo, variant=other)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert f"{other} changed on disk since the host started" in error and "sha256" in error, error
        assert str(tmp_path) not in error, error
        # Nor do browsers get the changed bytes of a file they download (they would refuse them anyway).
        shipped = requests.get(f"{url}/models/emotion/2/{served}", timeout=30)
        assert shipped.status_code == 503 and "changed on disk" in shipped.json()["error"], shipped.text[:300]
        assert _predict(url, photo).status_code == 200  # the loaded one still answers
    finally:
        process.terminate()
        process.wait(30)

    # Restarted, the host checks every file's sha256 again: version 2 is skipped, saying why, and the
    # intact version 1 answers by default with the same result.
    process, url = serve("--models-dir", str(models), env=env)
    try:
        fallback = _predict(url, photo)
        assert fallback.status_code == 200, fallback.text
        assert fallback.json()["version"] == 1 and fallback.json()["labels"] == first.json()["labels"]
        pinned = _predict(url, photo, version="2")
        assert pinned.status_code == 503, pinned.text
        error = pinned.json()["error"]
        assert "emotion v2 is not served" in error and f"{served} has sha256" in error, error
        assert "the manifest says" in error and "convert" in error, error
    finally:
        process.terminate()
        process.wait(30)
    log = process.stdout.read() if process.stdout else ""
    assert f"skipping model emotion/2: {served} has sha256" in log, log[-2000:]  # and the operator is told
