"""Shared fixtures: the project root and the converted catalog (built by `make models`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CATALOG = sorted(p.stem for p in (MODELS / "catalog").glob("*.toml"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def latest_version_dir(name: str) -> Path:
    """The newest converted version of a catalog model; fails with the command to run."""
    versions = sorted((p for p in (MODELS / name).glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
    if not versions:
        pytest.fail(f"{name} is not converted; run: make models (browserml convert --all)")
    return versions[-1]


def latest_manifest(name: str) -> dict[str, Any]:
    return json.loads((latest_version_dir(name) / "manifest.json").read_text())


# --- The host -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def app():
    """The host app over the converted catalog (``create_app``, as ``browserml serve`` builds it)."""
    from app import create_app

    for name in CATALOG:
        latest_version_dir(name)  # fail early, with the command to run, if a model is missing
    return create_app({"MODELS_DIR": str(MODELS), "TESTING": True})


@pytest.fixture()
def client(app):
    """Flask's test client (no sockets)."""
    return app.test_client()


class LiveServer:
    """A real HTTP server (Werkzeug, threaded) running an app on a free port, in a thread."""

    def __init__(self, flask_app) -> None:
        import threading

        from werkzeug.serving import make_server

        self.app = flask_app
        self._server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


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

CHROMIUM = os.environ.get("BROWSERML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # WebGPU exists here only like this, as a SwiftShader fallback adapter: the runtime
    # must not choose it on its own, and the webgpu tests force it.
    "--enable-unsafe-webgpu",
]


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
