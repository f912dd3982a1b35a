"""Reading and checking manifests: the contract every part of browserml shares."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).parent / "schemas" / "manifest.schema.json"


class ManifestError(ValueError):
    """A manifest that does not match the schema; the message names the field."""


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise ManifestError naming the first field that breaks the schema."""
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ManifestError(f"manifest field {where}: {first.message}")


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and validate ``path`` (a manifest.json)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: cannot read JSON ({err})") from None
    validate_manifest(manifest)
    return manifest
