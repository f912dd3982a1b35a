"""Security headers on every response.

Cross-origin isolation (COOP + COEP) is what lets ONNX Runtime Web use
threads (SharedArrayBuffer); the CSP allows the app's own scripts and
WebAssembly compilation ('wasm-unsafe-eval') and nothing from elsewhere.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",
        "connect-src 'self' blob:",  # blob: the page's own object URLs (run(url))
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "style-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


# Browsers keep to HTTPS for a year once they have seen it over HTTPS.
HSTS = "max-age=31536000; includeSubDomains"
ISOLATION_HEADERS = ("Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy")


def register_security_headers(app: Flask) -> None:
    """Add ``SECURITY_HEADERS`` to every response (errors and 304s included).

    ``CROSS_ORIGIN_ISOLATION = False`` drops COOP/COEP, for a site that must
    embed cross-origin content: the runtime then uses WASM with one thread.
    """
    isolated = bool(app.config.get("CROSS_ORIGIN_ISOLATION", True))
    headers = {k: v for k, v in SECURITY_HEADERS.items() if isolated or k not in ISOLATION_HEADERS}

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.is_secure:  # HTTPS, directly or (BROWSERML_PROXIES) through a TLS-terminating proxy
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
