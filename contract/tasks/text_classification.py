"""Text classification: text in, the top-k labels with scores out.

Scoring is shared with image classification (``classify``): ``postprocess``
holds ``labels``, ``top_k``, ``confidence_threshold`` and ``activation``. The
catalog's sentiment model already outputs probabilities, so its manifest says
``activation = "none"``. ``fallback`` is null, or ``"lexicon"`` when the model
was unsure and VADER's lexicon answered instead (``contract.tasks.lexicon``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contract.tasks.image_classification import classify
from contract.tasks.lexicon import apply_fallback
from contract.tasks.tokenization import TextBatch, prepare_texts

# Both text tasks tokenize the same way: a string or a list of strings -> feeds, context.
prepare = prepare_texts


def finish(
    outputs: Sequence[np.ndarray], context: TextBatch, manifest: Mapping[str, Any]
) -> dict[str, Any]:
    """Scores ``[batch, classes]`` -> one result for a string, ``{"results": [...]}`` for a list."""
    post = manifest["postprocess"]
    scores = np.asarray(outputs[0])
    rows = scores.reshape(scores.shape[0], -1) if scores.ndim > 1 else scores.reshape(1, -1)
    results = [{**classify(row, post), "fallback": None} for row in rows]
    if context.texts:
        results = [apply_fallback(r, text, manifest) for r, text in zip(results, context.texts)]
    return results[0] if context.single else {"results": results}
