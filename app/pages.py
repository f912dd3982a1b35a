"""The demo UI and the runtime library, built from ``frontend/`` into ``frontend/dist``.

Until the frontend is built, ``/`` answers with a plain page that lists the
models and says how to build the UI.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_from_directory
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
    return CONTENT_TYPES.get(Path(file).suffix) or mimetypes.guess_type(file)[0] or "application/octet-stream"


def _precompressed(dist: Path, file: str) -> Response:
    """``file.gz`` (written by the build) sent as ``file`` with ``Content-Encoding: gzip``."""
    response = send_from_directory(dist, f"{file}.gz", max_age=0)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Type"] = _content_type(file)
    response.headers["Vary"] = "Accept-Encoding"
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
@bp.get("/<any('sw.js', 'shell.json', 'favicon.svg', 'app.webmanifest'):file>", defaults={"folder": ""})
def frontend_file(file: str, folder: str) -> Response:
    """Built frontend files: the runtime library (/lib), hashed bundles (/assets), ONNX Runtime Web (/ort)."""
    file = f"{folder}/{file}" if folder else file
    dist = _dist()
    if not dist.is_dir():
        raise ApiError(404, f"no such file {file!r}: the frontend is not built (run: make run).")
    # The ignore: werkzeug's Accept.__contains__ takes a value name ("gzip"), not a (value, quality) item.
    if folder == "ort" and "gzip" in request.accept_encodings and (dist / f"{file}.gz").is_file():  # type: ignore[comparison-overlap]
        response = _precompressed(dist, file)
    else:
        response = send_from_directory(dist, file, max_age=0)
        if Path(file).suffix in CONTENT_TYPES:
            response.headers["Content-Type"] = CONTENT_TYPES[Path(file).suffix]
    # Hashed build outputs never change; everything else is revalidated.
    if file.startswith("assets/"):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
