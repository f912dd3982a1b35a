"""Aliases, canary splits, rollback and the kill switch (lifecycle/, app/lifecycle.py, cli/lifecycle.py).

Each test gets its own models directory with two versions of emotion and sentiment (copies of
the converted ones: harness.catalog.versions_copy), so version 2 is the newest and the default.
The CLI runs as a subprocess against the same directory, as an operator would run it beside a
running host; the host follows through the shared state file, without a restart.
"""

from __future__ import annotations

import io
import threading
import time
import uuid

import pytest
import requests

from app import create_app
from app.keys import KeyStore
from harness.catalog import versions_copy
from harness.live_server import LiveServer, browserml, serve
from lifecycle.assign import in_canary

pytestmark = pytest.mark.catalog
TEXT = {"text": "A fine day"}


@pytest.fixture()
def models(tmp_path):
    return versions_copy(tmp_path / "models", ["emotion", "sentiment"], 2)


@pytest.fixture()
def host(models, tmp_path):
    app = create_app({"MODELS_DIR": str(models), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    server = LiveServer(app)
    yield server
    server.close()


def png() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((96, 96)).save(buffer, "PNG")
    return buffer.getvalue()


def version_seen(url: str, name: str, client: str = "operator-check") -> int:
    response = requests.get(f"{url}/api/v1/models/{name}", headers={"X-Client-ID": client}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def wait_for(url: str, name: str, version: int, seconds: float = 1.0) -> float:
    """Seconds until the catalog names ``version`` (the contract: within 1 s)."""
    started = time.monotonic()
    while version_seen(url, name) != version:
        assert time.monotonic() - started < seconds, f"{name} not at v{version} after {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_cli_verbs_move_a_running_host_without_restart_and_are_audited(host, models):
    assert version_seen(host.url, "emotion") == 2  # no alias yet: the newest passing version
    where = ["--models-dir", str(models)]

    done = browserml("promote", "emotion", "1", *where)
    assert done.returncode == 0, done.stderr
    assert "stable v1 (pinned)" in done.stdout
    wait_for(host.url, "emotion", 1)
    predicted = requests.post(f"{host.url}/api/v1/models/emotion/predict", files={"image": ("a.png", png())},
                              timeout=60)
    assert predicted.json()["version"] == 1 and predicted.headers["X-Model-Version"] == "1"

    done = browserml("rollback", "emotion", *where)
    assert done.returncode == 0, done.stderr
    wait_for(host.url, "emotion", 2)

    status = browserml("status", "emotion", *where, "--json")
    import json

    report = json.loads(status.stdout)
    assert report["stable"] == 2 and report["previous"] is None
    actions = [(e["action"], e["from_version"], e["to_version"]) for e in report["audit"]]
    assert actions[:2] == [("rollback", 1, 2), ("promote", 2, 1)]  # newest first
    assert all("(cli)" in e["actor"] for e in report["audit"])
    again = browserml("rollback", "emotion", *where)
    assert again.returncode == 1 and "no previous stable version" in again.stderr


def test_a_canary_split_is_sticky_per_client_and_matches_the_documented_hash(host, models):
    where = ["--models-dir", str(models)]
    assert browserml("promote", "sentiment", "1", *where).returncode == 0
    done = browserml("canary", "sentiment", "2", "--percent", "30", *where)
    assert done.returncode == 0, done.stderr and "canary v2 at 30%" in done.stdout
    time.sleep(0.6)  # one FOLLOW_SECONDS period
    clients = [str(uuid.uuid4()) for _ in range(60)]
    for client in clients:
        expected = 2 if in_canary("sentiment", 2, 30.0, f"client:{client}") else 1
        first = requests.get(f"{host.url}/api/v1/models/sentiment", headers={"X-Client-ID": client}, timeout=30)
        assert first.json()["version"] == expected
        assert first.json()["lifecycle"]["arm"] == ("canary" if expected == 2 else "stable")
        answer = requests.post(f"{host.url}/api/v1/models/sentiment/predict", json=TEXT,
                               headers={"X-Client-ID": client}, timeout=60).json()
        assert (answer["version"], answer["arm"]) == (expected, first.json()["lifecycle"]["arm"])
    arms = {version_seen(host.url, "sentiment", c) for c in clients}
    assert arms == {1, 2}  # 60 clients at 30%: both arms occur (P(one arm only) < 1e-9)
    pinned = requests.get(f"{host.url}/api/v1/models/sentiment?version=1", timeout=30).json()
    assert pinned["lifecycle"]["arm"] == "pinned"
    bad = requests.get(f"{host.url}/api/v1/models/sentiment", headers={"X-Client-ID": "no spaces"}, timeout=30)
    assert bad.status_code == 400 and "X-Client-ID" in bad.json()["error"]


def test_the_admin_api_needs_the_admin_scope_and_names_the_key_in_the_audit(models, tmp_path):
    keys_file = tmp_path / "keys.json"
    store = KeyStore(keys_file)
    predict_key, admin_key = store.create("app-backend", "predict"), store.create("release-bot", "admin")
    app = create_app({"MODELS_DIR": str(models), "TESTING": True, "AUTH": "keys", "KEYS_FILE": str(keys_file),
                      "RATE_LIMIT_PREDICT": None, "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite'}"})
    server = LiveServer(app)
    try:
        route = f"{server.url}/api/v1/admin/models/emotion/promote"
        assert requests.post(route, json={"version": 1}, timeout=30).status_code == 401
        refused = requests.post(route, json={"version": 1}, headers={"Authorization": f"Bearer {predict_key}"},
                                timeout=30)
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
        admin = {"Authorization": f"Bearer {admin_key}"}
        done = requests.post(route, json={"version": 1}, headers=admin, timeout=30)
        assert done.status_code == 200 and done.json()["stable"] == 1
        status = requests.get(f"{server.url}/api/v1/admin/models/emotion", headers=admin, timeout=30).json()
        assert status["audit"][0]["actor"] == "release-bot"
        assert status["audit"][0]["from_version"] == 2 and status["audit"][0]["to_version"] == 1
        for body, code, words in (
            ({"version": 7}, 404, "no servable version 7"),
            ({"version": "1"}, 422, "integer"),
            ({"version": 1, "force": True}, 422, "unknown field"),
        ):
            answer = requests.post(route, json=body, headers=admin, timeout=30)
            assert answer.status_code == code and words in answer.json()["error"], answer.text
        canary = f"{server.url}/api/v1/admin/models/emotion/canary"
        over = requests.post(canary, json={"version": 2, "percent": 150}, headers=admin, timeout=30)
        assert over.status_code == 422 and "between 0 and 100" in over.json()["error"]
        broken = requests.post(canary, data="{not json", headers={**admin, "Content-Type": "application/json"},
                               timeout=30)
        assert broken.status_code == 400
        unknown = requests.post(f"{server.url}/api/v1/admin/models/nope/rollback", headers=admin, timeout=30)
        assert unknown.status_code == 404 and "unknown model" in unknown.json()["error"]
        audit = requests.get(f"{server.url}/api/v1/admin/audit", headers=admin, timeout=30).json()["audit"]
        assert [e["action"] for e in audit] == ["promote"]  # refused requests change nothing
        text = (keys_file.read_text() + "".join(str(e) for e in audit))
        assert admin_key not in text and predict_key not in text
    finally:
        server.close()


def test_the_kill_switch_answers_with_the_lexicon_or_a_clear_503_and_the_catalog_says_so(host, models):
    admin = f"{host.url}/api/v1/admin/models"
    assert requests.post(f"{admin}/sentiment/fallback", json={"on": True}, timeout=30).json()["fallback"] is True
    assert requests.post(f"{admin}/emotion/fallback", json={"on": True}, timeout=30).status_code == 200
    time.sleep(0.6)
    answer = requests.post(f"{host.url}/api/v1/models/sentiment/predict", json={"texts": ["A fine day", "awful"]},
                           timeout=60)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["fallback"] for r in results] == ["lexicon", "lexicon"]
    assert [r["labels"][0]["label"] for r in results] == ["positive", "negative"]
    off = requests.post(f"{host.url}/api/v1/models/emotion/predict", files={"image": ("a.png", png())}, timeout=60)
    assert off.status_code == 503 and "browserml fallback emotion off" in off.json()["error"]
    catalog = {m["name"]: m for m in requests.get(f"{host.url}/api/v1/models", timeout=30).json()["models"]}
    assert catalog["emotion"]["lifecycle"]["fallback"] is True
    assert catalog["sentiment"]["lifecycle"]["fallback"] is True
    done = browserml("fallback", "emotion", "off", "--models-dir", str(models))
    assert done.returncode == 0 and "fallback off" in done.stdout
    time.sleep(0.6)
    back = requests.post(f"{host.url}/api/v1/models/emotion/predict", files={"image": ("a.png", png())}, timeout=60)
    assert back.status_code == 200 and back.json()["labels"]


def test_rollback_under_load_on_gunicorn_loses_no_request_and_switches_within_a_second(models):
    """16 clients predict continuously against 2 gunicorn workers while the CLI promotes v1 and then
    rolls back to v2. Every request must succeed, name v1 or v2, and every request started more
    than 1 s after a switch must name the new version."""
    process, url = serve("--workers", "2", "--models-dir", str(models), seconds=120,
                         env={"BROWSERML_RATE_LIMIT_PREDICT": "null"})  # one address, 16 clients
    log: list[str] = []  # drain the server's log (a full pipe would block its workers)
    threading.Thread(target=lambda: log.extend(process.stdout), daemon=True).start()
    try:
        image = png()
        records: list[tuple[float, int, int]] = []  # (start, status, version)
        stop = threading.Event()

        def client(n: int) -> None:
            session = requests.Session()
            headers = {"X-Client-ID": f"load-client-{n:03d}"}
            while not stop.is_set():
                started = time.monotonic()
                answer = session.post(f"{url}/api/v1/models/emotion/predict", files={"image": ("a.png", image)},
                                      headers=headers, timeout=60)
                version = answer.json().get("version", -1) if answer.status_code == 200 else -1
                records.append((started, answer.status_code, version))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        switches = []
        for verb, target in ((("promote", "emotion", "1"), 1), (("rollback", "emotion"), 2)):
            issued = time.monotonic()
            done = browserml(*verb, "--models-dir", str(models))
            assert done.returncode == 0, done.stderr
            switches.append((issued, time.monotonic(), target))  # the state changed in between
            time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    failed = [r for r in records if r[1] != 200]
    assert not failed, f"{len(failed)} of {len(records)} requests failed: {failed[:5]}"
    assert {r[2] for r in records} <= {1, 2}
    lags = []
    for (_, at, target), until in zip(switches, [s[0] for s in switches[1:]] + [float("inf")]):
        after = [r for r in records if at <= r[0] < until]  # from the command's end to the next one's start
        stale = [r[0] - at for r in after if r[2] != target]
        lags.append(max(stale, default=0.0))
        assert all(r[2] == target for r in after if r[0] > at + 1.0), f"v{target} not everywhere 1 s after switch"
    print(f"rollback under load: {len(records)} requests, 0 failed; last old-version answer "
          f"{lags[0]:.3f} s after promote returned, {lags[1]:.3f} s after rollback returned")
