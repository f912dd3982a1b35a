"""New versions: numbers that only increase, and reuse of an identical intact one."""

from __future__ import annotations

import json
from pathlib import Path

from contract.manifest import ManifestError
from contract.versions import MANIFEST, check_intact, version_dirs


def next_version(models_dir: Path, name: str) -> int:
    dirs = version_dirs(models_dir, name)
    return int(dirs[-1].name) + 1 if dirs else 1


def find_same(models_dir: Path, name: str, fingerprint: str) -> Path | None:
    """The newest intact version built from the same inputs (same fingerprint), if any."""
    for version_dir in reversed(version_dirs(models_dir, name)):
        try:
            if json.loads((version_dir / MANIFEST).read_text()).get("fingerprint") != fingerprint:
                continue
            check_intact(version_dir)
        except (OSError, json.JSONDecodeError, ManifestError):
            continue
        return version_dir
    return None
