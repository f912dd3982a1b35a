"""Text classification: text in, the top-k labels with scores out.

Scoring is shared with image classification (``classify``): ``postprocess``
holds ``labels``, ``top_k``, ``confidence_threshold`` and ``activation``. The
catalog's sentiment model already outputs probabilities, so its manifest says
``activation = "none"``.

The lexicon fallback (the policy; the scorer is ``contract.tasks.lexicon``): when the
model is unsure (top score under the confidence threshold) and the version ships a
lexicon (``fallback.lexicon``, loaded into ``assets.lexicon``), VADER scores the text;
if it has an opinion (|compound| >= 0.05, VADER's own neutral band) its answer
replaces the labels and the result says ``"fallback": "lexicon"``, otherwise the
model's unsure answer stays with ``"fallback": null``. The browser does the same
(``frontend/src/tasks/text_classification.ts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contract.tasks.assets import NO_ASSETS, TaskAssets
from contract.tasks.image_classification import classify
from contract.tasks.lexicon import compound
from contract.tasks.tokenization import TextBatch, prepare_texts

# Both text tasks tokenize the same way: a string or a list of strings -> feeds, context.
prepare = prepare_texts

NEUTRAL_BAND = 0.05  # VADER's: a compound score closer to 0 than this has no opinion
LEXICON_LABELS = ("negative", "positive")


def finish(
    outputs: Sequence[np.ndarray], context: TextBatch, manifest: Mapping[str, Any],
    assets: TaskAssets = NO_ASSETS,
) -> dict[str, Any]:
    """Scores ``[batch, classes]`` -> one result for a string, ``{"results": [...]}`` for a list."""
    post = manifest["postprocess"]
    scores = np.asarray(outputs[0])
    rows = scores.reshape(scores.shape[0], -1) if scores.ndim > 1 else scores.reshape(1, -1)
    results = [{**classify(row, post), "fallback": None} for row in rows]
    if assets.lexicon is not None and context.texts:
        results = [apply_fallback(r, text, assets.lexicon, post) for r, text in zip(results, context.texts)]
    return results[0] if context.single else {"results": results}


def lexicon_labels(score: float, labels: Sequence[str]) -> list[dict[str, Any]]:
    """negative/positive labels from a compound score: positive = (1 + compound) / 2, best first."""
    positive = round((1.0 + score) / 2.0, 6)
    pairs = [(labels[0], round(1.0 - positive, 6)), (labels[1], positive)]
    pairs.sort(key=lambda p: -p[1])
    return [{"label": label, "score": value} for label, value in pairs]


def lexicon_only(texts: Sequence[str], lexicon: Any, post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer with the model switched off (``browserml fallback NAME on``): the lexicon alone,
    uncertain where it has no opinion."""
    labels = list(post.get("labels", []))
    out = []
    for text in texts:
        score = compound(text, lexicon)
        out.append({"labels": lexicon_labels(score, labels), "uncertain": abs(score) < NEUTRAL_BAND,
                    "fallback": "lexicon"})
    return out


def apply_fallback(result: dict[str, Any], text: str, lexicon: Any, post: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` with the lexicon's answer if the model was unsure and the lexicon is not neutral."""
    labels = list(post.get("labels", []))
    if not result["uncertain"] or labels != list(LEXICON_LABELS):
        return result
    score = compound(text, lexicon)
    if abs(score) < NEUTRAL_BAND:
        return result
    return {**result, "labels": lexicon_labels(score, labels), "fallback": "lexicon"}
