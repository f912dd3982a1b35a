"""API keys and scopes (BROWSERML_AUTH=keys): hashed at rest, 401/403 that say what to do,
public routes stay public, the page session works for the demo, tritonclient's headers work."""

from __future__ import annotations

import json

import pytest
import requests

from app import create_app
from harness.catalog import MODELS
from harness.live_server import LiveServer, browserml

TEXT = {"text": "What a wonderful film"}


@pytest.fixture()
def keys_file(tmp_path):
    return tmp_path / "keys.json"


@pytest.fixture()
def keys(keys_file, log_of_the_whole_run):
    """A predict key and an admin key made with the real CLI (the key is stdout's last line)."""
    made = {}
    for name, scope in (("ci-predict", "predict"), ("ops", "admin")):
        result = browserml("keys", "--keys-file", str(keys_file), "create", "--name", name, "--scope", scope)
        assert result.returncode == 0, result.stderr
        made[scope] = result.stdout.strip().splitlines()[-1]
    log_of_the_whole_run.keys.extend(made.values())  # the run's log must not hold them either
    return made


@pytest.fixture()
def secured(keys_file, keys):
    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys", "KEYS_FILE": str(keys_file),
                      "RATE_LIMIT_PREDICT": None})
    server = LiveServer(app)
    yield server
    server.close()


def test_keys_are_stored_only_as_hashes_and_listed_without_them(keys_file, keys):
    stored = keys_file.read_text()
    for key in keys.values():
        assert key.startswith("bml_") and len(key) > 40
        assert key not in stored
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    listed = browserml("keys", "--keys-file", str(keys_file), "list")
    assert "ci-predict" in listed.stdout and "ops" in listed.stdout
    assert all(key not in listed.stdout for key in keys.values())


def test_a_key_name_is_unique_and_a_scope_is_one_of_two(keys_file, keys):
    again = browserml("keys", "--keys-file", str(keys_file), "create", "--name", "ops", "--scope", "admin")
    assert again.returncode == 1 and "revoke it first" in again.stderr
    wrong = browserml("keys", "--keys-file", str(keys_file), "create", "--name", "x", "--scope", "root")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_predict_needs_a_key_and_says_how_to_get_one(secured, keys):
    url = f"{secured.url}/api/v1/models/sentiment/predict"
    missing = requests.post(url, json=TEXT, timeout=60)
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["error"] and "browserml keys create" in missing.json()["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, json=TEXT, headers={"Authorization": "Bearer bml_nope"}, timeout=60)
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["error"]
    for scope in ("predict", "admin"):  # admin may do what predict may
        ok = requests.post(url, json=TEXT, headers={"Authorization": f"Bearer {keys[scope]}"}, timeout=60)
        assert ok.status_code == 200 and ok.json()["labels"][0]["label"] == "positive"


def test_public_routes_stay_public(secured):
    for path in ("/", "/api/v1/models", "/api/v1/models/emotion", "/v2/health/ready", "/v2/models/emotion",
                 "/api/v1/pipelines", "/api/v1/limits", "/lib/browserml.js"):
        assert requests.get(secured.url + path, timeout=60).status_code == 200, path
    manifest = requests.get(secured.url + "/api/v1/models/emotion", timeout=60).json()
    weights = next(v["url"] for v in manifest["variants"] if v["url"])
    assert requests.get(secured.url + weights, timeout=60).status_code == 200


def test_a_revoked_key_stops_working_without_a_restart(secured, keys, keys_file):
    url = f"{secured.url}/api/v1/models/sentiment/predict"
    headers = {"Authorization": f"Bearer {keys['predict']}"}
    assert requests.post(url, json=TEXT, headers=headers, timeout=60).status_code == 200
    assert browserml("keys", "--keys-file", str(keys_file), "revoke", "ci-predict").returncode == 0
    assert requests.post(url, json=TEXT, headers=headers, timeout=60).status_code == 401


def test_admin_routes_need_the_admin_scope(keys_file, keys):
    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys", "KEYS_FILE": str(keys_file),
                      "METRICS": "private"})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    forbidden = client.get("/metrics", headers={"Authorization": f"Bearer {keys['predict']}"})
    assert forbidden.status_code == 403 and "needs admin" in forbidden.json["error"]
    assert client.get("/metrics", headers={"Authorization": f"Bearer {keys['admin']}"}).status_code == 200


def test_the_page_session_lets_the_demo_use_the_server_fallback(secured):
    with requests.Session() as browser:
        page = browser.get(secured.url + "/", timeout=60)
        cookie = page.headers["Set-Cookie"]
        assert "browserml_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        answer = browser.post(f"{secured.url}/api/v1/models/sentiment/predict", json=TEXT, timeout=60)
        assert answer.status_code == 200
    forged = requests.post(f"{secured.url}/api/v1/models/sentiment/predict", json=TEXT, timeout=60,
                           cookies={"browserml_session": "eyJzaWQiOiJ4Iiwic2NvcGUiOiJhZG1pbiJ9.forged"})
    assert forged.status_code == 401


def test_tritonclient_passes_the_key_in_its_headers(secured, keys):
    import numpy as np
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(f"127.0.0.1:{secured.port}", network_timeout=120)
    ids = httpclient.InferInput("input_ids", [1, 4], "INT64")
    ids.set_data_from_numpy(np.array([[101, 2023, 2003, 102]], dtype=np.int64))
    mask = httpclient.InferInput("attention_mask", [1, 4], "INT64")
    mask.set_data_from_numpy(np.ones((1, 4), dtype=np.int64))
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="needs an API key"):
        client.infer("sentiment", [ids, mask])
    result = client.infer("sentiment", [ids, mask], headers={"Authorization": f"Bearer {keys['predict']}"})
    assert result.as_numpy("probabilities").shape == (1, 2)
    client.close()


def test_serve_refuses_an_open_host_on_a_public_address():
    refused = browserml("serve", "--host", "0.0.0.0", "--port", "1", env={"BROWSERML_AUTH": "off"})
    assert refused.returncode == 2
    assert "BROWSERML_AUTH=keys" in refused.stderr and "--insecure" in refused.stderr
    half_tls = browserml("serve", "--certfile", "c.pem")
    assert half_tls.returncode == 2 and "--keyfile" in half_tls.stderr


def test_an_unknown_auth_mode_is_an_error():
    with pytest.raises(ValueError, match="BROWSERML_AUTH is 'maybe'"):
        create_app({"MODELS_DIR": str(MODELS), "AUTH": "maybe"})


def test_the_keys_file_is_not_json_readable_as_keys_then_it_says_so(tmp_path):
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"nope": 1}))
    listed = browserml("keys", "--keys-file", str(bad), "list")
    assert listed.returncode == 1 and "is not a keys file" in listed.stderr
