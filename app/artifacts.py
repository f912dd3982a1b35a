"""``GET /models/<name>/<version>/<file>``: the verified artifacts, immutable and cacheable.

Only files the manifest names (variants, assets) and the manifest and report
are served, so no request can reach anything else on disk. A file's bytes
never change under a version, hence ``immutable`` and a strong ETag that is
its sha256. Weights of server-only models and of variants that failed their
gates are never served.

JSON artifacts (a TF.js graph model's model.json, a tokenizer) are text that gzip shrinks 2-10x:
they are sent gzip-compressed when the request accepts it, as their own representation (ETag
``<sha256>-gzip``); ``Vary: Accept-Encoding`` on both. The browser checks the sha256 of the
decoded bytes.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, request, send_file
from werkzeug.wrappers import Response

from app import host_state
from app.errors import ApiError

bp = Blueprint("artifacts", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
MIME_TYPES = {
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".md": "text/markdown",
    ".png": "image/png",
    ".txt": "text/plain",
}


@bp.route("/models/<name>/<version>/<path:file>", methods=["GET", "HEAD"])
def artifact(name: str, version: str, file: str) -> Response:
    model = host_state().registry.resolve(name, version)
    item = model.artifacts.get(file)
    if item is None:
        raise ApiError(404, f"{name} v{model.version} has no file {file!r}; it serves "
                            f"{', '.join(sorted(a.file for a in model.artifacts.values() if a.passed))}.")
    if item.kind in ("weights", "shard", "head") and model.server_only:
        raise ApiError(403, f"{name} is server-only: its weights are not served. "
                            f"Use POST /api/v1/models/{name}/predict instead.")
    if item.kind in ("weights", "shard", "head") and not item.passed:
        raise ApiError(404, f"{file} of {name} v{model.version} did not pass its gates in the browser "
                            f"and is not served; see /models/{name}/{model.version}/report.md.")
    if item.changed_to() is not None:  # checked at start by the registry; it may have changed on disk since
        raise ApiError(503, f"{file} of {name} v{model.version} changed on disk since the host started and is not "
                            "served; the operator must restore it or convert the model again.")
    suffix = "." + file.rsplit(".", 1)[-1] if "." in file else ""
    compressible = suffix in COMPRESSIBLE and item.kind in ("weights", "asset")
    if compressible and request.accept_encodings["gzip"] > 0:
        response = Response(_gzipped(str(item.path), item.sha256), mimetype=MIME_TYPES[suffix])
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"  # a shared cache must not hand gzip to the next client
        response.headers["Cache-Control"] = IMMUTABLE
        response.set_etag(f"{item.sha256}-gzip")
        return response.make_conditional(request)
    response = send_file(
        item.path,
        mimetype=MIME_TYPES.get(suffix, "application/octet-stream"),
        etag=item.sha256,
        conditional=True,
        max_age=31536000,
    )
    response.headers["Cache-Control"] = IMMUTABLE
    if compressible:
        response.headers["Vary"] = "Accept-Encoding"
    return response


COMPRESSIBLE = {".json"}


@lru_cache(maxsize=32)
def _gzipped(path: str, sha256: str) -> bytes:
    """The gzip representation of an immutable JSON artifact (by path and sha256: at most a few MB)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
