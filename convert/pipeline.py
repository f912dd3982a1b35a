"""One model through the whole pipeline: source -> ONNX -> variants -> evaluation ->
gates -> a new version folder with manifest.json and report.md.

Converting again with nothing changed (same recipe, same source packages, same
converter versions: the *fingerprint*) reuses the existing version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from contract import native_runtime
from contract.integrity import sha256_file
from contract.manifest import gate_reasons, passes, validate_manifest
from contract.tasks.assets import load_assets
from contract.tasks.contracts import CONTRACTS
from convert import backbone, datasets, drift, evaluate, gates, selfcheck, tfjs, variants, wasm_runtime
from convert.errors import ConversionError
from convert.opcheck import check_browser_ops, suitable_backends
from convert.packages import package_file, package_version
from convert.progress import Progress
from convert.recipe import Recipe, load_recipe
from convert.report import write_report
from convert.sources import load_source
from convert.versions import find_same, next_version

PIPELINE_VERSION = "4"  # 2: list forms in the text response schemas; 3: per-backend evaluation, self-check;
# 4: the drift reference (manifest "drift")
# Converter packages whose version changes the produced bytes.
TOOLCHAIN = ("onnx", "onnxruntime", "tf2onnx", "tensorflow-cpu", "torch", "transformers", "skl2onnx",
             "onnxconverter-common", "scikit-learn", "numpy")
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


@dataclass
class Outcome:
    """What ``convert_model`` did: the version folder and whether it was reused."""

    name: str
    version_dir: Path
    reused: bool
    manifest: dict[str, Any]

    @property
    def passed(self) -> list[str]:
        return [v["file"] for v in self.manifest["variants"] if any(x["passed"] for x in v["gates"].values())]


def _backbone_now_available(recipe: Recipe, root: Path, models_dir: Path, version_dir: Path) -> bool:
    """A composed version built before its embedder was converted has no ``backbone`` section
    (convert/backbone.py); once the embedder's version exists, that version is not reused."""
    if recipe.source.get("format") != "compose":
        return False
    if "backbone" in json.loads((version_dir / "manifest.json").read_text()):
        return False
    embedder = load_recipe(recipe.source["embedder"], root)
    return find_same(models_dir, embedder.name, fingerprint(embedder, root)) is not None


def fingerprint(recipe: Recipe, root: Path, extra_training: Sequence[tuple[str, str]] = ()) -> str:
    """Hash of everything the produced bytes depend on (recipe, source packages, toolchain, and
    the extra training examples of ``browserml retrain``)."""
    digest = hashlib.sha256()
    for text, label in extra_training:
        digest.update(json.dumps(["extra-training", text, label]).encode() + b"\n")
    digest.update(f"pipeline {PIPELINE_VERSION}\n".encode())
    digest.update(recipe.sha256.encode())
    for package in sorted(_source_packages(recipe, root)):
        digest.update(f"{package}=={package_version(package)}\n".encode())
    for package in TOOLCHAIN:
        digest.update(f"{package}=={package_version(package)}\n".encode())
    for part in recipe.source.get("parts", []):
        if "recipe" in part:
            digest.update(load_recipe(part["recipe"], root).sha256.encode())
    if recipe.source.get("format") == "compose":
        # The composed model's first part, and the split path (backbone file + head.onnx) it now carries.
        digest.update(f"compose-split {backbone.SPLIT_VERSION}\n".encode())
        digest.update(load_recipe(recipe.source["embedder"], root).sha256.encode())
    if recipe.tfjs:  # the TF.js converter venv's lock and the TF.js runtime that judges the graph models
        for line in tfjs.fingerprint_lines():
            digest.update(line.encode())
    return digest.hexdigest()


def _source_packages(recipe: Recipe, root: Path) -> set[str]:
    packages = {recipe.source["package"]} if "package" in recipe.source else set()
    for part in recipe.source.get("parts", []):
        if "recipe" in part:
            packages |= _source_packages(load_recipe(part["recipe"], root), root)
        if "package" in part:
            packages.add(part["package"])
    for split in recipe.data.values():
        packages.update(split.get("packages", []))
    packages.update(spec["package"] for spec in recipe.assets.values())
    return packages


def contract(recipe: Recipe, labels: list[str]) -> dict[str, Any]:
    """The manifest's contract part: what goes in and out of the graph and the task."""
    post = dict(recipe.postprocess)
    if labels:
        post["labels"] = labels
    return {
        "task": recipe.task,
        "inputs": [t.as_dict() for t in recipe.inputs],
        "outputs": [t.as_dict() for t in recipe.outputs],
        "request": CONTRACTS[recipe.task]["request"],
        "response": CONTRACTS[recipe.task]["response"],
        "preprocess": dict(recipe.preprocess),
        "postprocess": post,
    }


def resolve_labels(recipe: Recipe) -> list[str]:
    """Labels listed in the recipe, or produced by a named provider (``labels.provider``)."""
    if "values" in recipe.labels:
        return list(recipe.labels["values"])
    if recipe.labels.get("provider") == "imagenet-1k":
        from convert.labels import imagenet_labels

        return imagenet_labels()
    if recipe.labels:
        raise ConversionError(
            f"{recipe.path.name}.labels must hold 'values = [...]' or 'provider = \"imagenet-1k\"'."
        )
    return []


def convert_model(
    recipe: Recipe, root: Path, models_dir: Path, force: bool = False,
    extra_training: Sequence[tuple[str, str]] = (),
    report_section: Callable[[Path, dict[str, Any]], str] | None = None,
) -> Outcome:
    """Convert one recipe into a new version (or reuse an identical one).

    ``extra_training``: (text, label) pairs for a retrainable recipe's trainer (``convert/retrain.py``).
    ``report_section(work folder, manifest)``: Markdown appended to report.md before the version appears.
    """
    print_ = Progress(recipe.name, 8 + (recipe.source.get("format") == "compose") + bool(recipe.tfjs))
    fp = fingerprint(recipe, root, extra_training)
    if not force:
        same = find_same(models_dir, recipe.name, fp)
        if same is not None and _backbone_now_available(recipe, root, models_dir, same):
            print_.note(f"version {same.name} has no browser backbone, and "
                        f"{recipe.source['embedder']} is converted now: building a new version that has one")
            same = None
        if same is not None:
            manifest = json.loads((same / "manifest.json").read_text())
            print_.note(f"up to date: version {same.name} was built from the same recipe and packages")
            return Outcome(recipe.name, same, True, manifest)

    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=f".{recipe.name}-") as tmp:
        work = Path(tmp)
        with print_.step(f"load {recipe.source['format']} source and convert to ONNX"):
            source = load_source(recipe, extra_training)
        with print_.step("optimise the fp32 graph"):
            fp32 = variants.optimize_fp32(source.model)
        asset_files = dict(source.assets)
        for asset, spec in recipe.assets.items():
            asset_files[asset] = package_file(spec["package"], spec["module"], spec["file"])
        for asset, path in asset_files.items():
            shutil.copyfile(path, work / asset)
        base = contract(recipe, resolve_labels(recipe))
        assets = load_assets(base, work)
        with print_.step("load calibration and evaluation data"):
            calibration = evaluate.prepare(
                datasets.load(recipe.data["calibration"]["dataset"], "calibration"), base, assets)
            evaluation = evaluate.prepare(
                datasets.load(recipe.data["evaluation"]["dataset"], "evaluation"), base, assets)
            print_.note(f"{len(calibration)} calibration and {len(evaluation)} evaluation samples")
        with print_.step(f"run the source model ({source.framework}) on the evaluation data"):
            reference = evaluate.run_all(source.reference, evaluation)
            source_metrics = evaluate.task_metrics(reference, evaluation, base)
            drift_reference = drift.reference(recipe, evaluation, reference, base, work)
        built: dict[str, onnx.ModelProto] = {"fp32": fp32}
        with print_.step("build the int8 and fp16 variants"):
            if source.backbone is not None:  # the backbone model's own int8/fp16 + the fp32 head
                built.update(backbone.composed_variants(source.backbone, recipe))
            elif "int8" in recipe.precisions:
                if recipe.int8_method == "static-qdq":
                    built["int8"] = variants.quantize_static_qdq(fp32, [p.feeds for p in calibration])
                else:
                    built["int8"] = variants.quantize_dynamic(fp32)
            if "fp16" in recipe.precisions:
                built["fp16"] = variants.convert_fp16(fp32)
        measured: list[Measured] = []
        with print_.step("evaluate every variant against the source model, natively and in ORT Web's WASM"):
            for precision, model in built.items():
                measured.append(
                    _evaluate_variant(precision, model, recipe, work, evaluation, reference, base, print_)
                )
        entries = [m.entry for m in measured]
        if recipe.tfjs:
            with print_.step(f"export TF.js graph models ({', '.join(recipe.tfjs['weights'])} weights) and "
                             "evaluate them on TF.js's wasm backend"):
                entries += _tfjs_variants(recipe, source, work, evaluation, reference, base, print_)
        with print_.step("apply the gates per backend and pick a variant per backend"):
            for entry in entries:
                entry["gates"] = gates.judge_backends(entry, _gates_for(recipe, entry))
                passed = [b for b in entry["gates"] if passes(entry, b)]
                status = f"passes on {', '.join(passed)}" if passed else "REJECTED everywhere"
                reasons = gate_reasons(entry)
                print_.note(
                    f"{entry['file']}: {entry['bytes']:,} bytes, {status}"
                    + (f" ({'; '.join(reasons)})" if reasons else "")
                )
            check = selfcheck.build(
                work, [p.feeds for p in evaluation], [(m.entry, m.native, m.wasm) for m in measured]
            )
            check.update(bytes=(work / check["file"]).stat().st_size, sha256=sha256_file(work / check["file"]))
        version = next_version(models_dir, recipe.name)
        manifest = _manifest(recipe, version, fp, source, base, entries, calibration, evaluation, source_metrics, work)
        manifest["self_check"] = check
        manifest["drift"] = drift_reference
        if source.backbone is not None:
            with print_.step(f"verify the split path: {source.backbone.recipe.name}'s own variant files + the head"):
                split = backbone.section(recipe, source.backbone, root, models_dir, work, measured, evaluation,
                                         reference, base, _metrics, print_)
            if split is not None:
                manifest["backbone"] = split
        with print_.step(f"write version {version}: manifest.json and report.md"):
            validate_manifest(manifest)
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            write_report(manifest, work)
            if report_section is not None:
                with (work / "report.md").open("a", encoding="utf-8") as report:
                    report.write(report_section(work, manifest))
            target = models_dir / recipe.name / str(version)
            target.parent.mkdir(parents=True, exist_ok=True)
            work.rename(target)
            work.mkdir()  # let TemporaryDirectory clean up an empty folder
    return Outcome(recipe.name, target, False, manifest)


def _gates_for(recipe: Recipe, entry: dict[str, Any]) -> dict[str, Any]:
    """The recipe's gates; a TF.js graph model's size budget is the recipe's ``[tfjs] max_bytes``."""
    if entry.get("format") == "tfjs-graph":
        return {**recipe.gates, "max_bytes": recipe.tfjs["max_bytes"]}
    return recipe.gates


def _tfjs_variants(
    recipe: Recipe, source: Any, work: Path, evaluation: list[evaluate.Prepared], reference: list[list[Any]],
    base: dict[str, Any], print_: Progress,
) -> list[dict[str, Any]]:
    """The TF.js graph models of the source file (convert/tfjs.py), measured against the source."""
    exported = tfjs.export(recipe, source.files[0], work)
    names = [o["name"] for o in base["outputs"]]
    return [
        tfjs.entry(weights, path, [p.feeds for p in evaluation], names,
                   lambda outputs: _metrics(reference, outputs, evaluation, base), print_)
        for weights, path in exported.items()
    ]


@dataclass
class Measured:
    """One variant's manifest entry, and the outputs behind it (for the self-check)."""

    entry: dict[str, Any]
    native: list[list[np.ndarray]]
    wasm: list[list[np.ndarray]] | None


def _evaluate_variant(
    precision: str,
    model: onnx.ModelProto,
    recipe: Recipe,
    work: Path,
    evaluation: list[evaluate.Prepared],
    reference: list[list[Any]],
    eval_manifest: dict[str, Any],
    print_: Progress,
) -> Measured:
    """Measure ``model`` against the source outputs on each runtime that will run it.

    Server: native ONNX Runtime, configured as the host configures it. WASM: ONNX Runtime
    Web's own WASM build (``convert.wasm_runtime``), for every variant the browser can run.
    """
    path = work / VARIANT_FILES[precision]
    onnx.save(model, path)
    data = path.read_bytes()
    ops = check_browser_ops(model)
    backends = suitable_backends(precision, ops)
    run = evaluate.ort_runner(data, threads=1)
    native = evaluate.run_all(run, evaluation)
    evaluations: dict[str, Any] = {
        "server": {
            "runtime": native_runtime.describe(),
            "metrics": _metrics(reference, native, evaluation, eval_manifest),
            "latency_ms": {
                "threads_1": evaluate.median_latency_ms(run, evaluation[0].feeds),
                "threads_2": evaluate.median_latency_ms(evaluate.ort_runner(data, threads=2), evaluation[0].feeds),
            },
        }
    }
    wasm = None
    if "wasm" in backends:
        names = [o["name"] for o in eval_manifest["outputs"]]
        measured = wasm_runtime.run_wasm(path, [p.feeds for p in evaluation], names)
        wasm = measured.outputs
        runtime = measured.runtime
        evaluations["wasm"] = {
            "runtime": f"{runtime['package']} {runtime['version']} {runtime['build']} in Node {runtime['node']}",
            "metrics": _metrics(reference, wasm, evaluation, eval_manifest),
            "latency_ms": {"threads_1": measured.latency_ms},
        }
        # How far the two runtimes are apart on the same file: the self-check's tolerance rests on it.
        evaluations["server"]["metrics"]["max_abs_diff_vs_wasm"] = round(_max_abs_diff(native, wasm), 9)
    entry: dict[str, Any] = {
        "file": path.name,
        "precision": precision,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "backends": backends,
        "operators": ops.op_types,
        "evaluations": evaluations,
        "gates": {},
    }
    if precision == "int8":
        entry["quantization"] = recipe.int8_method
    if ops.problems:
        entry["browser_problems"] = ops.problems
    for runtime_name, result in evaluations.items():
        summary = ", ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items())
        print_.note(f"{path.name} [{runtime_name}]: {summary}; {result['latency_ms']['threads_1']} ms (1 thread)")
    return Measured(entry, native, wasm)


def _metrics(
    reference: list[list[Any]], outputs: list[list[np.ndarray]], evaluation: list[evaluate.Prepared],
    eval_manifest: dict[str, Any],
) -> dict[str, float]:
    metrics = evaluate.agreement_metrics(reference, outputs, evaluation, eval_manifest)
    metrics.update(evaluate.task_metrics(outputs, evaluation, eval_manifest))
    return {k: round(float(v), 6) for k, v in metrics.items()}


def _max_abs_diff(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
        for xs, ys in zip(a, b)
        for x, y in zip(xs, ys)
    )


def _manifest(
    recipe: Recipe,
    version: int,
    fp: str,
    source: Any,
    base: dict[str, Any],
    entries: list[dict[str, Any]],
    calibration: list[evaluate.Prepared],
    evaluation: list[evaluate.Prepared],
    source_metrics: dict[str, float],
    work: Path,
) -> dict[str, Any]:
    client = {
        "max_client_bytes": int(recipe.client.get("max_client_bytes", 50_000_000)),
        "server_only": bool(recipe.client.get("server_only", False)),
    }
    if "min_device_memory_gb" in recipe.client:
        client["min_device_memory_gb"] = recipe.client["min_device_memory_gb"]
    return {
        "schema_version": 2,
        "name": recipe.name,
        "version": version,
        "description": recipe.description,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "licence": recipe.licence,
        "fingerprint": fp,
        "source": {
            "format": recipe.source["format"],
            "framework": source.framework,
            **({"package": recipe.source["package"], "package_version": package_version(recipe.source["package"])}
               if "package" in recipe.source else {}),
            "files": [{"file": _display_path(p), "sha256": sha256_file(p)} for p in source.files],
        },
        **base,
        "variants": entries,
        "recommended": gates.recommend(entries, {**client, "prefer": recipe.client.get("prefer", {})}),
        "client": client,
        "fallback": dict(recipe.fallback),
        "assets": [
            {"file": a, "bytes": (work / a).stat().st_size, "sha256": sha256_file(work / a)}
            for a in sorted(set(source.assets) | set(recipe.assets))
        ],
        "evaluation": {
            "calibration": {**recipe.data["calibration"], "samples": len(calibration)},
            "evaluation": {**recipe.data["evaluation"], "samples": len(evaluation)},
            "source_metrics": {k: round(float(v), 6) for k, v in source_metrics.items()},
            "host": {**native_runtime.cpu(), "onnxruntime_web": wasm_runtime.runtime_version()},
        },
        "report": "report.md",
    }


def _display_path(path: Path) -> str:
    """A source file named relative to site-packages (no machine-specific prefix)."""
    parts = path.parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    return path.name
