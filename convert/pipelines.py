"""Pipeline recipes (``models/catalog/pipelines/<name>.toml``) -> pipeline manifests
(``models/pipelines/<name>.json``, ``contract.pipelines``). Nothing is converted: the recipe
is checked (schema, and that its models exist in the catalog with the right tasks) and
written where the host reads it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from contract.manifest import ManifestError
from contract.pipelines import PIPELINES_DIR, validate_pipeline
from convert.errors import ConversionError
from convert.recipe import catalog_dir, list_recipes, load_recipe

# What each role of a detect-then-classify pipeline must be.
ROLE_TASKS = {"detector": "face-detection", "classifier": "image-classification"}


def pipeline_recipes_dir(root: Path) -> Path:
    return catalog_dir(root) / "pipelines"


def list_pipelines(root: Path) -> list[str]:
    """Names of every pipeline recipe, sorted."""
    return sorted(p.stem for p in pipeline_recipes_dir(root).glob("*.toml"))


def build_pipeline(name: str, root: Path) -> dict[str, Any]:
    """The pipeline manifest of recipe ``name``; ConversionError naming what to fix."""
    path = pipeline_recipes_dir(root) / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConversionError(f"{path}: cannot read the pipeline recipe ({err})") from None
    manifest = {"schema_version": 1, **raw}
    try:
        validate_pipeline(manifest)
    except ManifestError as err:
        raise ConversionError(f"{path.name}: {err}") from None
    if manifest["name"] != name:
        raise ConversionError(f"{path.name} says name = {manifest['name']!r}; it must match the file name")
    known = list_recipes(root)
    for role, task in ROLE_TASKS.items():
        model = manifest[role]
        if model not in known:
            raise ConversionError(f"{path.name}: {role} {model!r} is not a catalog model; known: {', '.join(known)}")
        actual = load_recipe(model, root).task
        if actual != task:
            raise ConversionError(f"{path.name}: {role} {model!r} is a {actual} model; a {role} must be {task}")
    return manifest


def write_pipeline(name: str, root: Path, models_dir: Path) -> Path:
    """Check recipe ``name`` and write ``models_dir/pipelines/<name>.json``."""
    manifest = build_pipeline(name, root)
    target = Path(models_dir) / PIPELINES_DIR / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.replace(target)
    return target
