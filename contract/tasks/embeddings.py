"""Sentence embeddings: text in, unit-length vectors out.

The catalog's embedder already pools and normalises inside the graph, so its
output is ``[batch, dim]``. A model that returns token states
``[batch, sequence, dim]`` is mean-pooled over the attention mask here, the
same sum over real tokens divided by their count that sentence-transformers
uses. ``postprocess.normalize`` (default true) L2-normalises the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contract.tasks.assets import NO_ASSETS, TaskAssets
from contract.tasks.tokenization import TextBatch, prepare_texts


def mean_pool(last_hidden: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Mean of token vectors ``[B, S, H]`` over real tokens (``mask`` ``[B, S]``) -> ``[B, H]``."""
    hidden = np.asarray(last_hidden, dtype=np.float32)
    if mask is None:
        return hidden.mean(axis=1)
    weights = np.asarray(mask, dtype=np.float32)[..., None]
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    return (hidden * weights).sum(axis=1) / counts


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine of two vectors (a float), or of batches ``[N, D]`` and ``[M, D]`` (``[N, M]``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 1 and b.ndim == 1:
        return float(l2_normalize(a[None])[0].astype(np.float64) @ l2_normalize(b[None])[0])
    return l2_normalize(np.atleast_2d(a)).astype(np.float64) @ l2_normalize(np.atleast_2d(b)).T


# Both text tasks tokenize the same way: a string or a list of strings -> feeds, context.
prepare = prepare_texts


def finish(
    outputs: Sequence[np.ndarray], context: TextBatch, manifest: Mapping[str, Any],
    assets: TaskAssets = NO_ASSETS,
) -> dict[str, Any]:
    """First output -> ``{"embedding": [...]}`` (a string) or ``{"embeddings": [...]}`` (a list)."""
    out = np.asarray(outputs[0], dtype=np.float32)
    vectors = (
        mean_pool(out, context.attention_mask) if out.ndim == 3 else out.reshape(out.shape[0], -1)
    )
    if manifest.get("postprocess", {}).get("normalize", True):
        vectors = l2_normalize(vectors)
    rows = [[float(v) for v in row] for row in vectors]
    return {"embedding": rows[0]} if context.single else {"embeddings": rows}
