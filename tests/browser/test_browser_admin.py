"""The /admin page in Chromium: sign in with an admin key, see traffic, drift and the audit log.

The host runs with BROWSERML_AUTH=keys on a models directory with two versions of emotion.
A canary is set through the admin API; dark photos go through predict, so the brightness of
live traffic drifts from the evaluation data's. The page must show the split, the drift
alert on brightness and the audit entries; its screenshot is kept in test-results/ to be
looked at (the closing note of the lifecycle issue describes it).
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import requests

from app import create_app
from app.keys import KeyStore
from harness.catalog import ROOT, versions_copy
from harness.live_server import LiveServer

pytestmark = [pytest.mark.catalog, pytest.mark.browser]


def dark_photos() -> list[bytes]:
    """scikit-image's photos at a tenth of their brightness."""
    from PIL import Image
    from skimage import data

    out = []
    for array in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket()):
        for scale in (0.05, 0.1):
            buffer = io.BytesIO()
            Image.fromarray((np.asarray(array, dtype=np.float32) * scale).astype(np.uint8)).save(buffer, "PNG")
            out.append(buffer.getvalue())
    return out


@pytest.fixture()
def secured_host(tmp_path, frontend_built):
    keys_file = tmp_path / "keys.json"
    store = KeyStore(keys_file)
    made = {"predict": store.create("app-backend", "predict"), "admin": store.create("release-bot", "admin")}
    app = create_app({"MODELS_DIR": str(versions_copy(tmp_path / "models", ["emotion"], 2)), "TESTING": True,
                      "AUTH": "keys", "KEYS_FILE": str(keys_file), "RATE_LIMIT_PREDICT": None,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    server = LiveServer(app)
    yield server, made
    server.close()


def test_the_admin_page_shows_traffic_drift_and_audit_to_an_admin_only(page, secured_host):
    host, keys = secured_host
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    done = requests.post(f"{host.url}/api/v1/admin/models/emotion/canary", json={"version": 1, "percent": 20},
                         headers=admin, timeout=30)
    assert done.status_code == 200, done.text
    predict = {"Authorization": f"Bearer {keys['predict']}"}
    for _ in range(5):
        for photo in dark_photos():
            answer = requests.post(f"{host.url}/api/v1/models/emotion/predict", files={"image": ("d.png", photo)},
                                   headers=predict, timeout=60)
            assert answer.status_code == 200, answer.text

    page.goto(f"{host.url}/admin")
    assert page.locator("input[name=key]").is_visible()  # no key yet: the sign-in form
    page.fill("input[name=key]", keys["predict"])
    page.click("button[type=submit]")
    assert "not an admin key" in page.locator(".error").inner_text()
    page.fill("input[name=key]", keys["admin"])
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=traffic-emotion]")

    traffic = page.locator("[data-testid=traffic-emotion]").inner_text()
    assert "v2 (newest passing), 80% of clients" in traffic
    assert "v1, 20% of clients (sticky)" in traffic
    audit = page.locator("[data-testid=audit-emotion]").inner_text()
    assert "release-bot" in audit and "canary 20%" in audit

    brightness = page.locator("#emotion figure[data-feature=brightness]").first
    deadline = time.monotonic() + 10  # the host writes drift counts every second
    while brightness.get_attribute("data-verdict") != "alert" and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
        brightness = page.locator("#emotion figure[data-feature=brightness]").first
    assert brightness.get_attribute("data-verdict") == "alert", brightness.inner_text()
    assert float(brightness.get_attribute("data-psi") or 0) > 0.25
    assert brightness.locator("svg rect.live").count() >= 2
    for key in keys.values():
        assert key not in page.content()
    shots = ROOT / "test-results"
    shots.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(shots / "admin.png"), full_page=True)
