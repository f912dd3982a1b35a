"""Configuration defaults; override with ``create_app({...})`` or ``BROWSERML_*`` environment variables.

Environment values are parsed as JSON when they can be
(``BROWSERML_MAX_CONTENT_LENGTH=20000000``), else taken as strings.
"""

from __future__ import annotations

DEFAULTS = {
    # Where `browserml convert` wrote models/<name>/<version>/.
    "MODELS_DIR": "models",
    # Largest request body (uploads), in bytes: 413 above it.
    "MAX_CONTENT_LENGTH": 10 * 1000 * 1000,
    # Largest image, in pixels, checked from the header before decoding.
    "MAX_IMAGE_PIXELS": 40_000_000,
    # Smallest image side accepted (a 1x1 image has nothing to recognise).
    "MIN_IMAGE_SIDE": 16,
    # Texts: longest text (characters) and most texts per request.
    "MAX_TEXT_CHARS": 10_000,
    "MAX_TEXTS": 64,
    # ONNX Runtime intra-op threads per session (0: ONNX Runtime decides).
    "ORT_THREADS": 0,
    # Load every model's server variant at start-up, in the background.
    "WARM_UP": False,
    # COOP + COEP on every response: lets the browser use WASM threads.
    "CROSS_ORIGIN_ISOLATION": True,
    # The built demo UI and runtime library (frontend/dist).
    "FRONTEND_DIST": "frontend/dist",
    "JSON_SORT_KEYS": False,
}
