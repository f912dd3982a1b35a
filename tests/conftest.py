"""Shared fixtures: the project root and the converted catalog (built by `make models`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CATALOG = sorted(p.stem for p in (MODELS / "catalog").glob("*.toml"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def latest_version_dir(name: str) -> Path:
    """The newest converted version of a catalog model; fails with the command to run."""
    versions = sorted((p for p in (MODELS / name).glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
    if not versions:
        pytest.fail(f"{name} is not converted; run: make models (browserml convert --all)")
    return versions[-1]


def latest_manifest(name: str) -> dict[str, Any]:
    return json.loads((latest_version_dir(name) / "manifest.json").read_text())
