"""Model versions on disk: models/<name>/<version>/, integers that only increase."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.manifest import ManifestError, load_manifest
from convert.packages import sha256_file


def version_dirs(models_dir: Path, name: str) -> list[Path]:
    """Existing version folders of ``name``, oldest first."""
    base = models_dir / name
    if not base.is_dir():
        return []
    return sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def next_version(models_dir: Path, name: str) -> int:
    dirs = version_dirs(models_dir, name)
    return int(dirs[-1].name) + 1 if dirs else 1


def intact(version_dir: Path) -> dict[str, Any] | None:
    """The manifest of a version whose files all match their sha256, else None."""
    try:
        manifest = load_manifest(version_dir / "manifest.json")
    except ManifestError:
        return None
    for entry in [*manifest["variants"], *manifest["assets"]]:
        path = version_dir / entry["file"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
    return manifest


def find_same(models_dir: Path, name: str, fingerprint: str) -> Path | None:
    """The newest intact version built from the same inputs (same fingerprint), if any."""
    for version_dir in reversed(version_dirs(models_dir, name)):
        manifest_path = version_dir / "manifest.json"
        try:
            if json.loads(manifest_path.read_text()).get("fingerprint") != fingerprint:
                continue
        except (OSError, json.JSONDecodeError):
            continue
        if intact(version_dir) is not None:
            return version_dir
    return None
