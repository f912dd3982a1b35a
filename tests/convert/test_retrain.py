"""``browserml retrain sentiment`` end to end, in a temporary models folder copied from the
converted catalog: feedback is given through the host's real routes (predict, then
POST /api/v1/feedback, over HTTP), the real CLI retrains in a subprocess, and version N+1 is
checked (gates, the per-domain comparison with N, the lifecycle state).

One conversion of sentiment: about 7 min on 2 cores with the training split's embeddings
cached in .cache/embeddings (the catalog's conversion leaves them there; cold, add the minutes
of embedding 16,000 snippets): the WASM evaluation, and both versions measured on four
held-out domains."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from contract.versions import check_intact
from convert.errors import ConversionError
from convert.recipe import load_recipe
from convert.retrain import clean_examples
from harness import catalog, live_server

DOMAINS = ("movies", "tweets", "amazon", "nyt")
RIGHT, WRONG = 30, 10  # feedback saying the answer was right / wrong (consented texts)


def browserml(*args: str, models: Path, root: Path) -> subprocess.CompletedProcess[str]:
    # The defaults: the state and the feedback are files in the models dir.
    return live_server.browserml(*args, "--models-dir", str(models), cwd=root, timeout=1800, defaults=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest converted text-embedder and sentiment, copied (never converted into models/)."""
    out = tmp_path_factory.mktemp("retrain") / "models"
    for name in ("text-embedder", "sentiment"):
        newest = catalog.latest_version_dir(name)
        shutil.copytree(newest, out / name / newest.name)
    return out


def seed_feedback(models: Path) -> tuple[int, list[str]]:
    """Predict amazon train-split snippets on a host over ``models`` and tell it, as a user would,
    which answers were right (30) and wrong (10), sharing the text; plus feedback that must not
    count: without consent (no text), and a text of a held-out test split. Returns the served
    version and the texts sent."""
    from app import create_app
    from convert.datasets import vader
    from harness.live_server import LiveServer

    app = create_app({"MODELS_DIR": str(models), "TESTING": True, "RATE_LIMIT_PREDICT": None})
    server = LiveServer(app)
    sent: list[str] = []
    counts = {True: 0, False: 0}
    version, unconsented = 0, 0

    def predict(text: str) -> dict:
        answer = requests.post(f"{server.url}/api/v1/models/sentiment/predict", json={"text": text}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def feedback(result: dict, **fields: object) -> None:
        body = {"model": "sentiment", "version": result["version"], "request_id": result["request_id"], **fields}
        answer = requests.post(f"{server.url}/api/v1/feedback", json=body, timeout=30)
        assert answer.status_code == 201, answer.text

    try:
        for snippet in vader.split("amazon", "train"):
            result = predict(snippet.text)
            version = result["version"]
            correct = result["labels"][0]["label"] == ("positive" if snippet.label else "negative")
            if counts[correct] < (RIGHT if correct else WRONG):
                feedback(result, correct=correct, text=snippet.text, consent=True)
                counts[correct] += 1
                sent.append(snippet.text)
            elif unconsented < 3:
                feedback(result, correct=correct)  # no consent, no text: not training material
                unconsented += 1
            if counts[True] == RIGHT and counts[False] == WRONG:
                break
        held_out = vader.split("movies", "test")[0]
        feedback(predict(held_out.text), correct=True, text=held_out.text, consent=True)
        sent.append(held_out.text)
    finally:
        server.close()
    assert counts == {True: RIGHT, False: WRONG}
    return version, sent


def test_the_retrain_table_is_checked(root: Path, tmp_path: Path) -> None:
    sentiment = (root / "models" / "catalog" / "sentiment.toml").read_text()
    path = tmp_path / "sentiment.toml"
    path.write_text(sentiment.replace("feedback_weight = 1.0", "feedback_weight = 0"))
    with pytest.raises(ConversionError, match=r"sentiment.toml.retrain.feedback_weight is 0; expected a number > 0"):
        load_recipe(path, root)
    emotion = (root / "models" / "catalog" / "emotion.toml").read_text()
    path = tmp_path / "emotion.toml"
    path.write_text(emotion + '\n[retrain]\ncompare_domains = ["movies"]\n')
    with pytest.raises(ConversionError, match=r"\[retrain\] needs a trained head"):
        load_recipe(path, root)


def test_feedback_is_cleaned_before_training() -> None:
    held = {"movies": (["a held-out text"], ["positive"])}
    examples = [("good", "positive"), ("meh", "negative"), ("a held-out text", "positive"),
                ("good", "negative"), ("odd", "neutral")]
    train, dropped = clean_examples(examples, ["negative", "positive"], held)
    assert train == [("meh", "negative"), ("good", "negative")]  # the newest label of a text wins
    assert dropped == {"in a held-out split": 1, "superseded by newer feedback": 1, "unknown label": 1}


@pytest.mark.catalog
def test_retrain_from_feedback_writes_a_canary_compared_with_the_version_before(models: Path, root: Path) -> None:
    from lifecycle.store import open_store

    previous = int(catalog.latest_version_dir("sentiment").name)

    # No feedback yet: a clear message, exit 1, nothing written.
    empty = browserml("retrain", "sentiment", models=models, root=root)
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert "no consented feedback for sentiment" in empty.stderr and "nothing was written" in empty.stderr
    assert sorted(p.name for p in (models / "sentiment").iterdir() if p.is_dir()) == [str(previous)]

    # A model without a [retrain] table: the error names the retrainable ones.
    other = browserml("retrain", "emotion", models=models, root=root)
    assert other.returncode == 1 and "retrainable models: sentiment" in other.stderr

    served, sent = seed_feedback(models)
    assert served == previous

    result = browserml("retrain", "sentiment", "--promote-if-better", models=models, root=root)
    assert result.returncode == 0, result.stdout + result.stderr
    new = previous + 1
    assert f"version {new} retrained on {RIGHT + WRONG} consented feedback examples" in result.stdout
    assert "1 in a held-out split" in result.stdout
    assert not [t for t in sent if t in result.stdout + result.stderr], "a feedback text was printed"

    manifest = check_intact(models / "sentiment" / str(new))
    assert manifest["version"] == new
    assert all(manifest["recommended"][b] for b in ("webgpu", "wasm", "server")), manifest["recommended"]

    report = (models / "sentiment" / str(new) / "report.md").read_text()
    assert f"## Retrained from feedback: compared with version {previous}" in report
    rows = {}
    for domain in DOMAINS:
        match = re.search(rf"^\| {domain} \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([-+][\d.]+) \|", report, re.M)
        assert match, f"no {domain} row in the report's comparison"
        rows[domain] = (float(match[2]), float(match[3]))
        assert match[0] in result.stdout  # the same table on stdout
    print("\n".join(f"{d}: v{previous} {b:.4f} -> v{new} {a:.4f} ({a - b:+.4f})" for d, (b, a) in rows.items()))

    state = open_store(models).state("sentiment")
    if all(after > before for before, after in rows.values()):
        assert state["stable"] == new and state["canary"] is None
        assert "**Verdict:** promoted" in report
    else:  # not better everywhere: a canary at the default 10 %, the stable version unchanged
        assert (state["stable"], state["canary"], state["percent"]) == (previous, new, 10.0)
        assert "**Verdict:** canary started at 10%" in report and "did not improve" in result.stdout

    # The same feedback again: the same inputs, so nothing new is built.
    again = browserml("retrain", "sentiment", models=models, root=root)
    assert again.returncode == 0, again.stderr
    assert f"unchanged: version {new}" in again.stdout
    assert not (models / "sentiment" / str(new + 1)).exists()
