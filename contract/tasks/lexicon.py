"""The lexicon fallback of text classification: VADER's rule-based sentiment.

When the sentiment model is unsure (top score under the confidence threshold),
VADER (the ``vaderSentiment`` package) scores the text with the lexicon the
manifest ships (``fallback.lexicon``, an asset of the model version). If it
has an opinion (|compound| >= 0.05, VADER's own neutral band) its answer
replaces the labels and the result says ``"fallback": "lexicon"``; otherwise
the model's unsure answer stays. The browser does the same with
``frontend/src/tasks/lexicon.ts``, held to the same numbers by golden cases.

VADER's emoji step (replacing emoji with words from a second lexicon) is
turned off on both sides, so browser and server score the same text the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

NEUTRAL_BAND = 0.05
LABELS = ("negative", "positive")


@lru_cache(maxsize=4)
def analyzer(lexicon_path: str) -> Any:
    """A VADER analyzer over ``lexicon_path`` (cached: reading the lexicon takes ~50 ms)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    # VADER joins the name to its own package folder: only an absolute path is read as given.
    scorer = SentimentIntensityAnalyzer(lexicon_file=str(Path(lexicon_path).resolve()))
    scorer.emojis = {}  # no emoji substitution: the browser does not ship that lexicon
    return scorer


def compound(text: str, lexicon_path: str) -> float:
    """VADER's compound score of ``text`` in [-1, 1]."""
    return float(analyzer(lexicon_path).polarity_scores(text)["compound"])


def lexicon_labels(score: float, labels: Sequence[str]) -> list[dict[str, Any]]:
    """negative/positive labels from a compound score: positive = (1 + compound) / 2, best first."""
    positive = round((1.0 + score) / 2.0, 6)
    pairs = [(labels[0], round(1.0 - positive, 6)), (labels[1], positive)]
    pairs.sort(key=lambda p: -p[1])
    return [{"label": label, "score": value} for label, value in pairs]


def apply_fallback(result: dict[str, Any], text: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` with the lexicon's answer if the model was unsure and the lexicon is not neutral."""
    path = manifest.get("fallback", {}).get("lexicon_path")
    labels = manifest.get("postprocess", {}).get("labels", [])
    if not result["uncertain"] or not path or list(labels) != list(LABELS):
        return result
    score = compound(text, path)
    if abs(score) < NEUTRAL_BAND:
        return result
    return {**result, "labels": lexicon_labels(score, labels), "fallback": "lexicon"}
