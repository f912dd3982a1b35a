"""Shared fixtures: the converted catalog (built by `make models`), the host in-process and
over real HTTP, and Debian's Chromium. The parts that bench/ uses too live in harness/."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from harness import catalog
from harness.catalog import CATALOG, MODELS, ROOT
from harness.chromium import CHROMIUM, CHROMIUM_FLAGS
from harness.live_server import LiveServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# --- The host -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The host app over the converted catalog (``create_app``, as ``browserml serve`` builds it)."""
    from app import create_app

    for name in CATALOG:  # fail early, with the command to run, if a model is missing
        try:
            catalog.latest_version_dir(name)
        except catalog.NotConverted as err:
            pytest.fail(str(err))
    # The suite sends bursts from one address; the limits have tests of their own (tests/host/test_limits.py).
    # Lifecycle state and feedback go to the session's own files, never into models/.
    state = tmp_path_factory.mktemp("state")
    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                       "LIFECYCLE_DB": str(state / "lifecycle.sqlite"),
                       "DATABASE_URL": f"sqlite:///{state / 'feedback.sqlite'}",
                       "JOBS_DB": str(state / "jobs.sqlite")})


@pytest.fixture()
def client(app):
    """Flask's test client (no sockets)."""
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app):
    """The host over real HTTP on a free port: ``live_server.url``."""
    server = LiveServer(app)
    yield server
    server.close()


@pytest.fixture(scope="session")
def photos():
    """Real photos (scikit-image's bundled data) as encoded bytes, by name."""
    import io

    from PIL import Image
    from skimage import data

    out = {}
    for name, array, fmt in (
        ("astronaut.jpg", data.astronaut(), "JPEG"),
        ("coffee.jpg", data.coffee(), "JPEG"),
        ("chelsea.png", data.chelsea(), "PNG"),
        ("rocket.jpg", data.rocket(), "JPEG"),
    ):
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, fmt)
        out[name] = buf.getvalue()
    return out


# --- The browser (pytest-playwright with Debian's Chromium) ------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Playwright cannot download browsers here: launch Debian's Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found; install it: apt-get install -y chromium (make test does)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def frontend_built() -> Path:
    dist = ROOT / "frontend" / "dist"
    if not (dist / "index.html").is_file() or not (dist / "lib" / "browserml.js").is_file():
        pytest.fail("the frontend is not built; run: make frontend (make test does)")
    return dist


@pytest.fixture(scope="session")
def site(live_server, frontend_built):
    """The app over real HTTP, cross-origin isolated (COOP/COEP), with the built frontend."""
    return live_server


@pytest.fixture(scope="session")
def plain_site(frontend_built):
    """The same app without COOP/COEP: the page is not cross-origin isolated."""
    from app import create_app

    server = LiveServer(create_app({"MODELS_DIR": str(MODELS), "CROSS_ORIGIN_ISOLATION": False}))
    yield server
    server.close()


# --- Redis (Debian's redis-server, started here on a free port) ----------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free port for the session: ``redis://127.0.0.1:<port>/0``."""
    from harness.live_server import start_redis

    try:
        server, url = start_redis(tmp_path_factory.mktemp("redis"))
    except RuntimeError as err:
        pytest.fail(str(err))
    yield url
    server.terminate()
    server.wait(timeout=10)


# --- The whole run's log: no key, no input text ---------------------------------------------------

class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.keys: list[str] = []  # every API key the run made; none may appear in a line

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + json.dumps(getattr(record, "fields", {})))


@pytest.fixture(scope="session", autouse=True)
def log_of_the_whole_run():
    """Every line the host logs during the session (both of its loggers, at every level) must
    hold no API key and none of the texts the tests send: the issue's "the log from a whole
    test run contains no key and no input text". Keys are collected as KeyStore makes them."""
    from app import keys as keys_module
    from harness.browser import SENTENCES

    collector = _Collect()
    made = collector.keys
    original = keys_module.KeyStore.create

    def create(self, name: str, scope: str) -> str:
        key = original(self, name, scope)
        made.append(key)
        return key

    keys_module.KeyStore.create = create  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("browserml", "browserml.request")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
    yield collector
    keys_module.KeyStore.create = original  # type: ignore[method-assign]
    for logger, level in zip(loggers, levels):
        logger.removeHandler(collector)
        logger.setLevel(level)
    texts = [*SENTENCES, "Zanzibar marmalade", "What a wonderful film", "A fine day", "client 0 says hello"]
    text = "\n".join(collector.lines)
    leaked = [k[:10] + "..." for k in made if k in text] + [t for t in texts if t in text]
    assert collector.lines, "the host logged nothing: the collector is not attached"
    assert not leaked, f"the run's log holds keys or input texts: {leaked}"
