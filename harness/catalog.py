"""The catalog as ``make models`` (``browserml convert --all``) leaves it on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.versions import version_dirs

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CATALOG = sorted(p.stem for p in (MODELS / "catalog").glob("*.toml"))


class NotConverted(LookupError):
    """A catalog model has no converted version; the message says what to run."""


def latest_version_dir(name: str) -> Path:
    """The newest converted version of a catalog model."""
    versions = version_dirs(MODELS, name)
    if not versions:
        raise NotConverted(f"{name} is not converted; run: make models (browserml convert --all)")
    return versions[-1]


def latest_manifest(name: str) -> dict[str, Any]:
    return json.loads((latest_version_dir(name) / "manifest.json").read_text())
