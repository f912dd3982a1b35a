"""VADER's rule-based sentiment scorer (the ``vaderSentiment`` package) over the lexicon a
version ships as an asset (``fallback.lexicon``).

Only the scorer lives here; when text classification falls back on it is the task's
policy (``contract.tasks.text_classification``). The browser's
``frontend/src/tasks/lexicon.ts`` is the same scorer written for JS, held to the same
numbers by golden cases.

VADER's emoji step (replacing emoji with words from a second lexicon) is turned off
on both sides, so browser and server score the same text the same.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=4)
def _analyzer(path: str) -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    scorer = SentimentIntensityAnalyzer(lexicon_file=path)
    scorer.emojis = {}  # no emoji substitution: the browser does not ship that lexicon
    return scorer


def analyzer(lexicon_file: str | Path) -> Any:
    """A VADER analyzer over ``lexicon_file`` (cached: reading the lexicon takes ~50 ms)."""
    # VADER joins the name to its own package folder: only an absolute path is read as given.
    return _analyzer(str(Path(lexicon_file).resolve()))


def compound(text: str, scorer: Any) -> float:
    """VADER's compound score of ``text`` in [-1, 1]."""
    return float(scorer.polarity_scores(text)["compound"])
