"""Reading and checking manifests: the contract every part of browserml shares."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).parent / "schemas"
SCHEMA_PATH = SCHEMAS_DIR / "manifest.schema.json"


class ManifestError(ValueError):
    """A manifest that does not match the schema; the message names the field."""


# --- The contract's JSON Schemas (schemas/<name>.schema.json): manifest, pipeline, telemetry ----

@cache
def schema(name: str = "manifest") -> dict[str, Any]:
    """The JSON Schema ``schemas/<name>.schema.json`` (read once)."""
    return dict(json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text(encoding="utf-8")))


@cache
def validator(name: str = "manifest") -> Any:
    """A Draft 2020-12 validator (formats checked) of ``schemas/<name>.schema.json``."""
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name), format_checker=jsonschema.FormatChecker())


def check(document: Any, name: str, what: str) -> None:
    """Raise ManifestError naming the first field of ``document`` that breaks schema ``name``."""
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise ManifestError(f"{what} field {where}: {errors[0].message}")


def read_checked(path: Path, name: str, what: str) -> dict[str, Any]:
    """Read the JSON file ``path`` and check it against schema ``name``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: cannot read JSON ({err})") from None
    check(document, name, what)
    return dict(document)


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise ManifestError naming the first field that breaks the schema."""
    check(manifest, "manifest", "manifest")


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and validate ``path`` (a manifest.json)."""
    return read_checked(path, "manifest", "manifest")


# --- Verdicts per backend -------------------------------------------------------------------
# A variant is judged on the runtime of each backend it suits (``variant["gates"][backend]``):
# native ONNX Runtime for the server, ONNX Runtime Web's WASM build for the browser (WebGPU is
# judged by the WASM measurement: no GPU runs at conversion). TF.js graph models (``"format":
# "tfjs-graph"``) are judged on TF.js's wasm backend, and TF.js's WebGL and WebGPU backends take
# that verdict. Every reader asks these helpers rather than reading the verdicts itself.
ORT_BROWSER_BACKENDS = ("webgpu", "wasm")
TFJS_BACKENDS = ("tfjs-wasm", "tfjs-webgl", "tfjs-webgpu")
BROWSER_BACKENDS = ORT_BROWSER_BACKENDS + TFJS_BACKENDS
# A backend with no runtime at conversion -> the runtime whose measurement judges it.
JUDGED_BY = {"webgpu": "wasm", "tfjs-webgl": "tfjs-wasm", "tfjs-webgpu": "tfjs-wasm"}

# Agreement with the source model, most telling first: the server ranks its variants by these
# (rounded to 3 decimals, so float noise does not decide), then by native latency.
FAITHFULNESS = ("top1_agreement_confident", "top1_agreement", "face_count_agreement", "box_iou_min", "cosine_min")


def passes(variant: dict[str, Any], backend: str) -> bool:
    """Did ``variant`` pass its gates on ``backend``'s runtime?"""
    return bool(variant.get("gates", {}).get(backend, {}).get("passed", False))


def passes_in_browser(variant: dict[str, Any]) -> bool:
    """Did ``variant`` pass on a browser backend (so its weights may be served)?"""
    return any(passes(variant, backend) for backend in BROWSER_BACKENDS)


def gate_reasons(variant: dict[str, Any]) -> list[str]:
    """Every broken gate, prefixed with the backend it broke on."""
    return [f"{backend}: {reason}" for backend, verdict in variant.get("gates", {}).items()
            for reason in verdict.get("reasons", [])]


def server_preference(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Variants that passed on the server, the one to run first.

    A server is not bound by download size: the most faithful variant wins (agreement with
    the source first, then the order of magnitude of its largest output difference), then
    the fastest on the native runtime (fp16 on a CPU is usually slower than fp32: ORT
    inserts casts), then the smallest.
    """
    def key(variant: dict[str, Any]) -> tuple[float, ...]:
        server = variant["evaluations"]["server"]
        metrics = server["metrics"]
        faith = tuple(-round(float(metrics.get(name, 1.0)), 3) for name in FAITHFULNESS)
        magnitude = math.floor(math.log10(max(float(metrics.get("max_abs_diff", 0.0)), 1e-12)))
        return (*faith, magnitude, float(server["latency_ms"].get("threads_1", float("inf"))), float(variant["bytes"]))

    return sorted((v for v in variants if passes(v, "server")), key=key)
