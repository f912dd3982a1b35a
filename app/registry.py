"""The model registry: which model versions exist, which are intact, which is served.

It reads ``models/<name>/<version>/manifest.json``, checks every file the
manifest names (present, same size, same sha256) and keeps the intact
versions. A broken version is logged and skipped; the rest keep serving (asked for by
number, it answers 503 with the reason).

The version a caller gets by default is the newest one with at least one
variant that passed its gates (on any backend: ``contract.manifest.passes``).
``resolve`` is the single place that decides, so aliases, A/B arms and rollback
can be added there later. What "intact" means is ``contract.versions.check_intact``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from app.errors import ApiError
from contract.integrity import sha256_file
from contract.manifest import (
    ManifestError,
    gate_reasons,
    passes,
    passes_in_browser,
    server_preference,
)
from contract.pipelines import load_pipeline, pipeline_paths
from contract.tasks.assets import TaskAssets, load_assets
from contract.versions import META_FILES, check_intact, inside, manifest_paths, named_files

log = logging.getLogger("browserml")


@dataclass(frozen=True)
class Artifact:
    """One servable file of a version."""

    file: str
    path: Path
    sha256: str
    kind: str  # "weights" (a variant), "shard" (of a TF.js graph model), "head" (backbone split), "asset",
    # "selfcheck" or "meta"
    passed: bool = True  # weights (head): did the variant (a split) pass in the browser, so it may be served

    def changed_to(self) -> str | None:
        """None while the file on disk still has the sha256 the registry checked at start; else what it
        has now: its sha256, or "unreadable (<error>)". Cheap: ``sha256_file`` remembers a file by its
        size and modification time."""
        try:
            found = sha256_file(self.path)
        except OSError as err:
            return f"unreadable ({type(err).__name__})"
        return None if found == self.sha256 else found


@dataclass
class ModelVersion:
    """An intact, verified model version and its manifest."""

    name: str
    version: int
    directory: Path  # absolute
    manifest: dict[str, Any]
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    @cached_property
    def assets(self) -> TaskAssets:
        """The version's task assets (tokenizer, lexicon), loaded once: a version's files never
        change while it is served."""
        return load_assets(self.manifest, self.directory)

    @property
    def task(self) -> str:
        return str(self.manifest["task"])

    @property
    def server_only(self) -> bool:
        return bool(self.manifest.get("client", {}).get("server_only", False))

    @property
    def passing_variants(self) -> list[dict[str, Any]]:
        """Variants that passed their gates on at least one backend."""
        return [v for v in self.manifest["variants"] if any(passes(v, b) for b in v["backends"])]

    def variant(self, file: str) -> dict[str, Any]:
        """The entry of variant ``file`` for the server: 404 if unknown, 422 if it failed there."""
        for entry in self.manifest["variants"]:
            if entry["file"] == file:
                if not passes(entry, "server"):
                    why = "; ".join(gate_reasons(entry)) or "it does not suit the server"
                    raise ApiError(
                        422,
                        f"variant {file} of {self.name} v{self.version} did not pass its gates on the server "
                        f"({why}); choose one of {', '.join(self.server_candidates) or 'none'}.",
                    )
                return entry
        raise ApiError(
            404,
            f"{self.name} v{self.version} has no variant {file!r}; the server runs "
            f"{', '.join(self.server_candidates) or 'none'}.",
        )

    @cached_property
    def server_candidates(self) -> list[str]:
        """Variants the server may run, the first choice first: the manifest's recommendation,
        then the others that passed on the server, most faithful then fastest."""
        ranked = [v["file"] for v in server_preference(self.manifest["variants"])]
        recommended = self.manifest.get("recommended", {}).get("server")
        if recommended in ranked:
            ranked.remove(recommended)
            ranked.insert(0, recommended)
        return ranked

    @cached_property
    def self_check_arrays(self) -> dict[str, Any]:
        """The reference inputs and expected outputs of ``selfcheck.npz`` (read once)."""
        from contract import selfcheck

        return selfcheck.load(self.artifacts[self.manifest["self_check"]["file"]].path)


class Registry:
    """Every intact model version under ``models_dir``."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self._versions: dict[str, dict[int, ModelVersion]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}  # pipeline manifests by name
        self.broken: dict[str, str] = {}  # "<name>/<version>" (or "pipelines/<name>") -> why it is skipped
        self.reload()

    def reload(self) -> None:
        """Scan the models directory again (new versions appear, broken ones are skipped)."""
        versions: dict[str, dict[int, ModelVersion]] = {}
        broken: dict[str, str] = {}
        if not self.models_dir.is_dir():
            log.warning("models directory %s does not exist; run: browserml convert --all", self.models_dir)
        for manifest_path in manifest_paths(self.models_dir):
            where = f"{manifest_path.parent.parent.name}/{manifest_path.parent.name}"
            try:
                model = _load_version(manifest_path)
            except (ManifestError, OSError, ValueError) as err:
                broken[where] = str(err)
                log.error("skipping model %s: %s", where, err)
                continue
            versions.setdefault(model.name, {})[model.version] = model
        pipelines: dict[str, dict[str, Any]] = {}
        for path in pipeline_paths(self.models_dir):
            try:
                pipeline = load_pipeline(path)
            except ManifestError as err:
                broken[f"pipelines/{path.stem}"] = str(err)
                log.error("skipping pipeline %s: %s", path.stem, err)
                continue
            pipelines[pipeline["name"]] = pipeline
        self._versions, self.pipelines, self.broken = versions, pipelines, broken
        log.info("registry: %d models (%s); %d broken versions skipped",
                 len(versions), ", ".join(sorted(versions)) or "none", len(broken))

    def pipeline(self, name: str) -> dict[str, Any]:
        """The pipeline manifest ``name`` (404 naming the known ones)."""
        if name not in self.pipelines:
            known = ", ".join(sorted(self.pipelines)) or "none (run: browserml convert --all)"
            raise ApiError(404, f"unknown pipeline {name!r}; known pipelines: {known}.")
        return self.pipelines[name]

    def names(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every intact version of ``name``, oldest first (404 if the model is unknown)."""
        if name not in self._versions:
            known = ", ".join(self.names()) or "none (run: browserml convert --all)"
            raise ApiError(404, f"unknown model {name!r}; known models: {known}.")
        return [self._versions[name][v] for v in sorted(self._versions[name])]

    def resolve(self, name: str, version: int | str | None = None) -> ModelVersion:
        """The version to serve: ``version`` if given, else the newest with a passing variant."""
        versions = self.versions(name)
        if version is None or version == "":
            servable = [m for m in versions if m.passing_variants]  # newest with a passing variant
            if not servable:
                raise ApiError(503, f"{name} has no version with a variant that passed its gates; "
                                    "convert it again (browserml convert) and check its report.")
            return servable[-1]
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise ApiError(404, f"version {version!r} of {name} is not a version number; "
                                f"versions: {', '.join(str(m.version) for m in versions)}.") from None
        for model in versions:
            if model.version == number:
                return model
        reason = self.broken.get(f"{name}/{number}")
        if reason is not None:  # on disk but skipped: say why (e.g. a file whose sha256 changed)
            raise ApiError(503, f"{name} v{number} is not served: {reason}. Restore its files or convert it "
                                "again (browserml convert), then restart the host.")
        raise ApiError(404, f"{name} has no version {number}; versions: "
                            f"{', '.join(str(m.version) for m in versions)}.")

    def __iter__(self) -> Iterator[ModelVersion]:
        """The default version of every model that has one to serve."""
        for name in self.names():
            try:
                yield self.resolve(name)
            except ApiError:
                continue


def _load_version(manifest_path: Path) -> ModelVersion:
    directory = manifest_path.parent
    manifest = check_intact(directory)
    if not any(passes(v, b) for v in manifest["variants"] for b in v["backends"]):
        log.warning("%s v%s: no variant passed its gates; listed but not served",
                    manifest["name"], manifest["version"])
    artifacts: dict[str, Artifact] = {}
    shard_of = {s["file"]: v for v in manifest["variants"] for s in v.get("shards", [])}
    for entry, kind in named_files(manifest):
        passed = True
        if kind == "weights":
            passed = passes_in_browser(entry)
        elif kind == "shard":  # served when its TF.js graph model passed in a browser
            passed = passes_in_browser(shard_of[entry["file"]])
        elif kind == "head":  # served when one of its splits passed in a browser
            passed = any(passes_in_browser(split) for split in manifest["backbone"]["splits"])
        artifacts[entry["file"]] = Artifact(
            entry["file"], inside(directory, entry["file"]), entry["sha256"], kind, passed
        )
    for name in META_FILES:
        path = directory / name
        if path.is_file():
            artifacts[name] = Artifact(name, path, sha256_file(path), "meta")
    return ModelVersion(manifest["name"], int(manifest["version"]), directory.resolve(), manifest, artifacts)
