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


def pipeline(name: str) -> dict[str, Any]:
    """The pipeline manifest ``make models`` wrote (``models/pipelines/<name>.json``)."""
    from contract.pipelines import PIPELINES_DIR, load_pipeline

    path = MODELS / PIPELINES_DIR / f"{name}.json"
    if not path.is_file():
        raise NotConverted(f"pipeline {name} is not written; run: make models (browserml convert --all)")
    return load_pipeline(path)


def face_crop(image: Any, box: list[float]) -> Any:
    """``image`` cropped around a face ``box`` as the face-emotion pipeline crops it for its classifier."""
    from app.pipelines import crop_box

    return crop_box(image, list(box), float(pipeline("face-emotion")["crop"]["margin"]))

# Golden cases shared by pytest and vitest (frontend/tests reads the same files).
GOLDEN = ROOT / "tests" / "data" / "golden"


def versions_copy(dest: Path, names: list[str], count: int = 2) -> Path:
    """A models directory at ``dest`` where each of ``names`` has ``count`` versions (1..count),
    each a copy of its newest converted version (files hard-linked, the manifest's version
    rewritten): for the lifecycle tests, which move traffic between versions."""
    import os
    import shutil

    for name in names:
        source = latest_version_dir(name)
        for number in range(1, count + 1):
            target = dest / name / str(number)
            target.mkdir(parents=True)
            for file in source.iterdir():
                if file.name == "manifest.json":
                    manifest = json.loads(file.read_text())
                    manifest["version"] = number
                    (target / file.name).write_text(json.dumps(manifest, indent=2))
                elif file.is_file():
                    try:
                        os.link(file, target / file.name)
                    except OSError:
                        shutil.copy2(file, target / file.name)
    return dest


def sabotage_self_check(version_dir: Path, file: str) -> None:
    """Shift ``file``'s expected outputs in the version's selfcheck.npz by 0.5 (as a CPU with wrong
    int8 numerics would, seen from the other side) and re-hash it, so the version stays intact
    but that variant no longer reproduces its references: for the tests of the self-check."""
    import hashlib

    import numpy as np

    from contract import selfcheck

    manifest_path = version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    path = version_dir / manifest["self_check"]["file"]
    arrays = selfcheck.load(path)
    for key in arrays:
        if key.startswith(f"expected/{file}/"):
            arrays[key] = arrays[key] + np.float32(0.5)
    # New files renamed into place: a copy made by ``versions_copy`` hard-links the catalog's files,
    # and writing into one would change the catalog's own version too.
    staged = path.with_name(path.name + ".new")
    with staged.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    staged.replace(path)
    data = path.read_bytes()
    manifest["self_check"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    staged = manifest_path.with_name("manifest.json.new")
    staged.write_text(json.dumps(manifest))
    staged.replace(manifest_path)
