"""``browserml export-triton DIR``: a Triton model repository of the models the host serves.

For each model (all, or those named) it takes the version the host serves by default (the
stable alias in effect: ``lifecycle.aliases.effective`` over the same lifecycle store the
host reads; ``--canary`` adds a running canary's version) and the variant the host would
run for it (``SessionPool.server_variant``: the first of ``ModelVersion.server_candidates``
that loads in ONNX Runtime here and passes its self-check), and writes::

    DIR/<model>/config.pbtxt
    DIR/<model>/<version>/model.onnx   # a hardlink (or copy) of the variant, sha256 checked

``config.pbtxt`` is Triton's ``ModelConfig`` protobuf (``tritonclient.grpc.model_config_pb2``)
in text form: platform ``onnxruntime_onnx``, the manifest's inputs and outputs (names, types,
dims; a dynamic dim is -1), ``version_policy`` naming the exported versions, and
``max_batch_size`` with ``dynamic_batching`` only where the host batches the variant
(``app.batching.plan``: dynamic first dims, no dynamic output dims besides the batch, not a
dynamic-int8 variant); otherwise ``max_batch_size: 0`` and the full shapes. The batch size
and queue delay are the host's ``BATCH_MAX_SIZE`` / ``BATCH_MAX_DELAY_MS`` (``BROWSERML_*``
settings, else ``app/config.py``) unless ``--max-batch-size`` / ``--max-delay-ms`` say.

Triton serves the highest version of a policy to a call that names none: with ``--canary``
a caller must name the stable version to get it. Pre- and post-processing, the kill switch
and the canary's split stay on the browserml host (``INFERENCE_URL`` points it at Triton).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLATFORM = "onnxruntime_onnx"
MODEL_FILE = "model.onnx"  # Triton's default file name for the onnxruntime backend


class ExportError(Exception):
    """The export cannot go on; the message says what to do."""


@dataclass
class Exported:
    """One model written to the repository."""

    name: str
    versions: list[int]
    files: dict[int, str]  # version -> the variant exported
    how: str  # "hardlinked" or "copied"
    max_batch_size: int
    notes: list[str]


def model_config(manifest: dict[str, Any], versions: list[int], max_batch_size: int,
                 max_delay_ms: float) -> Any:
    """Triton's ``ModelConfig`` of a model from its manifest: batched (``max_batch_size`` > 0,
    dims without the batch dim, ``dynamic_batching``) or not (0, full dims)."""
    from tritonclient.grpc import model_config_pb2 as pb  # type: ignore[import-untyped]

    from app.tensor_codec import v2_datatype

    config = pb.ModelConfig(name=manifest["name"], platform=PLATFORM, max_batch_size=max_batch_size)
    config.version_policy.specific.versions.extend(sorted(versions))
    for specs, add in ((manifest["inputs"], config.input.add), (manifest["outputs"], config.output.add)):
        for spec in specs:
            tensor = add()
            tensor.name = spec["name"]
            tensor.data_type = pb.DataType.Value(f"TYPE_{v2_datatype(spec['dtype'])}")
            shape = list(spec["shape"])[1:] if max_batch_size > 0 else list(spec["shape"])
            tensor.dims.extend(d if isinstance(d, int) else -1 for d in shape)
    if max_batch_size > 0:
        config.dynamic_batching.max_queue_delay_microseconds = round(max_delay_ms * 1000)
    return config


def _place(source: Path, target: Path, sha256: str) -> str:
    """Hardlink (same file system) or copy ``source`` to ``target``; check its sha256."""
    from contract.integrity import sha256_file

    try:
        os.link(source, target)
        how = "hardlinked"
    except OSError:
        shutil.copyfile(source, target)
        how = "copied"
    actual = sha256_file(target)
    if actual != sha256:
        raise ExportError(f"{target} has sha256 {actual[:12]}..., the manifest says {sha256[:12]}...; "
                          "the models directory changed during the export: run it again")
    return how


def _versions(store: Any, models_dir: Path, name: str, canary: bool) -> tuple[list[int], list[str]]:
    """The versions of ``name`` to export (stable first) and notes for the operator."""
    from lifecycle import aliases

    servable = aliases.servable_versions(models_dir, name)
    state = store.state(name)
    stable = aliases.effective(state, servable)
    if stable is None or not servable:
        raise ExportError(f"{name} has no version with a variant that passed its gates; convert it again "
                          "(browserml convert) and check its report, or leave it out")
    notes = []
    if stable not in servable:  # as the host does (app/lifecycle.py choose): the newest passing version
        notes.append(f"the stable alias names v{stable}, which is not servable; exported the newest passing "
                     f"v{servable[-1]}, as the host serves")
        stable = servable[-1]
    versions = [stable]
    if state["canary"] is not None:
        if canary and int(state["canary"]) in servable and int(state["canary"]) != stable:
            versions.append(int(state["canary"]))
            notes.append(f"canary v{state['canary']} exported too: Triton serves the highest version to calls "
                         f"that name none, so callers of the stable one must name v{stable}")
        elif not canary:
            notes.append(f"canary v{state['canary']} ({state['percent']:g}%) not exported (pass --canary)")
    if state["fallback"]:
        notes.append("its kill switch is ON: the host answers with the fallback, Triton would run the model")
    return versions, notes


def export(models_dir: Path, out: Path, names: list[str], *, force: bool, canary: bool,
           max_batch_size: int, max_delay_ms: float, sizes: dict[str, int] | None = None,
           delays: dict[str, float] | None = None) -> tuple[list[Exported], list[str]]:
    """Write the repository; the models exported, and the errors of those that could not be.
    ``sizes`` / ``delays``: per model, in place of ``max_batch_size`` / ``max_delay_ms``."""
    from google.protobuf import text_format  # type: ignore[import-untyped]

    from app.batching import plan
    from app.errors import ApiError
    from app.inference import SessionPool
    from app.registry import Registry
    from cli.lifecycle import open_state

    registry = Registry(models_dir)
    known = registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ExportError(f"unknown model(s) {', '.join(map(repr, unknown))} in {models_dir}; known models: "
                          f"{', '.join(known) or 'none (run: browserml convert --all)'}")
    if not known:
        raise ExportError(f"no models in {models_dir}; run: browserml convert --all, or pass --models-dir")
    store = open_state(models_dir)
    pool = SessionPool(threads=1)
    exported, errors = [], []
    out.mkdir(parents=True, exist_ok=True)
    for name in names or known:
        try:
            versions, notes = _versions(store, models_dir, name, canary)
            files: dict[int, str] = {}
            batchable = True
            for number in versions:
                model = registry.resolve(name, number)
                try:
                    files[number] = pool.server_variant(model)
                except ApiError as err:
                    raise ExportError(err.message) from None
                batch_plan = plan(model, files[number])
                if not batch_plan.batchable:
                    batchable = False
                    notes.append(f"v{number} {files[number]} is not batched ({batch_plan.reason})")
            size = (sizes or {}).get(name, max_batch_size) if batchable else 0
            manifest = registry.resolve(name, versions[0]).manifest
            config = model_config(manifest, versions, size, (delays or {}).get(name, max_delay_ms))
            staging = out / f".{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            how = "hardlinked"
            for number in versions:
                model = registry.resolve(name, number)
                (staging / str(number)).mkdir()
                artifact = model.artifacts[files[number]]
                if _place(artifact.path, staging / str(number) / MODEL_FILE, artifact.sha256) == "copied":
                    how = "copied"
            (staging / "config.pbtxt").write_text(text_format.MessageToString(config))
            target = out / name
            if target.exists() or target.is_symlink():
                if not force:
                    raise ExportError(f"{target} exists; pass --force to replace it")
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            staging.rename(target)
            exported.append(Exported(name, versions, files, how, size, notes))
        except ExportError as err:
            shutil.rmtree(out / f".{name}.partial", ignore_errors=True)
            errors.append(f"{name}: {err}")
    return exported, errors


def _run(args: argparse.Namespace) -> int:
    from app.batching import per_model
    from app.config import DEFAULTS, setting

    models_dir, out = Path(args.models_dir), Path(args.dir)
    problems = []
    try:  # the host's settings: one number, or {"<model>": number} for some models
        size, sizes = per_model(setting("BATCH_MAX_SIZE"), "BATCH_MAX_SIZE", DEFAULTS["BATCH_MAX_SIZE"])
        delay, delays = per_model(setting("BATCH_MAX_DELAY_MS"), "BATCH_MAX_DELAY_MS", DEFAULTS["BATCH_MAX_DELAY_MS"])
    except ValueError as err:
        problems.append(str(err))
        size, sizes, delay, delays = 0, {}, 0, {}
    if args.max_batch_size is not None:
        size, sizes = args.max_batch_size, {}
    if args.max_delay_ms is not None:
        delay, delays = args.max_delay_ms, {}
    for what, value in [("", size), *sizes.items()]:
        if value < 0 or value != int(value):
            problems.append(f"the max batch size{' of ' + what if what else ''} must be an integer >= 0 "
                            f"(0: no batching), not {value!r}")
    for what, value in [("", delay), *delays.items()]:
        if value < 0:
            problems.append(f"the max queue delay{' of ' + what if what else ''} must be a number of "
                            f"milliseconds >= 0, not {value!r}")
    if not models_dir.is_dir():
        problems.append(f"no models directory {models_dir}; pass --models-dir (the one the host serves)")
    if out.exists() and not out.is_dir():
        problems.append(f"{out} is a file; name a directory for the model repository")
    elif models_dir.is_dir():
        a, b = out.resolve(), models_dir.resolve()
        if a == b or a in b.parents or b in a.parents:
            problems.append(f"{out} overlaps the models directory {models_dir}; export to a separate directory")
    if not problems and out.is_dir() and any(out.iterdir()) and not args.force:
        problems.append(f"{out} is not empty; pass --force to replace the exported models' folders in it "
                        "(other entries are left), or name an empty or new directory")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        exported, errors = export(models_dir, out, list(dict.fromkeys(args.names)), force=args.force,
                                  canary=args.canary, max_batch_size=int(size), max_delay_ms=float(delay),
                                  sizes={m: int(v) for m, v in sizes.items()}, delays=delays)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for item in exported:
        versions = ", ".join(f"v{v} {item.files[v]}" for v in item.versions)
        batching = (f"max_batch_size {item.max_batch_size}, dynamic batching" if item.max_batch_size
                    else "max_batch_size 0 (not batched)")
        print(f"{item.name}: {versions} ({item.how}); {batching}")
        for note in item.notes:
            print(f"  note: {note}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if exported:
        print(f"wrote a Triton model repository of {len(exported)} model(s) to {out}; "
              f"run: tritonserver --model-repository {out.resolve()}")
    return 1 if errors else 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("export-triton", help="write a Triton model repository of the models the host serves")
    parser.add_argument("dir", help="the repository to write (new or empty, unless --force)")
    parser.add_argument("names", nargs="*", help="only these models (default: every model)")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, replacing the exported models' folders")
    parser.add_argument("--canary", action="store_true", help="also export a running canary's version")
    parser.add_argument("--max-batch-size", type=int,
                        help="max_batch_size of batchable models (default: the host's BATCH_MAX_SIZE; 0: none)")
    parser.add_argument("--max-delay-ms", type=float,
                        help="dynamic batching's max queue delay (default: the host's BATCH_MAX_DELAY_MS)")
    parser.set_defaults(func=_run)
