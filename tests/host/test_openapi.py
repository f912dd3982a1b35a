"""``GET /openapi.json``: a valid OpenAPI 3.1 document built from the manifests, and the live
host behaving as it says (schemathesis against a real HTTP server).

(a) the document: schemathesis loads and validates it against the OpenAPI 3.1 schema, every
embedded JSON Schema is a valid 2020-12 schema, every served model has its predict route
with its manifest's request and response schemas, predict routes carry ``bearerAuth`` when
auth is on, a new version shows up without a restart, telemetry is described from its schema,
async jobs (``Prefer: respond-async``, 202, ``GET /api/v1/jobs/{id}``) and the lifecycle admin
API are described, and a real job body and real admin bodies conform to their schemas.
(b) schemathesis generates positive and negative requests for every operation (but ``/metrics``;
the pages are not in the document) and sends them to the live server: no 5xx, every status
and content type documented, every response conforming to its schema. The admin POSTs change
the lifecycle state, so they are fuzzed against a host of their own (a models copy and its own
state file), never the session's shared one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from harness.catalog import MODELS, versions_copy
from harness.live_server import LiveServer, free_port

pytestmark = pytest.mark.catalog

MAX_EXAMPLES = 25
ADMIN_EXAMPLES = 10  # per admin operation and mode (six operations, no inference behind them)
ADMIN_PATHS = "^/api/v1/admin/"
VERBS = ("promote", "canary", "rollback", "fallback")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Health checks about slow generation or big inputs: a server round trip per example is slow by design.
SLOWNESS = [HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large]


# --- (a) the document -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def document(app) -> dict:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def deref(document: dict, node: dict) -> dict:
    """``node`` with its ``$ref`` (a local JSON pointer) followed."""
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def refs(node) -> set[str]:
    """Every ``$ref`` under ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set()


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # the OpenAPI 3.1 meta-schema (raises with the path of the first error)
    operations = [result.ok() for result in schema.get_all_operations()]  # raises on a broken operation
    ids = [op.definition.raw["operationId"] for op in operations]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    for component in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(component)  # JSON Schema 2020-12, as OpenAPI 3.1 takes it
    for ref in refs(document):  # every $ref points at something
        deref(document, {"$ref": ref})


def test_every_served_model_has_its_predict_route_with_its_manifests_schemas(app, document):
    registry = app.extensions["browserml"].registry
    models = list(registry)
    assert {m.name for m in models} == set(registry.names()) and models
    components = document["components"]["schemas"]
    for model in models:
        op = document["paths"][f"/api/v1/models/{model.name}/predict"]["post"]
        content = op["requestBody"]["content"]
        assert deref(document, content["application/json"]["schema"]) == model.manifest["request"]
        if model.manifest["task"] in ("image-classification", "face-detection"):
            assert content["multipart/form-data"]["schema"]["required"] == ["image"]
            assert "image/*" in content
            example = content["application/json"]["examples"]["png"]["value"]
            jsonschema.validate(example, model.manifest["request"])
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        parts = [part["$ref"] for part in ok["allOf"] if "$ref" in part]
        assert components[parts[0].rsplit("/", 1)[1]] == model.manifest["response"]
        assert parts[1] == "#/components/schemas/PredictInfo"
        assert op["responses"]["422"] == {"$ref": "#/components/responses/Error422"}
        assert "security" not in op  # auth is off in this app
        versions = next(p for p in op["parameters"] if p["name"] == "version")["schema"]["enum"]
        assert model.version in versions
    assert deref(document, {"$ref": "#/components/responses/Error404"})["content"]["application/json"]["schema"] \
        == {"$ref": "#/components/schemas/Error"}
    names = document["paths"]["/api/v1/models/{name}"]["parameters"][0]["schema"]["enum"]
    assert names == registry.names()
    assert document["paths"]["/api/v1/pipelines/{name}"]["parameters"][0]["schema"]["enum"] == \
        sorted(registry.pipelines)
    for name in registry.pipelines:
        assert f"/api/v1/pipelines/{name}/predict" in document["paths"]
    assert "/metrics" in document["paths"] and "/" not in document["paths"]


def test_the_documented_examples_get_answers_that_match_the_schemas(live_server, document):
    """The request examples (a real PNG, real sentences) reach the models; their 200s conform."""
    answered = 0
    for path, item in document["paths"].items():
        op = item.get("post")
        if not op or not path.endswith("/predict"):
            continue
        media = op["requestBody"]["content"]["application/json"]
        wanted = op["responses"]["200"]["content"]["application/json"]["schema"]
        for example in media["examples"].values():
            response = requests.post(live_server.url + path, json=example["value"], timeout=120)
            assert response.status_code == 200, (path, response.text)
            components = {"components": document["components"]}
            jsonschema.validate(response.json(), {**wanted, **components})
            answered += 1
    assert answered >= 6


def test_real_photos_get_answers_that_match_the_schemas(live_server, document, photos):
    """A photo with a face through every image route: non-empty results (faces with their emotion)."""
    checked = []
    for path, item in document["paths"].items():
        op = item.get("post")
        if not op or "multipart/form-data" not in op.get("requestBody", {}).get("content", {}):
            continue
        response = requests.post(live_server.url + path, files={"image": ("astronaut.jpg", photos["astronaut.jpg"],
                                                                          "image/jpeg")}, timeout=120)
        assert response.status_code == 200, (path, response.text)
        wanted = op["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), {**wanted, "components": document["components"]})
        checked.append(response.json())
    faces = [result["faces"] for result in checked if "faces" in result]
    assert faces and all(faces) and any("emotion" in face for found in faces for face in found)


def test_predict_routes_need_bearer_auth_when_auth_is_on(tmp_path):
    app = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "AUTH": "keys", "SECRET_KEY": "test",
                      "KEYS_FILE": str(tmp_path / "keys.json"), "RATE_LIMIT_PREDICT": "5/second"})
    document = app.test_client().get("/openapi.json").get_json()  # public, like the catalog
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    secured, admin = [], []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            if path.endswith("/predict") or path.endswith("/infer") or path == "/api/v1/feedback" \
                    or path == "/api/v1/jobs/{id}":
                assert op["security"] == [{"bearerAuth": []}], path
                assert {"401", "403", "429"} <= set(op["responses"]), path
                assert "Needs a key with the `predict` scope." in op["description"], path
                secured.append(path)
            elif path.startswith("/api/v1/admin/"):
                assert op["security"] == [{"bearerAuth": []}], path
                assert {"401", "403"} <= set(op["responses"]), path
                assert "Needs a key with the `admin` scope." in op["description"], path
                admin.append(f"{method} {path}")
            else:
                assert "security" not in op, path
                assert "401" not in op["responses"], path
    assert len(secured) >= len(list(app.extensions["browserml"].registry)) + 3
    assert len(admin) == 6, admin
    schemathesis.openapi.from_dict(document).validate()


def test_a_new_version_shows_up_in_the_next_document(tmp_path):
    """Built per request from the registry: a version added (and the registry reloaded) is described."""
    models = tmp_path / "models"
    empty = create_app({"MODELS_DIR": str(models), "TESTING": True}).test_client().get("/openapi.json").get_json()
    schemathesis.openapi.from_dict(empty).validate()  # a host with no model yet has a valid document too
    assert not [path for path in empty["paths"] if path.endswith("/predict")]
    source = sorted((MODELS / "sentiment").iterdir(), key=lambda p: int(p.name))[-1]
    shutil.copytree(source, models / "sentiment" / source.name)
    app = create_app({"MODELS_DIR": str(models), "TESTING": True})
    client = app.test_client()
    path = "/api/v1/models/sentiment/predict"
    before = client.get("/openapi.json").get_json()
    assert list(before["paths"]) and path in before["paths"] and "/api/v1/models/imagenet/predict" not in \
        before["paths"]
    newer = int(source.name) + 1
    manifest_path = models / "sentiment" / str(newer) / "manifest.json"
    shutil.copytree(source, manifest_path.parent)
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = newer
    manifest_path.write_text(json.dumps(manifest))
    app.extensions["browserml"].registry.reload()
    after = client.get("/openapi.json").get_json()
    versions = next(p for p in after["paths"][path]["post"]["parameters"] if p["name"] == "version")
    assert versions["schema"]["enum"] == [int(source.name), newer]
    assert f"default version v{newer}" in after["paths"][path]["post"]["description"]


def test_telemetry_is_described_from_its_schema_when_it_exists(app, document, monkeypatch, tmp_path):
    import app.openapi as openapi

    if openapi.TELEMETRY_SCHEMA_PATH.is_file():
        op = document["paths"]["/api/v1/telemetry"]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Telemetry"}
        telemetry = json.loads(openapi.TELEMETRY_SCHEMA_PATH.read_text())
        assert document["components"]["schemas"]["Telemetry"]["properties"].keys() == telemetry["properties"].keys()
    # The schema file is read when the document is built: without it, no telemetry route is described.
    monkeypatch.setattr(openapi, "TELEMETRY_SCHEMA_PATH", tmp_path / "missing.schema.json")
    without = app.test_client().get("/openapi.json").get_json()
    assert "/api/v1/telemetry" not in without["paths"] and "Telemetry" not in without["components"]["schemas"]


def response_schema(document: dict, op: dict, status: int) -> dict:
    """The JSON schema ``op`` documents for ``status``, with the components it refers to."""
    response = deref(document, op["responses"][str(status)])
    return {**response["content"]["application/json"]["schema"], "components": document["components"]}


def conforms(document: dict, response: requests.Response, path: str, method: str) -> dict:
    """``response`` has a documented status and a body matching its schema; its JSON."""
    op = document["paths"][path][method]
    assert str(response.status_code) in op["responses"], (path, response.status_code, response.text)
    jsonschema.validate(response.json(), response_schema(document, op, response.status_code))
    return response.json()


def test_async_jobs_are_described(app, document):
    """Every model's predict path takes ``Prefer: respond-async`` and may answer 202 with a
    Location; ``GET /api/v1/jobs/{id}`` answers the Job schema, whose result/error follow its status."""
    paths, schemas = document["paths"], document["components"]["schemas"]
    for model in app.extensions["browserml"].registry:
        op = paths[f"/api/v1/models/{model.name}/predict"]["post"]
        prefer = next(p for p in op["parameters"] if p["name"] == "Prefer")
        assert prefer["in"] == "header" and prefer["required"] is False and "respond-async" in prefer["description"]
        accepted = op["responses"]["202"]
        assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobAccepted"}
        assert {"Location", "Retry-After", "Preference-Applied"} <= set(accepted["headers"])
        assert {"X-Model-Version", "X-Cache", "X-Request-ID", "Server-Timing"} <= set(op["responses"]["200"]["headers"])
    for name in app.extensions["browserml"].registry.pipelines:  # pipelines answer now, never as a job
        assert "202" not in paths[f"/api/v1/pipelines/{name}/predict"]["post"]["responses"]
    for header in document["components"]["headers"].values():
        jsonschema.Draft202012Validator.check_schema(header["schema"])
    job = paths["/api/v1/jobs/{id}"]
    assert set(job) == {"get", "parameters"}
    assert [(p["name"], p["in"], p["required"]) for p in job["parameters"]] == [("id", "path", True)]
    assert set(job["get"]["responses"]) == {"200", "404", "503"}  # auth off, no limit on predict in this app
    assert job["get"]["responses"]["200"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Job"}
    assert schemas["Job"]["properties"]["status"]["enum"] == ["queued", "running", "done", "failed"]
    assert {"arm", "version"} <= set(schemas["PredictInfo"]["required"]) and "request_id" in \
        schemas["PredictInfo"]["properties"]
    job_schema = {**schemas["Job"], "components": document["components"]}
    result = {"label": "positive", "model": "sentiment", "version": 1, "arm": "stable", "variant": "model.onnx",
              "backend": "server", "latency_ms": 1.0, "request_id": "x"}
    jsonschema.validate({"id": "a" * 32, "status": "running", "progress": 0.0}, job_schema)
    jsonschema.validate({"id": "a" * 32, "status": "done", "progress": 1.0, "result": result}, job_schema)
    for wrong in ({"id": "a" * 32, "status": "done", "progress": 1.0},  # done without its result
                  {"id": "a" * 32, "status": "failed", "progress": 1.0},  # failed without its error
                  {"id": "a" * 32, "status": "done", "progress": 1.0, "result": {**result, "arm": "blue"}},
                  {"id": "a" * 32, "status": "lost", "progress": 0.0}):
        assert not jsonschema.Draft202012Validator(job_schema).is_valid(wrong), wrong


def test_the_admin_api_is_described(app, document):
    """The lifecycle admin API: status, the four verbs with their bodies (unknown fields refused,
    percent 0-100), the audit log with its ``model`` filter; the /admin page is not API."""
    paths, schemas = document["paths"], document["components"]["schemas"]
    status = paths["/api/v1/admin/models/{name}"]
    assert set(status) == {"get", "parameters"}
    assert status["parameters"][0]["schema"]["enum"] == app.extensions["browserml"].registry.names()
    assert set(status["get"]["responses"]) == {"200", "404", "503"}
    assert status["get"]["responses"]["200"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/LifecycleStatus"}
    for verb in VERBS:
        item = paths[f"/api/v1/admin/models/{{name}}/{verb}"]
        assert set(item) == {"post", "parameters"}, verb
        op = item["post"]
        conflict = {"409"} if verb != "fallback" else set()  # the kill switch can always be set
        assert set(op["responses"]) == {"200", "400", "404", "415", "422", "503"} | conflict, verb
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/LifecycleStatus"}
        body = deref(document, op["requestBody"]["content"]["application/json"]["schema"])
        assert body["additionalProperties"] is False, verb
        assert op["requestBody"]["required"] is (verb != "rollback"), verb  # rollback takes no body
    valid = {"PromoteRequest": [{"version": 2}], "CanaryRequest": [{"version": 2, "percent": 0},
                                                                   {"version": 2, "percent": 12.5}],
             "RollbackRequest": [{}], "FallbackRequest": [{"on": True}, {"on": False}]}
    invalid = {"PromoteRequest": [{}, {"version": "2"}, {"version": 2, "force": True}],
               "CanaryRequest": [{"version": 2}, {"version": 2, "percent": 101}, {"version": 2, "percent": -1}],
               "RollbackRequest": [{"version": 1}], "FallbackRequest": [{"on": "yes"}, {}]}
    for name in valid:
        for body in valid[name]:
            jsonschema.validate(body, schemas[name])
        for body in invalid[name]:
            assert not jsonschema.Draft202012Validator(schemas[name]).is_valid(body), (name, body)
    audit = paths["/api/v1/admin/audit"]
    assert set(audit) == {"get"} and set(audit["get"]["responses"]) == {"200", "503"}
    assert [(p["name"], p["in"], p["required"]) for p in audit["get"]["parameters"]] == [("model", "query", False)]
    assert not [path for path in paths if path.startswith("/admin")]  # the page and its login form


def test_a_real_job_conforms_to_the_documented_schemas(live_server, document):
    """``Prefer: respond-async`` on a real model: the 202 and every poll match their schemas, the
    result is what the sync 200 documents (its request_id the submission's); an unknown id is a 404."""
    path = "/api/v1/models/sentiment/predict"
    submitted = requests.post(live_server.url + path, json={"text": "What a lovely day"},
                              headers={"Prefer": "respond-async"}, timeout=60)
    accepted = conforms(document, submitted, path, "post")
    assert submitted.status_code == 202 and submitted.headers["Location"] == accepted["url"]
    assert submitted.headers["Preference-Applied"] == "respond-async"
    deadline, body = time.monotonic() + 60, accepted
    while body["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, body
        body = conforms(document, requests.get(live_server.url + accepted["url"], timeout=10), "/api/v1/jobs/{id}",
                        "get")
        time.sleep(0.05)
    assert body["status"] == "done" and body["progress"] == 1.0, body
    assert body["result"]["request_id"] == submitted.headers["X-Request-ID"]
    jsonschema.validate(body["result"], response_schema(document, document["paths"][path]["post"], 200))
    unknown = requests.get(f"{live_server.url}/api/v1/jobs/{'A' * 32}", timeout=10)
    assert unknown.status_code == 404 and "no job with this id" in conforms(document, unknown, "/api/v1/jobs/{id}",
                                                                             "get")["error"]


def test_real_admin_reads_conform_to_the_documented_schemas(live_server, document):
    """Read-only on the session's host: a model's status and the audit log."""
    status = requests.get(f"{live_server.url}/api/v1/admin/models/sentiment", timeout=30)
    body = conforms(document, status, "/api/v1/admin/models/{name}", "get")
    assert status.status_code == 200 and body["model"] == "sentiment" and body["stable"] in body["servable"]
    audit = requests.get(f"{live_server.url}/api/v1/admin/audit", params={"model": "sentiment"}, timeout=30)
    assert audit.status_code == 200 and isinstance(conforms(document, audit, "/api/v1/admin/audit", "get")["audit"],
                                                   list)


@pytest.fixture()
def admin_host(tmp_path):
    """A host of its own for the admin verbs: two versions of emotion and face-detector (a models
    copy), its own lifecycle and feedback files, so nothing it changes reaches other tests."""
    models = versions_copy(tmp_path / "models", ["emotion", "face-detector"], 2)
    server = LiveServer(create_app({"MODELS_DIR": str(models), "TESTING": True, "RATE_LIMIT_PREDICT": None,
                                    "LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"),
                                    "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"}))
    yield server
    server.close()


def test_real_admin_changes_conform_to_the_documented_schemas(admin_host):
    """Each verb done for real, and refused for real (404, 409, 415, 422): every answer is a
    documented status with a body matching its schema."""
    url, document = admin_host.url, requests.get(f"{admin_host.url}/openapi.json", timeout=30).json()
    verb_path = "/api/v1/admin/models/{name}/{verb}"

    def do(verb: str, status: int, **kwargs) -> dict:
        response = requests.post(f"{url}/api/v1/admin/models/emotion/{verb}", timeout=30, **kwargs)
        assert response.status_code == status, (verb, kwargs, response.text)
        return conforms(document, response, verb_path.replace("{verb}", verb), "post")

    assert do("promote", 200, json={"version": 1})["stable"] == 1
    assert "already stable" in do("promote", 409, json={"version": 1})["error"]
    assert "no servable version 9" in do("promote", 404, json={"version": 9})["error"]
    assert "'version' must be an integer" in do("promote", 422, json={"version": "2"})["error"]
    assert "between 0 and 100" in do("canary", 422, json={"version": 2, "percent": 101})["error"]
    assert "unknown field(s) weight" in do("canary", 422, json={"version": 2, "percent": 5, "weight": 1})["error"]
    assert "expected application/json" in do("fallback", 415, data="on", headers={"Content-Type": "text/plain"})[
        "error"]
    assert "malformed JSON" in do("fallback", 400, data="{", headers={"Content-Type": "application/json"})["error"]
    changed = do("canary", 200, json={"version": 2, "percent": 25})
    assert (changed["canary"], changed["percent"]) == (2, 25.0)
    assert do("fallback", 200, json={"on": True})["fallback"] is True
    back = do("rollback", 200)  # no body
    assert (back["stable"], back["canary"]) == (2, None) and back["audit"][0]["action"] == "rollback"
    assert "no previous stable version" in do("rollback", 409, json={})["error"]
    unknown = requests.get(f"{url}/api/v1/admin/models/nope", timeout=30)
    assert unknown.status_code == 404
    conforms(document, unknown, "/api/v1/admin/models/{name}", "get")
    audit = requests.get(f"{url}/api/v1/admin/audit", params={"model": "emotion"}, timeout=30)
    actions = [entry["action"] for entry in conforms(document, audit, "/api/v1/admin/audit", "get")["audit"]]
    assert actions == ["rollback", "fallback-on", "canary", "promote"]


def test_the_admin_routes_answer_the_documented_503_when_the_state_store_is_down(tmp_path):
    """The lifecycle state in a Redis nobody listens on: every admin route answers a JSON 503
    that its document lists (the status read was a 500 before), never a 5xx it does not."""
    models = versions_copy(tmp_path / "models", ["emotion"], 2)
    app = create_app({"MODELS_DIR": str(models), "TESTING": True, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    client = app.test_client()
    document = client.get("/openapi.json").get_json()
    calls = [("get", "/api/v1/admin/models/{name}", None), ("get", "/api/v1/admin/audit", None),
             *[("post", f"/api/v1/admin/models/{{name}}/{verb}", body) for verb, body in (
                 ("promote", {"version": 1}), ("canary", {"version": 1, "percent": 10}), ("rollback", None),
                 ("fallback", {"on": True}))]]
    for method, path, body in calls:
        response = getattr(client, method)(path.replace("{name}", "emotion"), json=body)
        assert response.status_code == 503, (path, response.get_json())
        assert "try again when the state store is back" in response.get_json()["error"]
        op = document["paths"][path][method]
        assert "503" in op["responses"], path
        jsonschema.validate(response.get_json(), response_schema(document, op, 503))


# --- (b) schemathesis against the live server -------------------------------------------------

def fuzz(url: str, schema, examples: int) -> None:
    """Every operation of ``schema``, ``examples`` positive and ``examples`` negative requests
    each (derandomized: the same requests every run), sent over real HTTP to ``url``; every
    failing check is collected with the request that reproduces it, then reported at once.

    Hypothesis drives ``operation.as_strategy()`` directly: schemathesis's own pytest
    integration (``schema.parametrize()``) does not run under the pinned pytest 9."""
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: dict[str, Counter[int]] = {}
    failures: dict[tuple[str, str], str] = {}  # (operation, failure title) -> the first request that shows it
    unnegatable: list[str] = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=SLOWNESS)
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case):
                response = case.call(base_url=url, timeout=120)
                statuses.setdefault(operation.label, Counter())[response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        failures.setdefault((operation.label, failure.title),
                                            f"{failure.message}\n    {case.as_curl_command(base_url=url)}")

            try:
                send()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
                unnegatable.append(operation.label)  # nothing in it can be made invalid (no parameters, no body)

    sent = sum(sum(c.values()) for c in statuses.values())
    every = sum(statuses.values(), Counter())
    print(f"\nschemathesis: {len(operations)} operations, {sent} requests, statuses {dict(sorted(every.items()))}, "
          f"{len(failures)} distinct failures; no negative cases for {len(unnegatable)}: {', '.join(unnegatable)}")
    assert set(statuses) == {op.label for op in operations}, "every operation was exercised"
    assert not failures, "\n\n".join(f"{op}: {title}\n{detail}" for (op, title), detail in failures.items())


def load(url: str):
    config = schemathesis.Config.from_dict({"generation": {"deterministic": True, "database": "none"},
                                            "request-timeout": 120})
    return schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)


def test_the_live_host_behaves_as_its_document_says(live_server):
    """Every operation but /metrics and the admin POSTs (which would move the session's shared
    host between versions: the next test fuzzes them on a host of their own), ``MAX_EXAMPLES``
    positive and negative requests each."""
    schema = load(live_server.url).exclude(path="/metrics").exclude(path_regex=ADMIN_PATHS, method="POST")
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert "GET /api/v1/jobs/{id}" in labels and "GET /api/v1/admin/audit" in labels
    assert not [label for label in labels if label.startswith("POST /api/v1/admin/")]
    fuzz(live_server.url, schema, MAX_EXAMPLES)


def test_the_admin_api_behaves_as_its_document_says(admin_host):
    """The admin operations (the verbs change state: promote, canary, rollback, kill switch) on a
    host of their own, ``ADMIN_EXAMPLES`` positive and negative requests each."""
    schema = load(admin_host.url).include(path_regex=ADMIN_PATHS)
    assert len(list(schema.get_all_operations())) == 6
    fuzz(admin_host.url, schema, ADMIN_EXAMPLES)


# Found by schemathesis (a 500 before the fix in app/inputs.image_bytes: the None key could not be sorted).
@pytest.mark.parametrize("disposition", ['form-data; filename="x.png"', 'form-data; name="\\"'])
def test_a_multipart_part_without_a_name_is_a_422_not_a_500(live_server, disposition):
    """The request schemathesis's fuzzer sent (reduced): no 'image' part, and a part whose name
    is missing or unparseable. It should get the 422 that names the missing 'image' field."""
    body = f'--XyZ\r\nContent-Disposition: {disposition}\r\n\r\n1\r\n--XyZ--\r\n'.encode()
    response = requests.post(f"{live_server.url}/api/v1/models/imagenet/predict", data=body, timeout=60,
                             headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 422, response.text
