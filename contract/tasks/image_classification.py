"""Image classification: one image in, the top-k labels with scores out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from contract.tasks.assets import NO_ASSETS, TaskAssets
from contract.tasks.imaging import Letterbox, to_tensor

ACTIVATIONS = ("softmax", "sigmoid", "none")


def prepare(
    image: Image.Image, manifest: Mapping[str, Any], assets: TaskAssets = NO_ASSETS
) -> tuple[dict[str, np.ndarray], Letterbox]:
    """Preprocess ``image`` into the model's single input."""
    tensor, box = to_tensor(image, manifest["preprocess"])
    return {manifest["inputs"][0]["name"]: tensor}, box


def activate(logits: np.ndarray, activation: str) -> np.ndarray:
    """Turn raw outputs into scores (float64 for a stable softmax)."""
    x = np.asarray(logits, dtype=np.float64)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if activation == "none":
        return x
    raise ValueError(f"postprocess.activation is {activation!r}; allowed: {', '.join(ACTIVATIONS)}")


def top_k(scores: np.ndarray, labels: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` best labels, best first; ties keep the lower class index first."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [{"label": labels[i], "score": round(float(scores[i]), 6)} for i in order]


def classify(row: np.ndarray, post: Mapping[str, Any]) -> dict[str, Any]:
    """Scores of one sample -> ``{"labels": [...top_k], "uncertain": bool}``."""
    scores = activate(row, post.get("activation", "softmax"))
    labels = top_k(scores, post["labels"], int(post.get("top_k", 5)))
    threshold = float(post.get("confidence_threshold", 0.0))
    return {"labels": labels, "uncertain": bool(labels[0]["score"] < threshold)}


def finish(
    outputs: Sequence[np.ndarray], context: Any, manifest: Mapping[str, Any], assets: TaskAssets = NO_ASSETS
) -> dict[str, Any]:
    """First output of a batch of one -> the task result."""
    return classify(np.asarray(outputs[0]).reshape(-1), manifest["postprocess"])
