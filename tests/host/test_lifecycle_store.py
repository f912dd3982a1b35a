"""The lifecycle state store, on SQLite and on a real redis-server: the same behaviour, no lost
update under concurrent operators, and a host that outlives its Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from app import create_app
from harness.catalog import versions_copy
from harness.live_server import LiveServer, start_redis
from lifecycle import aliases
from lifecycle.store import StoreError, open_store

pytestmark = pytest.mark.catalog


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return open_store(tmp_path, tmp_path / "state.sqlite")
    url = request.getfixturevalue("redis_url")
    made = open_store(tmp_path, redis_url=url)
    made._redis.flushdb()  # type: ignore[attr-defined]  # the session's redis is shared
    return made


@pytest.fixture()
def models(tmp_path):
    return versions_copy(tmp_path / "models", ["emotion"], 3)


def test_verbs_keep_a_history_and_an_audit_on_both_backends(store, models):
    aliases.promote(store, models, "emotion", 1, "a")
    aliases.promote(store, models, "emotion", 2, "b")
    aliases.canary(store, models, "emotion", 3, 25, "c")
    state = store.state("emotion")
    assert (state["stable"], state["history"], state["canary"], state["percent"]) == (2, [3, 1], 3, 25.0)
    aliases.rollback(store, models, "emotion", "d")
    state = store.state("emotion")
    assert (state["stable"], state["canary"]) == (1, None)  # back to v1, the canary ended
    assert [e["action"] for e in store.audit("emotion")] == ["rollback", "canary", "promote", "promote"]
    assert [e["actor"] for e in store.audit("emotion")] == ["d", "c", "b", "a"]
    with pytest.raises(aliases.LifecycleError, match="stable version; a canary must be another"):
        aliases.canary(store, models, "emotion", 1, 10, "e")
    assert len(store.audit("emotion")) == 4  # a refused verb writes nothing
    store.add_counts("emotion", 1, {"brightness": {"0": 2, "3": 1}})
    store.add_counts("emotion", 1, {"brightness": {"0": 1}, "label": {"happy": 4}})
    assert store.counts("emotion", 1) == {"brightness": {"0": 3, "3": 1}, "label": {"happy": 4}}
    store.reset_counts("emotion")
    assert store.counts("emotion", 1) == {}


def test_concurrent_operators_lose_no_update(store, models):
    """8 threads each set 10 canary shares at once: every change is audited, in one order."""

    def operator(n: int) -> None:
        for i in range(10):
            aliases.canary(store, models, "emotion", 2, float(n * 10 + i + 1), f"op{n}")

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    audit = store.audit("emotion", limit=1000)
    assert len(audit) == 80
    assert store.state("emotion")["percent"] == audit[0]["detail"]["percent"]  # the last audited is the state


def test_a_host_on_redis_keeps_serving_its_last_state_when_redis_dies(models, tmp_path):
    server, url = start_redis(tmp_path)
    try:
        app = create_app({"MODELS_DIR": str(models), "TESTING": True, "REDIS_URL": url, "RATE_LIMIT_PREDICT": None,
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
        host = LiveServer(app)
        aliases.promote(open_store(models, redis_url=url), models, "emotion", 1, "ops")
        time.sleep(0.6)
        assert requests.get(f"{host.url}/api/v1/models/emotion", timeout=30).json()["version"] == 1
        server.kill()
        server.wait(timeout=10)
        time.sleep(0.6)
        for _ in range(5):  # the last state read still answers; no 5xx
            answer = requests.get(f"{host.url}/api/v1/models/emotion", timeout=30)
            assert answer.status_code == 200 and answer.json()["version"] == 1
        refused = requests.post(f"{host.url}/api/v1/admin/models/emotion/promote", json={"version": 2}, timeout=30)
        assert refused.status_code == 503 and "try again" in refused.json()["error"]
        host.close()
    finally:
        server.kill()
    with pytest.raises(StoreError):
        open_store(models, redis_url=url).state("emotion")


def _open_at(path: str, start: float) -> str:
    """Open the SQLite store at ``path`` once the clock reaches ``start``: the error, or ''."""
    while time.time() < start:
        pass
    try:
        open_store(Path(path).parent, Path(path)).states()
    except StoreError as err:
        return str(err)
    return ""


def test_workers_booting_together_on_a_fresh_sqlite_state_all_open_it(tmp_path):
    # gunicorn boots its workers at the same moment, and each opens the lifecycle state: two of them
    # switching a new file to WAL at once got "database is locked", and a worker died at boot.
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(8, mp_context=context) as pool:
        list(pool.map(time.sleep, [0.2] * 8))  # every worker has started and imported before the first round
        for attempt in range(20):
            path = tmp_path / f"fresh{attempt}" / "lifecycle.sqlite"
            start = time.time() + 0.2
            errors = list(pool.map(_open_at, [str(path)] * 8, [start] * 8))
            assert errors == [""] * 8, f"round {attempt}: {errors}"
