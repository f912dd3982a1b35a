"""Write ``lexicon.json``, the VADER golden file read by pytest and vitest.

    .venv/bin/python tests/data/golden/make_lexicon_goldens.py

Every case is a text and the four scores ``SentimentIntensityAnalyzer()
.polarity_scores(text)`` of vaderSentiment 3.3.2 gives it (with its own
vader_lexicon.txt). ``frontend/src/tasks/lexicon.ts`` must reproduce them;
``tests/contract/test_lexicon_golden.py`` checks the file still matches the package.

- ``snippets``: human-rated snippets of the VADER paper
  (``convert.datasets.vader``), the first ``PER_DOMAIN`` of each domain's
  calibration sample, so all four domains (movie reviews, tweets, Amazon
  reviews, NYT editorials) are represented. Texts in which the package's emoji
  step would replace a character are skipped: the browser does not ship the
  emoji lexicon (and the server turns that step off).
- ``rules``: hand-written texts, grouped by the rule of the algorithm they
  exercise (negation, boosters, capitals, "but", idioms, punctuation, ...).

Re-run only when the package or the case list changes on purpose; the browser
port must then follow.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vaderSentiment import vaderSentiment

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "lexicon.json"
LEXICON = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
PER_DOMAIN = 35

# Hand-written cases: rule -> texts. The expected scores come from the package.
RULES: dict[str, list[str]] = {
    "plain": [
        "The book was good.",
        "The book was bad.",
        "good",
        "The weather is okay, the food is fine and the staff are friendly.",
        "VADER is smart, handsome, and funny.",
        "I love it and hate it",
    ],
    "negation": [
        "The book was not good.",
        "VADER is not smart, handsome, nor funny.",
        "Sentiment analysis has never been good.",
        "Not bad at all",
        "Not such a badass after all.",
        "Nothing good came of it",
        "I never said it was great",
        "nobody was happy",
        "It was rarely fun and seldom nice",
        "We left despite the lovely view",
        "I am not at all happy",
        "NOT good",
    ],
    "n't": [
        "It wasn't horrible.",
        "At least it isn't a horrible book.",
        "I didn't like it",
        "They shouldn't've been so happy",
        "He doesnt care and she dont love it",
        "I can'tt believe how good",
        "Ain't nobody got time for sad stories",
    ],
    "no": [
        "no good",
        "No worries",
        "no problem at all",
        "There is no way this is good",
        "no love or hate",
        "no fun nor joy here",
        "I said no",
        "no",
        "no no no",
        "No, it is not good",
        "no really great thing",
    ],
    "boosters": [
        "VADER is very smart, handsome, and funny.",
        "extremely bad",
        "The food was really really good",
        "very very very good",
        "It is very much fun",
        "a totally awful, utterly pointless film",
        "somewhat good",
        "barely acceptable",
        "kinda good",
        "It was sort of nice",
        "just enough good stuff",
        "hardly a great idea",
        "so so good",
        "most excellent",
    ],
    "kind of": [
        "The book was only kind of good.",
        "kind of bad",
        "It was kind of",
        "kind",
        "a kind man of honour",
        "sort of terrible, kind of funny",
    ],
    "capitals": [
        "VADER is VERY SMART, handsome, and FUNNY.",
        "VADER is VERY SMART, handsome, and FUNNY!!!",
        "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
        "Today SUX!",
        "GOOD",
        "GOOD BAD",
        "this is VERY bad",
        "I LOVE it",
        "I HATE it",
        "I AM SO HAPPY",
        "this is SO happy",
        "Do NOT like it",
        "A+ service, 10/10 GREAT",
    ],
    "but": [
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
        "Today only kinda sux! But I'll get by, lol",
        "good but bad",
        "bad but good",
        "good, but not great",
        "but",
        "good good good but bad bad bad",
        "good but good and good",
        "great BUT awful",
        "nice but, but still sad",
        "but it was lovely",
        "sad, it was sad but",
    ],
    "least": [
        "Roger Dodger is one of the least compelling variations on this theme.",
        "Roger Dodger is at least compelling as a variation on the theme.",
        "Roger Dodger is one of the most compelling variations on this theme.",
        "at least it is good",
        "the very least good thing",
        "least good",
        "least",
        "at least good",
    ],
    "without doubt": [
        "Without a doubt, excellent idea.",
        "Without a doubt, an excellent idea.",
        "without doubt good",
        "without doubt, a great film",
        "without any doubt the best",
        "without love",
    ],
    "never so": [
        "Sentiment analysis has never been this good!",
        "never so good",
        "never this bad",
        "it was so good",
        "I have never been so happy",
        "never so very good",
        "this is good",
    ],
    "idioms": [
        "With VADER, sentiment analysis is the shit!",
        "Most automated sentiment analysis tools are shit.",
        "Other sentiment analysis tools can be quite bad.",
        "On the other hand, VADER is quite bad ass",
        "VADER is such a badass!",
        "this movie is the bomb",
        "oh yeah right, that was great",
        "it was the kiss of death for the show",
        "a chocolate cake to die for",
        "the film has a beating heart",
        "wait at the bus stop, it is dirty",
        "it did not cut the mustard",
        "living hand to mouth",
    ],
    "punctuation": [
        "good!",
        "good!!",
        "good!!!!",
        "good!!!!!!!",
        "bad!!!",
        "good?",
        "good??",
        "good???",
        "good????",
        "bad??",
        "!!!",
        "?!?!",
        "the table is brown!!!",
        "great!?!?!?",
        "'good'",
        "(great)",
        "...awesome...",
        '"bad"',
    ],
    "emoticons": [
        ":)",
        ":(",
        "Make sure you :) or :D today!",
        "<3 it",
        "lol that was fun :-D",
        "xD",
        ":/ meh",
    ],
    "empty": [
        "",
        " ",
        "\t\n ",
        ".",
        "...",
        "the",
        "a an the of",
    ],
    "numbers": [
        "10/10 would buy again",
        "5 stars",
        "0 stars, 1 is too many",
        "1",
        "100%",
        "3.5 out of 5, good",
        "2 good 4 u",
    ],
    "whitespace and unicode": [
        "good\tbad\ngreat",
        "good\u00a0great",
        "good\u200bgreat",
        "good\x1fbad",
        "Café was GREAT",
        "naïve but lovely",
        "ÉNORME good fun",
        "constructor toString __proto__ hasOwnProperty good",
    ],
    "paragraph": [
        "It was one of the worst movies I've seen, despite good reviews. Unbelievably bad acting!! "
        "Poor direction. VERY poor production. The movie was bad. Very bad movie. VERY BAD movie!",
    ],
}


def touched_by_emoji_step(text: str, analyzer: Any) -> bool:
    """Whether the package would replace a character of ``text`` with an emoji description."""
    return any(char in analyzer.emojis for char in text)


def scores(text: str, analyzer: Any) -> dict[str, float]:
    result = analyzer.polarity_scores(text)
    return {key: result[key] for key in ("neg", "neu", "pos", "compound")}


def snippet_texts(analyzer: Any) -> list[tuple[str, str, str]]:
    """(id, group, text) of the first PER_DOMAIN usable calibration snippets of each domain."""
    from convert.datasets.vader import samples

    picked: dict[str, list[tuple[str, str, str]]] = {}
    for sample in samples("calibration"):
        rows = picked.setdefault(sample.group, [])
        if len(rows) < PER_DOMAIN and not touched_by_emoji_step(sample.input, analyzer):
            rows.append((sample.id, sample.group, sample.input))
    return [row for rows in picked.values() for row in rows]


def build() -> dict[str, Any]:
    analyzer = vaderSentiment.SentimentIntensityAnalyzer()
    cases = []
    for ident, group, text in snippet_texts(analyzer):
        expected = scores(text, analyzer)
        cases.append({"id": ident, "group": group, "text": text, "expected": expected})
    for rule, texts in RULES.items():
        for n, text in enumerate(texts, 1):
            if touched_by_emoji_step(text, analyzer):
                raise ValueError(f"rule case {text!r} holds a character of the emoji lexicon")
            expected = scores(text, analyzer)
            case = {"id": f"{rule}/{n}", "group": f"rule: {rule}", "text": text}
            cases.append({**case, "expected": expected})
    return {
        "package": f"vaderSentiment {version('vaderSentiment')}",
        "lexicon": "vaderSentiment/vader_lexicon.txt",
        "lexicon_sha256": hashlib.sha256(LEXICON.read_bytes()).hexdigest(),
        "generator": "tests/data/golden/make_lexicon_goldens.py",
        "cases": cases,
    }


def main() -> None:
    document = build()
    OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(document['cases'])} cases)")


if __name__ == "__main__":
    main()
