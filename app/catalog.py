"""The catalog: what models exist and where their artifacts are.

``GET /api/v1/models`` lists every model's default version with its variants,
their URLs, sizes and the recommended variant per backend, and what this host's
server runs (``server``: the variant, its self-check, variants refused here and why);
``GET /api/v1/models/<name>`` returns that version's manifest with artifact URLs.
``GET /api/v1/pipelines[/<name>]`` lists the pipelines (chains of models) with their URLs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from app import host_state
from app.errors import ApiError
from app.lifecycle import choose, describe
from app.registry import ModelVersion
from contract.manifest import passes, passes_in_browser

bp = Blueprint("catalog", __name__, url_prefix="/api/v1")


def artifact_url(model: ModelVersion, file: str) -> str:
    return f"/models/{model.name}/{model.version}/{file}"


def _variant_summary(model: ModelVersion, variant: dict[str, Any]) -> dict[str, Any]:
    served = passes_in_browser(variant) and not model.server_only
    return {
        "file": variant["file"],
        "format": variant.get("format", "onnx"),
        "precision": variant["precision"],
        "bytes": variant["bytes"],
        "sha256": variant["sha256"],
        "backends": variant["backends"],
        "passed": {backend: passes(variant, backend) for backend in variant["backends"]},
        "url": artifact_url(model, variant["file"]) if served else None,
    }


def summary(model: ModelVersion, arm: str) -> dict[str, Any]:
    """One catalog entry: identity, variants with URLs, recommendations, other versions, and the
    lifecycle (the caller's arm, the aliases, the kill switch)."""
    manifest = model.manifest
    registry = host_state().registry
    return {
        "name": model.name,
        "version": model.version,
        "versions": [m.version for m in registry.versions(model.name)],
        "task": model.task,
        "description": manifest.get("description", ""),
        "licence": manifest.get("licence", ""),
        "manifest_url": artifact_url(model, "manifest.json"),
        "predict_url": f"/api/v1/models/{model.name}/predict",
        "variants": [_variant_summary(model, v) for v in manifest["variants"]],
        "recommended": manifest["recommended"],
        "client": manifest.get("client", {}),
        "server": host_state().pool.status(model),
        "lifecycle": describe(model.name, arm),
    }


@bp.get("/models")
def list_models() -> dict[str, Any]:
    """Every model that has a version to serve, in the version this caller gets."""
    registry = host_state().registry
    entries = []
    for name in registry.names():
        try:
            model, arm = choose(registry, name)
        except ApiError:
            continue  # no version passed its gates: nothing to serve
        entries.append(summary(model, arm))
    return {"models": entries}


@bp.get("/models/<name>")
def model_manifest(name: str) -> dict[str, Any]:
    model, arm = choose(host_state().registry, name, request.args.get("version"))
    manifest = dict(model.manifest)
    manifest["variants"] = [
        {**v, "url": _variant_summary(model, v)["url"]} for v in model.manifest["variants"]
    ]
    manifest["assets"] = [{**a, "url": artifact_url(model, a["file"])} for a in model.manifest.get("assets", [])]
    manifest["urls"] = {
        "manifest": artifact_url(model, "manifest.json"),
        "report": artifact_url(model, "report.md"),
        "predict": f"/api/v1/models/{model.name}/predict",
        "v2": f"/v2/models/{model.name}/versions/{model.version}",
    }
    if "backbone" in manifest:
        manifest["backbone"] = _backbone_with_urls(model)
    manifest["server"] = host_state().pool.status(model)
    manifest["lifecycle"] = describe(model.name, arm)
    return manifest


def _backbone_with_urls(model: ModelVersion) -> dict[str, Any]:
    """The manifest's ``backbone`` section with URLs: the head's, and per split the backbone model's
    own variant file (its version as the manifest names it), or null and ``unavailable`` saying why
    (the browser then loads the composed variant, and says so)."""
    section = model.manifest["backbone"]
    name, version = section["model"], section["version"]
    backbone: ModelVersion | None = None
    missing = None
    try:
        backbone = host_state().registry.resolve(name, version)
    except ApiError as err:
        missing = f"{name} v{version} is not served by this host ({err.message})"
    head_ok = model.artifacts.get(section["head"]["file"])
    splits = []
    for split in section["splits"]:
        why = missing
        if why is None and not passes_in_browser(split):
            why = "the split did not pass its gates in the browser"
        if why is None and (head_ok is None or not head_ok.passed or model.server_only):
            why = f"{section['head']['file']} is not served"
        if why is None and backbone is not None:
            entry = next((v for v in backbone.manifest["variants"] if v["file"] == split["backbone_file"]), None)
            if entry is None or entry["sha256"] != split["backbone_sha256"]:
                sha = split["backbone_sha256"][:12]
                why = f"{name} v{version} has no {split['backbone_file']} with sha256 {sha}..."
            elif _variant_summary(backbone, entry)["url"] is None:
                why = f"{name} v{version} does not serve {split['backbone_file']} to browsers"
        url = artifact_url(backbone, split["backbone_file"]) if why is None and backbone is not None else None
        splits.append({**split, "backbone_url": url, **({"unavailable": why} if why else {})})
    head = {**section["head"], "url": artifact_url(model, section["head"]["file"])}
    return {**section, "head": head, "splits": splits}


def pipeline_summary(pipeline: dict[str, Any]) -> dict[str, Any]:
    """A pipeline manifest with the URLs a client needs: its models' and its predict route."""
    return {
        **pipeline,
        "urls": {
            "predict": f"/api/v1/pipelines/{pipeline['name']}/predict",
            "detector": f"/api/v1/models/{pipeline['detector']}",
            "classifier": f"/api/v1/models/{pipeline['classifier']}",
        },
    }


@bp.get("/pipelines")
def list_pipelines() -> dict[str, Any]:
    registry = host_state().registry
    return {"pipelines": [pipeline_summary(registry.pipelines[name]) for name in sorted(registry.pipelines)]}


@bp.get("/pipelines/<name>")
def pipeline_manifest(name: str) -> dict[str, Any]:
    return pipeline_summary(host_state().registry.pipeline(name))
