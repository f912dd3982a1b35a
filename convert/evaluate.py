"""Measure every variant against the source framework on real data.

The reference outputs come from the source framework (TFLite interpreter,
Keras, PyTorch, scikit-learn) run on exactly the feeds the variants get, so a
difference is the conversion's, not the preprocessing's. Task metrics go
through the same ``contract.tasks`` code the server uses.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.tasks import task_module
from contract.tasks.assets import TaskAssets
from convert.datasets import Sample

Feeds = dict[str, np.ndarray]


@dataclass
class Prepared:
    """A sample turned into model feeds, with what ``finish`` needs to read the outputs."""

    sample: Sample
    feeds: Feeds
    context: Any
    assets: TaskAssets


def prepare(samples: list[Sample], manifest: Mapping[str, Any], assets: TaskAssets) -> list[Prepared]:
    """``prepare`` of the task on every sample (``assets``: the version's, from its work folder)."""
    module = task_module(manifest["task"])
    out = []
    for sample in samples:
        feeds, context = module.prepare(sample.input, manifest, assets)
        out.append(Prepared(sample, feeds, context, assets))
    return out


def run_all(run: Callable[[Feeds], list[np.ndarray]], prepared: list[Prepared]) -> list[list[np.ndarray]]:
    return [[np.asarray(o) for o in run(p.feeds)] for p in prepared]


def box_iou(a: list[float], b: list[float]) -> float:
    """IoU of two [x, y, w, h] boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _best_iou(box: list[float], boxes: list[list[float]]) -> float:
    return max((box_iou(box, other) for other in boxes), default=0.0)


def task_metrics(
    outputs: list[list[np.ndarray]], prepared: list[Prepared], manifest: Mapping[str, Any]
) -> dict[str, float]:
    """Metrics of one model's outputs against ground truth (what a user would judge)."""
    task = manifest["task"]
    module = task_module(task)
    results = [module.finish(o, p.context, manifest, p.assets) for o, p in zip(outputs, prepared)]
    metrics: dict[str, float] = {}
    if task == "face-detection":
        with_faces = [(r, p) for r, p in zip(results, prepared) if p.sample.truth.get("boxes")]
        without = [
            (r, p) for r, p in zip(results, prepared) if "boxes" in p.sample.truth and not p.sample.truth["boxes"]
        ]
        if with_faces:
            ious = [
                _best_iou(t, [f["box"] for f in r["faces"]]) for r, p in with_faces for t in p.sample.truth["boxes"]
            ]
            metrics["truth_iou_min"] = min(ious)
        if without:
            metrics["false_positives"] = float(sum(len(r["faces"]) for r, _ in without))
    elif task == "text-classification":
        groups: dict[str, list[bool]] = {}
        for r, p in zip(results, prepared):
            if "label" in p.sample.truth:
                groups.setdefault(p.sample.group, []).append(r["labels"][0]["label"] == p.sample.truth["label"])
        for group, hits in sorted(groups.items()):
            metrics[f"accuracy_{group}"] = float(np.mean(hits))
    return metrics


def agreement_metrics(
    reference: list[list[np.ndarray]],
    variant: list[list[np.ndarray]],
    prepared: list[Prepared],
    manifest: Mapping[str, Any],
) -> dict[str, float]:
    """How closely a variant follows the source model, output by output and result by result."""
    task = manifest["task"]
    diffs = [
        float(np.max(np.abs(r.astype(np.float64) - v.astype(np.float64))))
        for ro, vo in zip(reference, variant)
        for r, v in zip(ro, vo)
    ]
    metrics = {"max_abs_diff": max(diffs)}
    first_ref = [ro[0].reshape(len(ro[0]), -1) for ro in reference]
    first_var = [vo[0].reshape(len(vo[0]), -1) for vo in variant]
    if task in ("image-classification", "text-classification"):
        from contract.tasks.image_classification import activate

        agree = np.concatenate([np.argmax(r, axis=-1) == np.argmax(v, axis=-1) for r, v in zip(first_ref, first_var)])
        metrics["top1_agreement"] = float(np.mean(agree))
        # Agreement where the source model is confident enough that the result is not
        # flagged "uncertain" (top-1 score >= postprocess.confidence_threshold): what a
        # user is shown as an answer rather than as "not sure".
        post = manifest["postprocess"]
        top = np.concatenate([activate(r, post.get("activation", "softmax")).max(axis=-1) for r in first_ref])
        confident = top >= float(post.get("confidence_threshold", 0.0))
        if confident.any():
            metrics["top1_agreement_confident"] = float(np.mean(agree[confident]))
            metrics["confident_fraction"] = float(np.mean(confident))
    elif task == "embeddings":
        cos = [
            float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            for r, v in zip(first_ref, first_var)
            for a, b in zip(r, v)
        ]
        metrics["cosine_min"] = min(cos)
        metrics["cosine_mean"] = float(np.mean(cos))
    elif task == "face-detection":
        module = task_module(task)
        same_count, ious = [], []
        for ro, vo, p in zip(reference, variant, prepared):
            ref_faces = [f["box"] for f in module.finish(ro, p.context, manifest, p.assets)["faces"]]
            var_faces = [f["box"] for f in module.finish(vo, p.context, manifest, p.assets)["faces"]]
            same_count.append(len(ref_faces) == len(var_faces))
            ious += [_best_iou(box, var_faces) for box in ref_faces]
        metrics["face_count_agreement"] = float(np.mean(same_count))
        metrics["box_iou_min"] = min(ious) if ious else 1.0
    return metrics


def median_latency_ms(run: Callable[[Feeds], Any], feeds: Feeds, repeats: int = 30) -> float:
    """Median wall time of ``run(feeds)`` after a warm-up, in milliseconds."""
    for _ in range(3):
        run(feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def ort_runner(model_bytes: bytes, threads: int = 1) -> Callable[[Feeds], list[np.ndarray]]:
    """A native ONNX Runtime session with a fixed thread count, set up as the host sets it up."""
    import onnxruntime as ort

    from contract.native_runtime import session_options

    session = ort.InferenceSession(model_bytes, session_options(threads), providers=["CPUExecutionProvider"])

    def run(feeds: Feeds) -> list[np.ndarray]:
        return list(session.run(None, feeds))

    return run
