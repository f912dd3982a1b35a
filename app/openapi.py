"""``GET /openapi.json``: the host's API as an OpenAPI 3.1 document, built per request.

It is made from the same schemas that define the requests: each served model's manifest
(``request`` / ``response``, JSON Schema 2020-12, which OpenAPI 3.1 takes as it is), the
pipeline manifests, ``contract/schemas/telemetry.schema.json`` when it exists, and the app's
config (auth, rate limits). Because it is built on every request, a new model version or
pipeline shows up without a restart of anything but the registry.

Each model has its own predict path (``/api/v1/models/imagenet/predict``) because each has
its own request and response schemas; routes that only read (catalog, V2 metadata, artifacts)
take the name as a path parameter whose ``enum`` lists the names this host knows.
Only routes registered on the app are described (``/metrics`` is, the pages are not: ``/``,
``/admin`` and its login form). Async jobs (``app/jobs.py``) appear as the ``Prefer:
respond-async`` header and the ``202`` of each predict path and ``GET /api/v1/jobs/{id}``;
the lifecycle admin API (``app/lifecycle.py``) as ``/api/v1/admin/...`` with its JSON bodies.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app import host_state
from app.auth import HOWTO, scope_of
from app.jobs import JOB_ID
from app.limits import limit_of, route_class
from app.registry import ModelVersion
from contract.manifest import SCHEMAS_DIR, passes
from contract.manifest import schema as contract_schema
from contract.tasks import IMAGE_TASKS

bp = Blueprint("openapi", __name__)

TELEMETRY_SCHEMA_PATH = SCHEMAS_DIR / "telemetry.schema.json"
TELEMETRY_ROUTE = "/api/v1/telemetry"

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERRORS = {
    400: "malformed JSON, invalid UTF-8 or a malformed request",
    401: "no API key, or an unknown or revoked one (auth is on)",
    403: "the key's scope does not allow this route, or the weights of a server-only model",
    404: "unknown model, version, variant, pipeline, file or job",
    405: "method not allowed on this route",
    409: "the lifecycle change cannot be done now (already stable, no earlier version to roll back to, ...)",
    413: "the body is over the upload limit (GET /api/v1/limits)",
    415: "not an image / not JSON",
    422: "valid JSON of the wrong shape (the message names the field and what is expected)",
    429: "over this route class's rate limit for the caller (Retry-After says when to try again)",
    503: "no variant of the model can serve on this host (it failed to load or its self-check), or a store the "
         "route needs cannot be reached (the job queue, the lifecycle state)",
}
# Response headers, described once (``components.headers``) and named by the responses that carry them.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {"description": "this request's id (the caller's well-formed X-Request-ID, else a new one); "
                                    "the same as the body's request_id", "schema": {"type": "string"}},
    "Server-Timing": {"description": "the host's steps and their milliseconds (input, cache, infer, app)",
                      "schema": {"type": "string"}},
    "X-Model-Version": {"description": "the model version that answered (the caller's arm: stable, canary or "
                                       "pinned)", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "X-Cache": {"description": "the result cache's answer, when the host has one",
                "schema": {"enum": ["hit", "miss", "bypass"]}},
    "Location": {"description": "the job to poll: GET /api/v1/jobs/{id}", "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds to wait before asking again", "schema": {"type": "string"}},
    "Preference-Applied": {"description": "respond-async when the request asked for it (RFC 7240)",
                           "schema": {"const": "respond-async"}},
}
PREFER = {"name": "Prefer", "in": "header", "required": False,
          "description": "`respond-async` (RFC 7240): validate the input now, answer 202 and run the prediction as a "
                         "job to poll; other preferences are ignored",
          "schema": {"type": "string"}, "examples": {"async": {"value": "respond-async"}}}
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp")


def _package_version() -> str:
    try:
        return version("browserml")
    except PackageNotFoundError:
        return "0"


def _ident(name: str) -> str:
    """A model or pipeline name as a piece of an operationId (``face-detector`` -> ``face_detector``)."""
    return name.replace("-", "_").replace(".", "_")


def _embed(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """A stand-alone JSON Schema placed at ``pointer`` of the document: its local ``$ref``s
    (``#/$defs/x``) are rewritten to point inside it, and ``$id`` / ``$schema`` are dropped
    (the document's dialect is JSON Schema 2020-12 already)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                    out[key] = pointer + value[1:]
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    embedded = walk(copy.deepcopy(schema))
    embedded.pop("$id", None)
    embedded.pop("$schema", None)
    return dict(embedded)


def _one_of(values: list[str]) -> dict[str, Any]:
    """A path parameter's schema: one of the names this host knows (any string while it knows none)."""
    return {"type": "string", "enum": values} if values else {"type": "string"}


def _headers(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _component(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _sample_image() -> str:
    """A small real PNG (a colour gradient) as base64: the example of the image requests."""
    from PIL import Image

    side = max(64, int(current_app.config["MIN_IMAGE_SIDE"]))
    image = Image.new("RGB", (side, side))
    image.putdata([(x * 255 // side, y * 255 // side, 128) for y in range(side) for x in range(side)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class _Builder:
    """One document: collects paths and component schemas."""

    def __init__(self) -> None:
        self.config = current_app.config
        self.auth = str(self.config["AUTH"]) == "keys"
        self.paths: dict[str, dict[str, Any]] = {}
        self.schemas: dict[str, Any] = {}
        self._image_example: str | None = None

    # --- helpers ---------------------------------------------------------------------------

    def registered(self, endpoint: str) -> bool:
        return endpoint in current_app.view_functions

    def image_example(self) -> str:
        if self._image_example is None:
            self._image_example = _sample_image()
        return self._image_example

    def errors(self, endpoint: str, *statuses: int) -> dict[str, Any]:
        """The error responses of ``endpoint``: ``statuses`` plus what auth and rate limits add."""
        codes = set(statuses)
        if self.auth and scope_of(endpoint) is not None:
            codes |= {401, 403}
        if limit_of(route_class(endpoint)) is not None:
            codes.add(429)
        return {str(code): {"$ref": f"#/components/responses/Error{code}"} for code in sorted(codes)}

    def operation(self, endpoint: str, operation_id: str, summary: str, tag: str,
                  responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
        op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag], **extra,
                              "responses": responses}
        scope = scope_of(endpoint)
        if self.auth and scope is not None:
            op["security"] = [{"bearerAuth": []}]
            op["description"] = (op.get("description", "") + f"\n\nNeeds a key with the `{scope}` scope.").strip()
        return op

    def add(self, path: str, method: str, op: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> None:
        item = self.paths.setdefault(path, {})
        if parameters:
            item["parameters"] = parameters
        item[method] = op

    # --- the task API ----------------------------------------------------------------------

    def predict(self, models: list[ModelVersion]) -> None:
        if not self.registered("predict.predict"):
            return
        registry = host_state().registry
        for model in models:
            key = model.name
            self.schemas[f"{key}.request"] = _embed(model.manifest["request"],
                                                   f"#/components/schemas/{key}.request")
            self.schemas[f"{key}.response"] = _embed(model.manifest["response"],
                                                    f"#/components/schemas/{key}.response")
            # Versions answering with the same schemas as the default one (``?version=``).
            versions = [m.version for m in registry.versions(model.name)
                        if m.manifest["request"] == model.manifest["request"]
                        and m.manifest["response"] == model.manifest["response"]]
            variants = [v["file"] for v in model.manifest["variants"] if "server" in v["backends"]]
            parameters = [
                {"name": "version", "in": "query", "required": False,
                 "description": "a version of the model (default: the newest with a variant that passed)",
                 "schema": {"type": "integer", "enum": versions}},
                {"name": "variant", "in": "query", "required": False,
                 "description": "a variant file that passed its gates on the server (default: the host's choice); "
                                "422 for one that did not, 503 for one refused by this host's self-check",
                 "schema": _one_of(variants)},
            ]
            content = self.request_content(model, f"{key}.request")
            result = {"allOf": [_component(f"{key}.response"), _component("PredictInfo"),
                                {"properties": {"model": {"const": model.name}}}]}
            passed = [v["file"] for v in model.manifest["variants"] if passes(v, "server")]
            description = (f"{model.manifest.get('description', '')}\n\nTask `{model.task}`, default version "
                           f"v{model.version}; variants that passed on the server: "
                           f"{', '.join(passed) or 'none'}.").strip()
            responses = {"200": {**_json(result, f"the {model.task} result, and where and how it was computed"),
                                 "headers": _headers("X-Model-Version", "X-Cache", "X-Request-ID", "Server-Timing")}}
            if self.registered("jobs.job"):
                parameters.append(PREFER)
                responses["202"] = {**_json(_component("JobAccepted"), "queued (Prefer: respond-async, or a text "
                                                                        "batch over the host's ASYNC_OVER): poll "
                                                                        "Location for the result"),
                                    "headers": _headers("Location", "Retry-After", "Preference-Applied",
                                                        "X-Request-ID", "Server-Timing")}
            op = self.operation(
                "predict.predict", f"predict_{_ident(model.name)}", f"Run {model.name} on the server", "models",
                {**responses, **self.errors("predict.predict", 400, 404, 413, 415, 422, 503)},
                description=description, parameters=parameters,
                requestBody={"required": True, "content": content},
            )
            self.add(f"/api/v1/models/{model.name}/predict", "post", op)

    def request_content(self, model: ModelVersion, schema_name: str) -> dict[str, Any]:
        """The request body: JSON per the manifest; image models also take multipart and raw images."""
        json_schema = _component(schema_name)
        if model.task not in IMAGE_TASKS:
            return {"application/json": {"schema": json_schema, "examples": {
                "one text": {"value": {"text": "What a lovely day"}},
                "texts": {"value": {"texts": ["I loved it", "Never again"]}},
            }}}
        return self.image_content(model.manifest["request"], json_schema)

    def image_content(self, request: dict[str, Any], json_schema: dict[str, Any]) -> dict[str, Any]:
        # The multipart form has the JSON request's fields, a base64 string being a file part instead.
        files = {name: {"type": "string", "format": "binary", "description": "the image file"}
                 for name, spec in request.get("properties", {}).items()
                 if isinstance(spec, dict) and spec.get("contentEncoding") == "base64"}
        multipart = {"type": "object", "required": [n for n in request.get("required", []) if n in files],
                     "properties": files}
        return {
            "application/json": {"schema": json_schema,
                                 "examples": {"png": {"value": {"image": self.image_example()}}}},
            "multipart/form-data": {"schema": multipart,
                                    "encoding": {name: {"contentType": ", ".join(IMAGE_MEDIA_TYPES)}
                                                 for name in files}},
            "image/*": {"schema": {"type": "string", "format": "binary",
                                   "description": "the image file's bytes (" + ", ".join(IMAGE_MEDIA_TYPES) + ")"}},
        }

    def pipelines(self, models: dict[str, ModelVersion]) -> None:
        registry = host_state().registry
        names = sorted(registry.pipelines)
        pipeline_schema = contract_schema("pipeline")
        # A pipeline manifest as served: the manifest's fields (from its schema) and the URLs a client needs.
        self.schemas["Pipeline"] = _embed({
            "type": "object",
            "required": [*pipeline_schema["required"], "urls"],
            "properties": {**pipeline_schema["properties"],
                           "urls": {"type": "object", "required": ["predict", "detector", "classifier"],
                                    "properties": {k: {"type": "string"} for k in
                                                   ("predict", "detector", "classifier")}}},
            "$defs": pipeline_schema.get("$defs", {}),
        }, "#/components/schemas/Pipeline")
        name_parameter = {"name": "name", "in": "path", "required": True, "description": "a pipeline's name",
                          "schema": _one_of(names)}
        if self.registered("catalog.list_pipelines"):
            self.add("/api/v1/pipelines", "get", self.operation(
                "catalog.list_pipelines", "list_pipelines", "Every pipeline", "pipelines",
                {"200": _json({"type": "object", "required": ["pipelines"],
                               "properties": {"pipelines": {"type": "array", "items": _component("Pipeline")}}},
                              "the pipelines"), **self.errors("catalog.list_pipelines")}))
        if self.registered("catalog.pipeline_manifest"):
            self.add("/api/v1/pipelines/{name}", "get", self.operation(
                "catalog.pipeline_manifest", "get_pipeline", "A pipeline's manifest", "pipelines",
                {"200": _json(_component("Pipeline"), "the pipeline manifest with its URLs"),
                 **self.errors("catalog.pipeline_manifest", 404)}), [name_parameter])
        if not self.registered("predict.predict_pipeline"):
            return
        for name in names:
            pipeline = registry.pipelines[name]
            detector, classifier = models.get(pipeline["detector"]), models.get(pipeline["classifier"])
            if detector is None or classifier is None or detector.task not in IMAGE_TASKS:
                continue  # a pipeline whose models are not served answers 404/503; nothing to describe
            key = f"pipeline.{name}"
            self.schemas[f"{key}.response"] = self.pipeline_result(pipeline, detector, classifier,
                                                                   f"#/components/schemas/{key}.response")
            self.schemas[f"{key}.request"] = _embed(detector.manifest["request"],
                                                    f"#/components/schemas/{key}.request")
            op = self.operation(
                "predict.predict_pipeline", f"predict_pipeline_{_ident(name)}", f"Run the {name} pipeline",
                "pipelines",
                {"200": _json({"allOf": [_component(f"{key}.response"), _component("PipelineInfo"),
                                         {"properties": {"pipeline": {"const": name}}}]},
                              f"{pipeline['detector']}'s result, each detection with {pipeline['classifier']}'s "
                              f"result under '{pipeline['attach_as']}'"),
                 **self.errors("predict.predict_pipeline", 400, 404, 413, 415, 422, 503)},
                description=pipeline.get("description", ""),
                requestBody={"required": True,
                             "content": self.image_content(detector.manifest["request"],
                                                           _component(f"{key}.request"))},
            )
            self.add(f"/api/v1/pipelines/{name}/predict", "post", op)

    @staticmethod
    def pipeline_result(pipeline: dict[str, Any], detector: ModelVersion, classifier: ModelVersion,
                        pointer: str) -> dict[str, Any]:
        """The detector's response schema with the classifier's response on every detection."""
        detected = _embed(detector.manifest["response"], pointer)
        attached = _embed(classifier.manifest["response"], pointer)
        for spec in detected.get("properties", {}).values():
            items = spec.get("items") if isinstance(spec, dict) and spec.get("type") == "array" else None
            if isinstance(items, dict) and items.get("type") == "object":
                items["required"] = [*items.get("required", []), pipeline["attach_as"]]
                items.setdefault("properties", {})[pipeline["attach_as"]] = attached
        return detected

    # --- the rest of /api/v1 ---------------------------------------------------------------

    def catalog(self, names: list[str]) -> None:
        parameter = {"name": "name", "in": "path", "required": True, "description": "a model's name",
                     "schema": _one_of(names)}
        if self.registered("catalog.list_models"):
            self.add("/api/v1/models", "get", self.operation(
                "catalog.list_models", "list_models", "Every model's default version", "models",
                {"200": _json({"type": "object", "required": ["models"], "properties": {
                    "models": {"type": "array", "items": _component("ModelSummary")}}}, "the catalog"),
                 **self.errors("catalog.list_models")}))
        if self.registered("catalog.model_manifest"):
            self.add("/api/v1/models/{name}", "get", self.operation(
                "catalog.model_manifest", "get_model", "A model version's manifest with artifact URLs", "models",
                {"200": _json(_component("ModelManifest"), "the manifest, its URLs and what this host runs"),
                 **self.errors("catalog.model_manifest", 404, 503)},
                parameters=[{"name": "version", "in": "query", "required": False, "schema": {"type": "integer"},
                             "description": "a version (default: the newest with a variant that passed)"}],
            ), [parameter])
        if self.registered("predict.limits"):
            self.add("/api/v1/limits", "get", self.operation(
                "predict.limits", "get_limits", "What this host accepts", "limits",
                {"200": _json(_component("Limits"), "this host's limits, from its config"),
                 **self.errors("predict.limits")}))

    def telemetry(self) -> None:
        """``POST /api/v1/telemetry``, described when its schema exists (read now, not at import)."""
        if not TELEMETRY_SCHEMA_PATH.is_file():
            return
        try:
            schema = json.loads(TELEMETRY_SCHEMA_PATH.read_text())
        except (OSError, ValueError):
            return  # being written: described once it parses
        if not isinstance(schema, dict):
            return
        self.schemas["Telemetry"] = _embed(schema, "#/components/schemas/Telemetry")
        endpoint = next((rule.endpoint for rule in current_app.url_map.iter_rules()
                         if rule.rule == TELEMETRY_ROUTE and "POST" in (rule.methods or ())), "")
        self.add(TELEMETRY_ROUTE, "post", self.operation(
            endpoint, "post_telemetry", "Report what happened in a browser", "telemetry",
            {"2XX": {"description": "accepted"}, **self.errors(endpoint, 400, 404, 413, 415, 422)},
            requestBody={"required": True, "content": {"application/json": {"schema": _component("Telemetry")}}},
        ))

    def feedback(self, names: list[str]) -> None:
        """``POST /api/v1/feedback`` (``app/feedback.py``)."""
        if not self.registered("feedback.give_feedback"):
            return
        self.schemas["FeedbackRequest"] = {
            "type": "object", "required": ["model", "version", "request_id"], "additionalProperties": False,
            "anyOf": [{"required": ["correct"]}, {"required": ["label"]}],
            "properties": {
                "model": _one_of(names), "version": {"type": "integer"},
                "request_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
                               "description": "the result's request_id (server or browser)"},
                "correct": {"type": "boolean"},
                "label": {"type": "string", "description": "the right label: one of the version's postprocess.labels"},
                "text": {"type": "string", "description": "text models only, and only with consent: true"},
                "consent": {"type": "boolean", "description": "the user agreed to share the text"}}}
        stored = {"type": "object", "required": ["id", "model", "version", "request_id", "correct", "label", "source",
                                                 "created"],
                  "properties": {"id": {"type": "integer"}, "model": {"type": "string"}, "version": {"type": "integer"},
                                 "request_id": {"type": "string"}, "correct": {"type": ["boolean", "null"]},
                                 "label": {"type": ["string", "null"]}, "source": {"enum": ["server", "browser"]},
                                 "created": {"type": "string"}}}
        self.schemas["Feedback"] = stored
        self.add("/api/v1/feedback", "post", self.operation(
            "feedback.give_feedback", "give_feedback", "Say whether a prediction was right", "feedback",
            {"201": _json(_component("Feedback"), "stored (the text is never echoed)"),
             "200": _json(_component("Feedback"), "stored, replacing an earlier feedback on the same prediction"),
             **self.errors("feedback.give_feedback", 400, 404, 415, 422)},
            requestBody={"required": True,
                         "content": {"application/json": {"schema": _component("FeedbackRequest")}}}))

    def jobs(self) -> None:
        """``GET /api/v1/jobs/{id}`` (``app/jobs.py``): an async predict's state, then its result."""
        if not self.registered("jobs.job"):
            return
        self.add("/api/v1/jobs/{id}", "get", self.operation(
            "jobs.job", "get_job", "An async prediction: its state, then its result", "jobs",
            {"200": {**_json(_component("Job"), "the job; 'result' once done, 'error' once failed"),
                     "headers": _headers("Retry-After")},
             **self.errors("jobs.job", 404, 503)},
            description="The `Location` of a predict request answered `202`. Ids are scoped to the caller that "
                        "made the job (its key or page session; anyone holding the id with auth off). An unknown "
                        "id, another caller's, or one whose result expired (JOB_TTL s after it was done) gets "
                        "the same 404. 503: the job queue (Redis) cannot be reached.",
        ), [{"name": "id", "in": "path", "required": True, "description": "the job's id (from the 202 answer)",
             "schema": {"type": "string", "pattern": JOB_ID.pattern}}])

    def lifecycle(self, names: list[str]) -> None:
        """The admin API (``app/lifecycle.py``): a model's status and the CLI's verbs, and the audit log."""
        name = {"name": "name", "in": "path", "required": True, "description": "a model's name",
                "schema": _one_of(names)}
        changed = {"200": _json(_component("LifecycleStatus"), "the model's status after the change")}
        if self.registered("lifecycle.status"):
            self.add("/api/v1/admin/models/{name}", "get", self.operation(
                "lifecycle.status", "admin_model_status", "A model's versions, stable and canary, kill switch",
                "admin",
                {"200": _json(_component("LifecycleStatus"), "the status, with the model's last 20 audit entries"),
                 **self.errors("lifecycle.status", 404, 503)}), [name])
        verbs = (  # (verb, summary, its body's schema, body required, 409 possible)
            ("promote", "Make a version the stable one (a canary of it ends)", "PromoteRequest", True, True),
            ("canary", "Send a share of clients to a version (percent 0 ends the canary)", "CanaryRequest", True,
             True),
            ("rollback", "Back to the stable version before the last promote (ends any canary)", "RollbackRequest",
             False, True),
            ("fallback", "The kill switch: the model's non-ML fallback answers (on), or the model again (off)",
             "FallbackRequest", True, False),
        )
        for verb, summary, body, required, conflict in verbs:
            endpoint = f"lifecycle.{verb}"
            if not self.registered(endpoint):
                continue
            self.add(f"/api/v1/admin/models/{{name}}/{verb}", "post", self.operation(
                endpoint, f"admin_{verb}", summary, "admin",
                {**changed, **self.errors(endpoint, 400, 404, 415, 422, 503, *([409] if conflict else []))},
                description="Audited; every host follows within a second. 404: an unknown model, or a version "
                            "that is not servable (intact, with a variant that passed its gates); "
                            + ("409: the change cannot be done now (the message says why); " if conflict else "")
                            + "422: a body of the wrong shape (unknown fields included); 503: the lifecycle "
                              "state store cannot be reached.",
                requestBody={"required": required,
                             "content": {"application/json": {"schema": _component(body)}}}), [name])
        if self.registered("lifecycle.audit"):
            self.add("/api/v1/admin/audit", "get", self.operation(
                "lifecycle.audit", "admin_audit", "The lifecycle audit log, newest first (at most 500 entries)",
                "admin",
                {"200": _json({"type": "object", "required": ["audit"], "properties": {
                    "audit": {"type": "array", "maxItems": 500, "items": _component("AuditEntry")}}},
                    "the audit entries"),
                 **self.errors("lifecycle.audit", 503)},
                parameters=[{"name": "model", "in": "query", "required": False,
                             "description": "only this model's entries (a name no longer served still has them)",
                             "schema": {"type": "string"}}]))

    # --- V2 ----------------------------------------------------------------------------------

    def v2(self, names: list[str], versions: list[str]) -> None:
        name = {"name": "name", "in": "path", "required": True, "description": "a model's name",
                "schema": _one_of(names)}
        number = {"name": "version", "in": "path", "required": True, "description": "one of the model's versions",
                  "schema": _one_of(versions)}
        if self.registered("v2.server_metadata"):
            self.add("/v2", "get", self.operation(
                "v2.server_metadata", "v2_server_metadata", "Server metadata", "v2",
                {"200": _json(_component("V2ServerMetadata"), "name, version, extensions"),
                 **self.errors("v2.server_metadata")}))
        if self.registered("v2.live"):
            self.add("/v2/health/live", "get", self.operation(
                "v2.live", "v2_live", "Liveness", "v2",
                {"200": _json({"type": "object", "required": ["live"], "properties": {"live": {"const": True}}},
                              "the server is live"), **self.errors("v2.live")}))
        if self.registered("v2.ready"):
            self.add("/v2/health/ready", "get", self.operation(
                "v2.ready", "v2_ready", "Readiness: every model has a server variant that passed its self-check",
                "v2",
                {"200": _json(_component("V2Ready"), "ready; the variant serving each model"),
                 **self.errors("v2.ready", 503)}))
        for suffix, params, tag in (("", [name], "model"), ("/versions/{version}", [name, number], "version")):
            base = f"/v2/models/{{name}}{suffix}"
            if self.registered("v2.model_metadata"):
                self.add(base, "get", self.operation(
                    "v2.model_metadata", f"v2_{tag}_metadata", "Model metadata: inputs and outputs", "v2",
                    {"200": _json(_component("V2ModelMetadata"), "the model's tensors (-1: a dynamic dimension)"),
                     **self.errors("v2.model_metadata", 404, 503)}), params)
            if self.registered("v2.model_ready"):
                self.add(f"{base}/ready", "get", self.operation(
                    "v2.model_ready", f"v2_{tag}_ready", "Model readiness", "v2",
                    {"200": _json(_component("V2ModelReady"), "the model can serve"),
                     **self.errors("v2.model_ready", 404, 503)}), params)
            if self.registered("v2.infer"):
                self.add(f"{base}/infer", "post", self.operation(
                    "v2.infer", f"v2_{tag}_infer", "Inference on raw tensors", "v2",
                    {"200": {"description": "the outputs (JSON, or with the binary tensor data extension the JSON "
                                            "header followed by the tensors' bytes)",
                             "content": {"application/json": {"schema": _component("V2InferResponse")},
                                         "application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}},
                     **self.errors("v2.infer", 400, 404, 413, 422, 503)},
                    requestBody={"required": True, "content": {
                        "application/json": {"schema": _component("V2InferRequest")}}},
                ), params)

    # --- files and metrics -------------------------------------------------------------------

    def artifacts(self, names: list[str], versions: list[str], files: list[str]) -> None:
        if not self.registered("artifacts.artifact"):
            return
        binary = {"schema": {"type": "string", "format": "binary"}}
        self.add("/models/{name}/{version}/{file}", "get", self.operation(
            "artifacts.artifact", "get_artifact", "A version's file: a variant, an asset, the manifest or report",
            "artifacts",
            {"200": {"description": "the file (immutable; ETag = its sha256; Range requests are answered)",
                     "content": {"application/octet-stream": binary, "application/json": {"schema": {}},
                                 "text/markdown": binary, "text/plain": binary, "image/png": binary}},
             "304": {"description": "not modified (If-None-Match)"},
             **self.errors("artifacts.artifact", 403, 404)},
        ), [
            {"name": "name", "in": "path", "required": True, "schema": _one_of(names)},
            {"name": "version", "in": "path", "required": True,
             "schema": _one_of(versions)},
            {"name": "file", "in": "path", "required": True, "schema": _one_of(files)},
        ])

    def metrics(self) -> None:
        if not self.registered("metrics.metrics"):
            return
        self.add("/metrics", "get", self.operation(
            "metrics.metrics", "get_metrics", "Prometheus metrics", "metrics",
            {"200": {"description": "the Prometheus text format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
             **self.errors("metrics.metrics")}))

    # --- the document ------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        registry = host_state().registry
        models = list(registry)  # every model's default version
        by_name = {m.name: m for m in models}
        names = registry.names()
        all_versions = [m for n in names for m in registry.versions(n)]
        versions = sorted({str(m.version) for m in all_versions}, key=int)
        files = sorted({f for m in all_versions for f in m.artifacts})
        self.predict(models)
        self.pipelines(by_name)
        self.catalog(names)
        self.telemetry()
        self.feedback(names)
        self.jobs()
        self.lifecycle(names)
        self.v2(names, versions)
        self.artifacts(names, versions, files)
        self.metrics()
        components: dict[str, Any] = {
            "schemas": {**self.schemas, **_common_schemas()},
            "responses": {f"Error{code}": _json(ERROR_REF, text) for code, text in ERRORS.items()},
            "headers": HEADERS,
        }
        if self.auth:
            components["securitySchemes"] = {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": f"An API key: {HOWTO}. The host's own pages use a session cookie instead.",
            }}
        return {
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": {
                "title": "browserml",
                "version": _package_version(),
                "description": ("Verified ONNX models: the task API (the browser runtime's server fallback) "
                                "and its async jobs, pipelines, the catalog, feedback, the lifecycle admin API, "
                                "the Open Inference Protocol (V2) and the artifacts. "
                                "Every error is JSON {\"error\": \"...\"} saying what to do."),
            },
            "tags": [{"name": tag} for tag in
                     ("models", "jobs", "pipelines", "limits", "feedback", "telemetry", "admin", "v2", "artifacts",
                      "metrics")],
            "paths": self.paths,
            "components": components,
        }


def _common_schemas() -> dict[str, Any]:
    string, integer, obj = {"type": "string"}, {"type": "integer"}, {"type": "object"}
    server_status = {"type": "object", "required": ["variant", "self_check", "refused"], "properties": {
        "variant": {"type": ["string", "null"]}, "self_check": {"type": ["string", "null"]},
        "refused": {"type": "object", "additionalProperties": {"type": "string"}}}}
    nullable_int = {"type": ["integer", "null"]}
    percent = {"type": "number", "minimum": 0, "maximum": 100}
    version = {"type": "integer", "minimum": 1, "description": "a servable version of the model"}
    tensor_meta = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": string, "datatype": string, "shape": {"type": "array", "items": integer}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": string}},
        "PredictInfo": {"type": "object", "required": ["model", "version", "arm", "variant", "backend", "latency_ms"],
                        "properties": {"model": string, "version": integer,
                                       "arm": {"enum": ["stable", "canary", "pinned"], "description":
                                               "how the version was chosen: the stable alias, the caller's canary "
                                               "bucket, or ?version="},
                                       "variant": {"type": ["string", "null"],
                                                   "description": "null: the kill switch is on and the model's "
                                                                  "non-ML fallback answered"},
                                       "backend": {"const": "server"}, "latency_ms": {"type": "number"},
                                       "request_id": {"type": "string", "description":
                                                      "names this prediction in POST /api/v1/feedback"}}},
        "JobAccepted": {"type": "object", "required": ["id", "status", "url"], "properties": {
            "id": string, "status": {"const": "queued"}, "url": {"type": "string", "description": "as Location"}}},
        "Job": {"type": "object", "required": ["id", "status", "progress"], "properties": {
            "id": string, "status": {"enum": ["queued", "running", "done", "failed"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1, "description": "0 until done or failed, then 1"},
            "result": {**_component("PredictInfo"), "description": "what the sync request would have answered "
                                                                   "(the model's response, its request_id the "
                                                                   "submission's)"},
            "error": {"type": "string", "description": "why it failed, and what to do"}},
            "allOf": [{"if": {"properties": {"status": {"const": "done"}}}, "then": {"required": ["result"]}},
                      {"if": {"properties": {"status": {"const": "failed"}}}, "then": {"required": ["error"]}}]},
        "Lifecycle": {"type": "object", "required": ["arm", "stable", "canary", "percent", "fallback"],
                      "description": "the caller's arm and the model's aliases and kill switch", "properties": {
                          "arm": {"enum": ["stable", "canary", "pinned"]}, "stable": nullable_int,
                          "canary": nullable_int, "percent": percent, "fallback": {"type": "boolean"}}},
        "AuditEntry": {"type": "object", "required": [
            "ts", "actor", "model", "action", "from_version", "to_version", "detail"], "properties": {
            "ts": {"type": "string", "description": "UTC, ISO 8601"}, "actor": {
                "type": "string", "description": "the key's name (or who acted with auth off)"},
            "model": string, "action": {"enum": ["promote", "canary", "end-canary", "rollback", "fallback-on",
                                                 "fallback-off"]},
            "from_version": nullable_int, "to_version": nullable_int, "detail": obj}},
        "LifecycleStatus": {"type": "object", "required": [
            "model", "versions", "servable", "stable", "stable_pinned", "previous", "canary", "percent", "fallback",
            "audit"], "properties": {
            "model": string, "versions": {"type": "array", "items": integer, "description": "on disk, oldest first"},
            "servable": {"type": "array", "items": integer,
                         "description": "intact, with a variant that passed its gates"},
            "stable": {**nullable_int, "description": "the stable version in effect"},
            "stable_pinned": {"type": "boolean", "description": "false: the newest servable version (no promote)"},
            "previous": {**nullable_int, "description": "what rollback returns to"},
            "canary": nullable_int, "percent": percent, "fallback": {"type": "boolean"},
            "audit": {"type": "array", "maxItems": 20, "items": _component("AuditEntry")}}},
        "PromoteRequest": {"type": "object", "required": ["version"], "additionalProperties": False,
                           "properties": {"version": version}},
        "CanaryRequest": {"type": "object", "required": ["version", "percent"], "additionalProperties": False,
                          "properties": {"version": version, "percent": {
                              **percent, "description": "the share of clients (sticky per client); 0 ends it"}}},
        "RollbackRequest": {"type": "object", "additionalProperties": False, "description": "no fields (or no body)"},
        "FallbackRequest": {"type": "object", "required": ["on"], "additionalProperties": False,
                            "properties": {"on": {"type": "boolean", "description": "true: the fallback answers"}}},
        "PipelineInfo": {"type": "object", "required": ["pipeline", "models", "backend", "latency_ms"],
                         "properties": {"pipeline": string, "backend": {"const": "server"},
                                        "latency_ms": {"type": "number"},
                                        "models": {"type": "object", "additionalProperties": {
                                            "type": "object", "required": ["model", "version", "variant"],
                                            "properties": {"model": string, "version": integer,
                                                           "variant": string}}}}},
        "ServerStatus": server_status,
        "ModelSummary": {"type": "object", "required": [
            "name", "version", "versions", "task", "manifest_url", "predict_url", "variants", "recommended",
            "server", "lifecycle"], "properties": {
            "name": string, "version": integer, "versions": {"type": "array", "items": integer}, "task": string,
            "description": string, "licence": string, "manifest_url": string, "predict_url": string,
            "variants": {"type": "array", "items": {"type": "object", "required": [
                "file", "precision", "bytes", "sha256", "backends", "passed", "url"], "properties": {
                "file": string, "precision": string, "bytes": integer, "sha256": string,
                "backends": {"type": "array", "items": string},
                "passed": {"type": "object", "additionalProperties": {"type": "boolean"}},
                "url": {"type": ["string", "null"]}}}},
            "recommended": obj, "client": obj, "server": _component("ServerStatus"),
            "lifecycle": _component("Lifecycle")}},
        "ModelManifest": {"type": "object", "required": [
            "schema_version", "name", "version", "task", "inputs", "outputs", "request", "response", "variants",
            "recommended", "urls", "server", "lifecycle"], "properties": {
            "schema_version": integer, "name": string, "version": integer, "task": string,
            "inputs": {"type": "array"}, "outputs": {"type": "array"}, "request": obj, "response": obj,
            "variants": {"type": "array", "items": {"type": "object", "required": ["file", "url"],
                                                    "properties": {"file": string,
                                                                   "url": {"type": ["string", "null"]}}}},
            "assets": {"type": "array", "items": {"type": "object", "required": ["file", "url"]}},
            "backbone": {"type": "object", "description": (
                "a composed model's backbone (another catalog model): the head's URL and, per split, the "
                "backbone model's own variant file URL, or null and `unavailable` (the composed variant is used)"),
                "required": ["model", "version", "output", "head", "splits"], "properties": {
                    "model": string, "version": integer, "output": string,
                    "head": {"type": "object", "required": ["file", "sha256", "url"]},
                    "splits": {"type": "array", "items": {"type": "object", "required": [
                        "variant", "backbone_file", "backbone_sha256", "backbone_url"], "properties": {
                        "backbone_url": {"type": ["string", "null"]}, "unavailable": string}}}}},
            "recommended": obj,
            "urls": {"type": "object", "required": ["manifest", "report", "predict", "v2"], "properties": {
                k: string for k in ("manifest", "report", "predict", "v2")}},
            "server": _component("ServerStatus"), "lifecycle": _component("Lifecycle")}},
        "Limits": {"type": "object", "required": [
            "max_upload_bytes", "max_image_pixels", "min_image_side", "max_text_chars", "max_texts"],
            "properties": {k: integer for k in (
                "max_upload_bytes", "max_image_pixels", "min_image_side", "max_text_chars", "max_texts")}},
        "V2ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {
            "name": string, "version": string, "extensions": {"type": "array", "items": string}}},
        "V2Ready": {"type": "object", "required": ["ready", "models"], "properties": {
            "ready": {"type": "boolean"}, "models": obj}},
        "V2TensorMetadata": tensor_meta,
        "V2ModelMetadata": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
                            "properties": {
                                "name": string, "versions": {"type": "array", "items": string}, "platform": string,
                                "inputs": {"type": "array", "items": _component("V2TensorMetadata")},
                                "outputs": {"type": "array", "items": _component("V2TensorMetadata")},
                                "parameters": obj}},
        "V2ModelReady": {"type": "object", "required": ["name", "version", "ready"], "properties": {
            "name": string, "version": string, "ready": {"type": "boolean"}}},
        "V2InferRequest": {
            "type": "object", "required": ["inputs"],
            "description": "The Open Inference Protocol's inference request (JSON tensors); the binary tensor "
                           "data extension puts the tensors' bytes after this JSON header "
                           "(Inference-Header-Content-Length).",
            "properties": {
                "id": string, "parameters": obj,
                "inputs": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["name", "shape", "datatype"], "properties": {
                        "name": string, "shape": {"type": "array", "items": integer}, "datatype": string,
                        "parameters": obj, "data": {"type": "array"}}}},
                "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                    "name": string, "parameters": obj}}}}},
        "V2InferResponse": {"type": "object", "required": ["model_name", "model_version", "outputs"], "properties": {
            "model_name": string, "model_version": string, "id": string,
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "datatype", "shape"],
                                                   "properties": {"name": string, "datatype": string,
                                                                  "shape": {"type": "array", "items": integer},
                                                                  "data": {"type": "array"}, "parameters": obj}}}}},
    }


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app handling the current request."""
    return _Builder().document()


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_document())
