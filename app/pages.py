"""The demo UI and the runtime library, built from ``frontend/`` into ``frontend/dist``.

Until the frontend is built, ``/`` answers with a plain page that lists the
models and says how to build the UI.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_from_directory
from werkzeug.utils import get_content_type
from werkzeug.wrappers import Response

from app import host_state
from app.auth import issue_session
from app.errors import ApiError

bp = Blueprint("pages", __name__)


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _dist() -> Path:
    """frontend/dist; a relative setting is taken from the project root, not the working directory."""
    return (PROJECT_ROOT / current_app.config["FRONTEND_DIST"]).resolve()


# Set explicitly rather than from the system's MIME table: Chromium compiles wasm while it
# downloads (WebAssembly.instantiateStreaming) and caches the compiled code only for
# ``application/wasm``; module workers and ORT Web's glue need a JavaScript type for .mjs.
CONTENT_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript; charset=utf-8"}


def _content_type(file: str) -> str:
    """The type of ``file`` itself, also when its .br/.gz copy is sent (text types with their charset)."""
    guessed = mimetypes.guess_type(file)[0] or "application/octet-stream"
    return CONTENT_TYPES.get(Path(file).suffix) or get_content_type(guessed, "utf-8")


# The build writes ``file.br`` (brotli) and ``file.gz`` beside every compressible file
# (frontend/vite.config.ts), in this order of preference: brotli is a third smaller on ORT's wasm.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def _encoding(dist: Path, file: str) -> tuple[str, str] | None:
    """The precompressed copy of ``file`` to send: the best-rated encoding that the request's
    Accept-Encoding accepts (quality > 0; brotli on a tie) and the build wrote; None: the file itself."""
    accepted = request.accept_encodings
    best: tuple[float, int, str, str] | None = None
    for rank, (encoding, suffix) in enumerate(ENCODINGS):
        quality = accepted[encoding]
        if quality > 0 and (dist / f"{file}{suffix}").is_file():
            candidate = (quality, -rank, encoding, suffix)
            best = max(best, candidate) if best else candidate
    return (best[2], best[3]) if best else None


def _send(dist: Path, file: str) -> Response:
    """``file``, or its precompressed copy with ``Content-Encoding`` (Content-Length and ETag are the
    copy's own: each encoding is its own representation), ``Vary: Accept-Encoding`` either way."""
    chosen = _encoding(dist, file)
    response = send_from_directory(dist, f"{file}{chosen[1]}" if chosen else file, max_age=0)
    if chosen:
        response.headers["Content-Encoding"] = chosen[0]
    if chosen or any((dist / f"{file}{suffix}").is_file() for _, suffix in ENCODINGS):
        response.headers["Vary"] = "Accept-Encoding"  # a shared cache must not hand brotli to the next client
    response.headers["Content-Type"] = _content_type(file)
    return response


@bp.get("/")
def index() -> Response | str:
    dist = _dist()
    if (dist / "index.html").is_file():
        response = send_from_directory(dist, "index.html", max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        return issue_session(response)  # the page's own way to the server fallback when auth is on
    registry = host_state().registry
    return render_template("index.html", models=list(registry), broken=registry.broken)


@bp.get("/lib/<path:file>", defaults={"folder": "lib"})
@bp.get("/assets/<path:file>", defaults={"folder": "assets"})
@bp.get("/ort/<path:file>", defaults={"folder": "ort"})
@bp.get("/tfjs/<path:file>", defaults={"folder": "tfjs"})
@bp.get("/<any('sw.js', 'shell.json', 'favicon.svg', 'app.webmanifest'):file>", defaults={"folder": ""})
def frontend_file(file: str, folder: str) -> Response:
    """Built frontend files: the runtime library (/lib), hashed bundles (/assets), ONNX Runtime Web (/ort),
    TensorFlow.js's WASM backend (/tfjs)."""
    file = f"{folder}/{file}" if folder else file
    dist = _dist()
    if not dist.is_dir():
        raise ApiError(404, f"no such file {file!r}: the frontend is not built (run: make run).")
    response = _send(dist, file)
    # Hashed build outputs never change; everything else is revalidated.
    if file.startswith("assets/"):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
