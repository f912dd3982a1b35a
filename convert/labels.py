"""Human-readable ImageNet-1k class names, read from timm's bundled package data.

timm is installed with ``--no-deps`` purely as a data carrier and does not import cleanly, so
its files are located with ``importlib.util.find_spec`` instead of ``import timm``.

Naming rule: each class is the first WordNet lemma of its synset ("tabby, tabby cat" ->
"tabby"), which is short and what most ImageNet label lists show. Two first lemmas collide
("crane" bird vs machine, "maillot" tights vs swimsuit); those are disambiguated explicitly so
every index maps to a distinct, readable name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

TIMM_HINT = "pip install --no-deps timm==1.0.31"

# Synsets whose first lemma is shared with another ImageNet-1k class.
_DISAMBIGUATED = {
    "n02012849": "crane (bird)",
    "n03126707": "crane (machine)",
    "n03710637": "maillot (tights)",
    "n03710721": "tank suit",
}


def _timm_info_dir() -> Path:
    """Return timm's ``data/_info`` directory without importing timm."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"ImageNet labels need timm's package data: {TIMM_HINT}")
    info = Path(spec.submodule_search_locations[0]) / "data" / "_info"
    if not info.is_dir():
        raise RuntimeError(f"timm is installed but has no {info}; reinstall: {TIMM_HINT}")
    return info


def imagenet_labels() -> list[str]:
    """Return the 1000 ImageNet-1k class names in class-index order."""
    info = _timm_info_dir()
    synsets = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    lemmas: dict[str, str] = {}
    with open(info / "imagenet_synset_to_lemma.txt", encoding="utf-8") as f:
        for line in f:
            synset, sep, names = line.rstrip("\n").partition("\t")
            if sep:
                lemmas[synset] = names
    labels = [_DISAMBIGUATED.get(s) or lemmas[s].split(",")[0].strip() for s in synsets]
    if len(labels) != 1000 or len(set(labels)) != 1000:
        raise RuntimeError(f"unexpected ImageNet label data in {info}; reinstall: {TIMM_HINT}")
    return labels
