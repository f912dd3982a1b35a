"""One backbone download: a composed model's variants as *backbone file + head*, verified.

A composed recipe (convert/sources/compose.py: sentiment = the text-embedder + a 384->2
logistic head) is one graph for the server. A browser that also runs the backbone model
(the text page runs both) would download the ~23 MB backbone twice. So the pipeline also
writes the head alone (``head.onnx``, the backbone's output in, the model's outputs out)
and, per composed variant the browser may run, names the backbone model's variant file of
the same precision (its sha256: the browser's Cache Storage key, shared with that model).

The split path is judged like every variant, on the runtime that will run it: ORT Web's
WASM build (convert/wasm_runtime.py) runs the backbone file, then the head, on the
evaluation feeds; the same metrics against the source model and the same gates apply,
and the split must agree with the source at least as well as the composed variant
(``AGREEMENT_SLACK``). The largest output difference between split and composed (both
in ORT Web) is recorded as ``max_abs_diff_vs_composed``.

The backbone version named is the one built from the same recipe and packages (same
fingerprint) as the composed model's first part: the same network, so the split is the
same model. Without one (the backbone was never converted), there is no section and the
browser loads the composed variant.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from contract.manifest import passes, passes_in_browser
from contract.versions import MANIFEST
from convert import evaluate, gates, variants, wasm_runtime
from convert.errors import ConversionError
from convert.opcheck import check_browser_ops
from convert.progress import Progress
from convert.recipe import Recipe
from convert.versions import find_same

HEAD_FILE = "head.onnx"
SPLIT_VERSION = "1"  # in a composed recipe's fingerprint: a new split format makes a new version
BROWSER_BACKENDS = ("webgpu", "wasm")
# The split may agree with the source by at most this much less than the composed variant (on
# the agreement metrics, top-1 agreement and the recipe's floors): one flipped sample in 200.
AGREEMENT_SLACK = 0.005


def composed_variants(backbone: Any, recipe: Recipe) -> dict[str, onnx.ModelProto]:
    """A composed model's int8 and fp16 variants: the backbone's own variant, built as its recipe
    builds it (the same bytes as the backbone model's file), followed by the fp32 head.

    Quantising the composed graph as a whole would also quantise the head (the embedding to
    uint8 at run time before a 384->2 MatMulInteger), so composed and split would answer
    differently; built this way they are the same computation, and the server (composed) and
    the browser (split) agree as closely as for any other variant. The head is a few KB.
    """
    from convert.sources import rename_io
    from convert.sources.compose import merge

    own = backbone.recipe
    fp32 = variants.optimize_fp32(backbone.model)
    parts: dict[str, onnx.ModelProto] = {}
    if "int8" in recipe.precisions:
        if own.int8_method == "static-qdq":
            raise ConversionError(f"{recipe.path.name}: the backbone {own.name} uses static-qdq int8; a composed "
                                  "model's int8 is the backbone's own variant, built without calibration here")
        parts["int8"] = variants.quantize_dynamic(fp32)
    if "fp16" in recipe.precisions:
        parts["fp16"] = variants.convert_fp16(fp32)
    head = backbone.head
    out = {}
    for precision, model in parts.items():
        merged = merge(model, onnx.ModelProto.FromString(head.SerializeToString()),
                       (backbone.output, head.graph.input[0].name))
        out[precision] = rename_io(merged, [t.name for t in recipe.inputs], [t.name for t in recipe.outputs])
    return out


def _backbone_version(backbone: Any, root: Path, models_dir: Path) -> Path | None:
    from convert.pipeline import fingerprint

    return find_same(models_dir, backbone.recipe.name, fingerprint(backbone.recipe, root))


def section(
    recipe: Recipe,
    backbone: Any,  # convert.sources.compose.Backbone
    root: Path,
    models_dir: Path,
    work: Path,
    measured: list[Any],  # pipeline.Measured of every composed variant
    evaluation: list[evaluate.Prepared],
    reference: list[list[Any]],
    eval_manifest: dict[str, Any],
    metrics: Any,  # pipeline._metrics
    print_: Progress,
) -> dict[str, Any] | None:
    """The manifest's ``backbone`` section (head.onnx written into ``work``), or None."""
    version_dir = _backbone_version(backbone, root, models_dir)
    if version_dir is None:
        print_.note(f"no backbone section: {backbone.recipe.name} has no version built from the same recipe and "
                    f"packages; convert it first (browserml convert {backbone.recipe.name}), then this model again")
        return None
    backbone_manifest = json.loads((version_dir / MANIFEST).read_text())
    head_path = work / HEAD_FILE
    onnx.save(backbone.head, head_path)
    head_bytes = head_path.read_bytes()
    head_problems = check_browser_ops(backbone.head).problems
    if head_problems:
        print_.note(f"no backbone section: the head does not run in the browser ({'; '.join(head_problems)})")
        head_path.unlink()
        return None
    names = [o["name"] for o in eval_manifest["outputs"]]
    head_input = backbone.head.graph.input[0].name
    splits = []
    for m in measured:
        entry = m.entry
        browser = [b for b in entry["backends"] if b in BROWSER_BACKENDS]
        if not browser or m.wasm is None:
            continue
        backbone_entry = next((v for v in backbone_manifest["variants"] if v["precision"] == entry["precision"]), None)
        if backbone_entry is None or not passes_in_browser(backbone_entry):
            print_.note(f"{entry['file']}: no split ({backbone.recipe.name} v{version_dir.name} has no "
                        f"{entry['precision']} variant served to browsers)")
            continue
        feeds = [p.feeds for p in evaluation]
        first = wasm_runtime.run_wasm(version_dir / backbone_entry["file"], feeds, [backbone.output])
        embedded = [{head_input: out[0]} for out in first.outputs]
        second = wasm_runtime.run_wasm(head_path, embedded, names)
        outputs = second.outputs
        runtime = second.runtime
        latency = (first.latency_ms or 0.0) + (second.latency_ms or 0.0)
        evaluation_entry = {
            "runtime": f"{runtime['package']} {runtime['version']} {runtime['build']} in Node {runtime['node']}: "
                       f"{backbone.recipe.name} v{version_dir.name} {backbone_entry['file']}, then {HEAD_FILE}",
            "metrics": metrics(reference, outputs, evaluation, eval_manifest),
            "latency_ms": {"threads_1": round(latency, 3)},
        }
        split: dict[str, Any] = {
            "variant": entry["file"],
            "backbone_file": backbone_entry["file"],
            "backbone_sha256": backbone_entry["sha256"],
            "backbone_bytes": backbone_entry["bytes"],
            "backends": browser,
            "evaluations": {"wasm": evaluation_entry},
            "gates": {},
            "max_abs_diff_vs_composed": round(_max_abs_diff(outputs, m.wasm), 9),
        }
        verdicts = gates.judge_backends(
            {"precision": entry["precision"], "bytes": backbone_entry["bytes"] + len(head_bytes),
             "backends": browser, "evaluations": split["evaluations"]},
            recipe.gates,
        )
        lower = _less_faithful(evaluation_entry["metrics"], entry["evaluations"]["wasm"]["metrics"], recipe.gates)
        for backend, verdict in verdicts.items():
            if not passes(entry, backend):
                verdict["passed"] = False
                verdict["reasons"].append(f"the composed {entry['file']} did not pass on {backend}")
            if lower:
                verdict["passed"] = False
                verdict["reasons"].extend(lower)
        split["gates"] = verdicts
        splits.append(split)
        summary = ", ".join(f"{k} {v:.4g}" for k, v in evaluation_entry["metrics"].items())
        passed = [b for b, v in verdicts.items() if v["passed"]]
        print_.note(f"{entry['file']} as {backbone.recipe.name} v{version_dir.name} {backbone_entry['file']} + "
                    f"{HEAD_FILE} [wasm]: {summary}; max abs diff vs composed "
                    f"{split['max_abs_diff_vs_composed']:.3g}; "
                    + (f"passes on {', '.join(passed)}" if passed else "REJECTED"))
    if not splits:
        head_path.unlink()
        return None
    return {
        "model": backbone.recipe.name,
        "version": int(version_dir.name),
        "output": backbone.output,
        "head": {"file": HEAD_FILE, "bytes": len(head_bytes), "sha256": hashlib.sha256(head_bytes).hexdigest(),
                 "input": head_input},
        "splits": splits,
    }


def _less_faithful(split: dict[str, float], composed: dict[str, float], recipe_gates: dict[str, Any]) -> list[str]:
    """Reasons, if the split agrees with the source less than the composed variant does."""
    names = ["top1_agreement", "top1_agreement_confident", "cosine_min", *recipe_gates.get("min", {})]
    return [
        f"{name} {split[name]:.4f} is under the composed variant's {composed[name]:.4f} (slack {AGREEMENT_SLACK})"
        for name in dict.fromkeys(names)
        if name in split and name in composed and split[name] < composed[name] - AGREEMENT_SLACK
    ]


def _max_abs_diff(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
        for xs, ys in zip(a, b)
        for x, y in zip(xs, ys)
    )
