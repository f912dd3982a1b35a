"""What a task needs besides its input: files a version ships beside its variants.

This is the one place that says which asset plays which part, from the manifest:
``preprocess.tokenizer`` is the text tasks' tokenizer, ``fallback.lexicon`` the
lexicon text classification falls back on. The caller that owns the version folder
(the host's registry, the pipeline's work folder, a test) loads them once with
``load_assets`` and passes them to ``prepare`` and ``finish``; the task functions
never see a path. The browser mirrors this in ``frontend/src/tasks/assets.ts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TaskAssets:
    """Loaded assets: the tokenizer (text tasks) and VADER's analyzer (the lexicon fallback)."""

    tokenizer: Any = None
    lexicon: Any = None


NO_ASSETS = TaskAssets()


def asset_roles(manifest: Mapping[str, Any]) -> dict[str, str]:
    """``{"tokenizer": file, "lexicon": file}`` for the assets this manifest's task uses."""
    roles = {}
    if manifest.get("preprocess", {}).get("tokenizer"):
        roles["tokenizer"] = str(manifest["preprocess"]["tokenizer"])
    if manifest.get("fallback", {}).get("lexicon"):
        roles["lexicon"] = str(manifest["fallback"]["lexicon"])
    return roles


def load_assets(manifest: Mapping[str, Any], directory: Path) -> TaskAssets:
    """Load every asset ``asset_roles`` names, from the version folder ``directory``."""
    from contract.tasks.lexicon import analyzer
    from contract.tasks.tokenization import load_tokenizer, max_length

    roles = asset_roles(manifest)
    tokenizer = lexicon = None
    if "tokenizer" in roles:
        tokenizer = load_tokenizer(Path(directory) / roles["tokenizer"], max_length(manifest["preprocess"]))
    if "lexicon" in roles:
        lexicon = analyzer(Path(directory) / roles["lexicon"])
    return TaskAssets(tokenizer=tokenizer, lexicon=lexicon)
