"""Security headers on every response, errors and 304s included."""

from __future__ import annotations

import pytest

from app.headers import SECURITY_HEADERS

pytestmark = pytest.mark.catalog


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/api/v1/models", 200),
        ("GET", "/models/emotion/1/model.onnx", 200),
        ("GET", "/v2/health/live", 200),
        ("GET", "/no/such/page", 404),
        ("POST", "/api/v1/models/imagenet/predict", 415),
        ("DELETE", "/api/v1/models", 405),
    ],
)
def test_every_response_is_cross_origin_isolated_and_locked_down(live_server, method, path, status):
    import requests

    response = requests.request(method, live_server.url + path, timeout=30)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    if status >= 400:
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]


def test_csp_allows_own_scripts_and_webassembly_only():
    csp = dict(part.split(" ", 1) for part in SECURITY_HEADERS["Content-Security-Policy"].split("; "))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert csp["connect-src"] == "'self' blob:"  # the page's own object URLs only
    assert "unsafe-inline" not in SECURITY_HEADERS["Content-Security-Policy"]
    assert csp["object-src"] == "'none'"


def test_405_names_the_allowed_methods(client):
    response = client.delete("/api/v1/models")
    assert response.status_code == 405
    assert "GET" in response.json["error"] and "GET" in response.headers["Allow"]
