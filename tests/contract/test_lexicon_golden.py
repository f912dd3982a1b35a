"""The VADER golden file still holds what the vaderSentiment package computes, so it cannot drift.

vitest (frontend/tests/tasks/lexicon.test.ts) holds the browser port
(frontend/src/tasks/lexicon.ts) to the same file. If a test here fails, the
package, its lexicon or the case list changed: regenerate the file with
``.venv/bin/python tests/data/golden/make_lexicon_goldens.py`` if that was
meant, and the browser port must follow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from vaderSentiment import vaderSentiment

from contract.tasks import lexicon as server_lexicon
from harness.catalog import GOLDEN

GOLDEN_DIR = GOLDEN
GOLDEN = json.loads((GOLDEN_DIR / "lexicon.json").read_text(encoding="utf-8"))
LEXICON = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
KEYS = ("neg", "neu", "pos", "compound")


def generator() -> Any:
    """make_lexicon_goldens.py as a module (it lives beside the data, outside any package)."""
    path = GOLDEN_DIR / "make_lexicon_goldens.py"
    spec = importlib.util.spec_from_file_location("make_lexicon_goldens", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stock() -> Any:
    """The package as shipped, emoji step included."""
    return vaderSentiment.SentimentIntensityAnalyzer()


def test_made_with_the_installed_package_and_lexicon() -> None:
    assert GOLDEN["package"] == f"vaderSentiment {version('vaderSentiment')}"
    assert GOLDEN["lexicon_sha256"] == hashlib.sha256(LEXICON.read_bytes()).hexdigest()


def test_cases_cover_every_domain_and_every_rule() -> None:
    cases = GOLDEN["cases"]
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids))
    assert 250 <= len(cases) <= 400
    make = generator()
    for domain in ("movies", "tweets", "amazon", "nyt"):
        assert sum(case["group"] == domain for case in cases) == make.PER_DOMAIN, domain
    rules = [(case["id"], case["text"]) for case in cases if case["group"].startswith("rule: ")]
    expected = [
        (f"{rule}/{n}", text)
        for rule, texts in make.RULES.items()
        for n, text in enumerate(texts, 1)
    ]
    assert rules == expected, "the hand-written cases changed: regenerate lexicon.json"


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["id"])
def test_package_reproduces(case: dict[str, Any], stock: Any) -> None:
    # The browser does not ship the emoji lexicon: no case may depend on it.
    assert not any(char in stock.emojis for char in case["text"])
    actual = stock.polarity_scores(case["text"])
    assert {key: actual[key] for key in KEYS} == case["expected"]
    # The server's fallback (emoji step off) scores these texts the same.
    served = server_lexicon.analyzer(LEXICON).polarity_scores(case["text"])
    assert {key: served[key] for key in KEYS} == case["expected"]
