"""Model versions on disk, ``models/<name>/<version>/``: where they are, and whether one is intact.

A version is intact when its manifest is valid, lives in the folder it names, and every
file it names (variants, assets, the self-check) is inside the folder with the size and
sha256 the manifest states. The host serves only intact versions; the pipeline reuses
only an intact one. Both ask ``check_intact``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contract.integrity import sha256_file
from contract.manifest import ManifestError, load_manifest

MANIFEST = "manifest.json"
# Files of a version that are public besides the variants and assets.
META_FILES = (MANIFEST, "report.md", "report.png")


def version_dirs(models_dir: Path, name: str) -> list[Path]:
    """Existing version folders of ``name``, oldest first."""
    base = Path(models_dir) / name
    if not base.is_dir():
        return []
    return sorted((p for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def manifest_paths(models_dir: Path) -> Iterator[Path]:
    """Every ``<name>/<version>/manifest.json`` under ``models_dir``, by name then version."""
    base = Path(models_dir)
    if not base.is_dir():
        return
    for model_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for version_dir in version_dirs(base, model_dir.name):
            if (version_dir / MANIFEST).is_file():
                yield version_dir / MANIFEST


def named_files(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every file entry a manifest names (``file``, ``bytes``, ``sha256``) with its kind:
    "weights" (a variant), "shard" (a weight file of a TF.js graph model, listed in its variant's
    ``shards``), "head" (the head alone of a model with a ``backbone``), "asset" (e.g.
    tokenizer.json) or "selfcheck"."""
    # A variant's ``bytes`` is what a browser downloads: for a TF.js graph model, model.json + its shards.
    entries = [({**v, "bytes": v["bytes"] - sum(s["bytes"] for s in v.get("shards", []))}, "weights")
               for v in manifest["variants"]]
    entries += [(s, "shard") for v in manifest["variants"] for s in v.get("shards", [])]
    entries += [(a, "asset") for a in manifest.get("assets", [])]
    if "backbone" in manifest:
        entries.append((manifest["backbone"]["head"], "head"))
    if "self_check" in manifest:
        entries.append((manifest["self_check"], "selfcheck"))
    return entries


def inside(directory: Path, file: str) -> Path:
    """``directory / file``, refusing any name that escapes the directory."""
    path = (directory / file).resolve()
    if directory.resolve() not in path.parents:
        raise ManifestError(f"file name {file!r} escapes {directory}")
    return path


def check_intact(version_dir: Path) -> dict[str, Any]:
    """The manifest of an intact version; ManifestError naming the first problem otherwise."""
    manifest = load_manifest(version_dir / MANIFEST)
    if manifest["name"] != version_dir.parent.name or str(manifest["version"]) != version_dir.name:
        raise ManifestError(f"manifest says {manifest['name']} v{manifest['version']} but lives in {version_dir}")
    for entry, _ in named_files(manifest):
        path = inside(version_dir, entry["file"])
        if not path.is_file():
            raise ManifestError(f"{entry['file']} is missing from {version_dir}")
        if path.stat().st_size != entry["bytes"]:
            raise ManifestError(f"{entry['file']} is {path.stat().st_size} bytes, the manifest says {entry['bytes']}")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ManifestError(
                f"{entry['file']} has sha256 {actual[:12]}..., the manifest says {entry['sha256'][:12]}..."
            )
    return manifest
