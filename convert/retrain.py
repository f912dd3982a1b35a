"""Retraining from feedback: ``browserml retrain NAME``.

A retrainable recipe (one with a ``[retrain]`` table: a composed model whose head is trained,
today ``sentiment``) is converted again with the consented feedback appended to its training
set (``lifecycle.feedback.consented_examples``: (text, label) pairs, oldest first). The new
version N+1 goes through the whole pipeline (``convert.pipeline.convert_model``: evaluation
natively and in ONNX Runtime Web, the recipe's gates, the self-check), and its report.md gets
a section comparing it with version N, the stable version (else the newest servable one), on
the held-out test split of every domain the recipe lists (``retrain.compare_domains``).

The comparison runs each version's server variant (``recommended.server``) in native ONNX
Runtime through the same task code as the host: the model's own top label (as the gates measure
it, and what ``promote_if_better`` judges) and the host's answer (the lexicon fallback replaces
an unsure one). N+1 passes when it has a passing variant for every backend N had one for.

Feedback handling: the newest label given for a text wins; texts that are in a compared
held-out split are dropped (they would make the comparison flatter the new version); each
remaining example counts ``retrain.feedback_weight`` times one training snippet (1 by default).

Nothing is promoted on its own: a version that passes starts as a canary (``percent`` % of
clients), or is promoted with ``promote_if_better`` only when every domain improved. Before
N+1 is written, a model without a pinned stable version gets N pinned, so that the new
version does not become "the newest version" that everyone is served.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contract.manifest import load_manifest
from convert.errors import ConversionError
from convert.progress import Progress
from convert.recipe import Recipe, list_recipes, load_recipe

BATCH = 32  # texts per ONNX Runtime call in the comparison (sorted by length: little padding)
THREADS = 2


class RetrainError(Exception):
    """Retraining cannot start (or cannot finish); the message says why and what to do."""


@dataclass(frozen=True)
class DomainComparison:
    """Accuracy of version N (``before``) and N+1 (``after``) on one held-out domain: the model's own
    top label (as the pipeline's gates measure it), and the host's answer (``*_host``: the lexicon
    fallback replaces an unsure answer)."""

    domain: str
    samples: int
    before: float
    after: float
    before_host: float
    after_host: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass
class RetrainOutcome:
    """What ``retrain`` did. ``status``: canary, promoted, not-passed or unchanged."""

    name: str
    previous: int
    version: int
    status: str
    verdict: str
    examples: int
    dropped: dict[str, int] = field(default_factory=dict)
    comparison: list[DomainComparison] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    version_dir: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "not-passed" else 0

    def table(self) -> str:
        return comparison_table(self.previous, self.version, self.comparison)


def retrainable(root: Path) -> list[str]:
    """Names of the catalog recipes that have a ``[retrain]`` table."""
    names = []
    for name in list_recipes(root):
        try:
            if load_recipe(name, root).retrain:
                names.append(name)
        except ConversionError:
            continue
    return names


def load_retrainable(name: str, root: Path) -> Recipe:
    """The recipe of ``name``, or RetrainError naming the models that can be retrained."""
    try:
        recipe = load_recipe(name, root)
    except ConversionError:
        recipe = None
    if recipe is None or not recipe.retrain:
        known = ", ".join(retrainable(root)) or "none"
        what = ("is not a catalog model" if recipe is None
                else "cannot be retrained from feedback (its recipe has no [retrain] table)")
        raise RetrainError(f"{name} {what}; retrainable models: {known}")
    return recipe


def held_out(recipe: Recipe) -> dict[str, tuple[list[str], list[str]]]:
    """Texts and label names of the held-out test split of each ``retrain.compare_domains``."""
    from convert.datasets import vader

    if recipe.data["evaluation"]["dataset"] != "vader-snippets":
        raise RetrainError(f"{recipe.name}: retraining compares on VADER domains; its evaluation dataset is "
                           f"{recipe.data['evaluation']['dataset']!r}")
    labels = list(recipe.labels.get("values", []))
    out = {}
    for domain in recipe.retrain["compare_domains"]:
        if domain not in vader.DOMAINS:
            raise RetrainError(f"{recipe.path.name}.retrain.compare_domains names {domain!r}; "
                               f"VADER domains: {', '.join(vader.DOMAINS)}")
        rows = vader.split(domain, "test")
        out[domain] = ([s.text for s in rows], [labels[s.label] for s in rows])
    return out


def clean_examples(
    examples: Sequence[tuple[str, str]], labels: Sequence[str], held: dict[str, tuple[list[str], list[str]]]
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The examples to train on (newest label per text, oldest first) and how many were dropped, by why."""
    held_texts = {text for texts, _ in held.values() for text in texts}
    newest: dict[str, str] = {}
    dropped = {"unknown label": 0, "in a held-out split": 0, "superseded by newer feedback": 0}
    for text, label in examples:
        if label not in labels:
            dropped["unknown label"] += 1
        elif text in held_texts:
            dropped["in a held-out split"] += 1
        else:
            if text in newest:
                dropped["superseded by newer feedback"] += 1
                del newest[text]  # re-insert: the order is that of the newest feedback
            newest[text] = label
    return list(newest.items()), {k: v for k, v in dropped.items() if v}


def accuracy(
    version_dir: Path, manifest: dict[str, Any], texts: Sequence[str], labels: Sequence[str]
) -> tuple[float, float]:
    """Top-1 accuracy of the version's server variant through the task code the host runs: of the
    model's own answer (no lexicon, as the pipeline measures) and of the host's (with the lexicon)."""
    from dataclasses import replace

    import onnxruntime as ort

    from contract.native_runtime import session_options
    from contract.tasks import task_module
    from contract.tasks.assets import load_assets

    file = manifest["recommended"].get("server") or "model.onnx"
    session = ort.InferenceSession(str(version_dir / file), session_options(THREADS),
                                   providers=["CPUExecutionProvider"])
    host_assets = load_assets(manifest, version_dir)
    model_assets = replace(host_assets, lexicon=None)
    task = task_module(manifest["task"])
    order = np.argsort([len(t) for t in texts], kind="stable")
    hits = np.zeros(2)
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        feeds, context = task.prepare([texts[i] for i in rows], manifest, host_assets)
        outputs = session.run(None, feeds)
        for column, assets in enumerate((model_assets, host_assets)):
            results = task.finish(outputs, context, manifest, assets)["results"]
            hits[column] += sum(r["labels"][0]["label"] == labels[i] for r, i in zip(results, rows))
    return float(hits[0] / len(texts)), float(hits[1] / len(texts))


def comparison_table(previous: int, version: int, rows: Sequence[DomainComparison]) -> str:
    lines = [f"| domain | samples | v{previous} accuracy | v{version} accuracy | delta "
             f"| with lexicon fallback: v{previous} | v{version} | delta |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.domain} | {r.samples} | {r.before:.4f} | {r.after:.4f} | {r.delta:+.4f} "
              f"| {r.before_host:.4f} | {r.after_host:.4f} | {r.after_host - r.before_host:+.4f} |" for r in rows]
    return "\n".join(lines)


def _passes(manifest: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """Why the new version does not pass: a backend the previous version had a variant for and it has none."""
    lost = [b for b, file in previous["recommended"].items() if file and not manifest["recommended"].get(b)]
    reasons = [f"no variant passed its gates on {b} (version {previous['version']} had one)" for b in lost]
    if not any(file for file in manifest["recommended"].values()):
        reasons.append("no variant passed its gates on any backend")
    return reasons


def _database_exists(url: str) -> bool:
    """False for a SQLite file that is not there yet (reading would create it: nothing to read anyway)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return True
    return Path(parsed.database).is_file()


def retrain(
    name: str,
    root: Path,
    models_dir: Path,
    database_url: str,
    since: dt.datetime | None,
    canary_percent: float,
    promote_if_better: bool,
    actor: str,
    lifecycle_db: str | None = None,
    redis_url: str | None = None,
) -> RetrainOutcome:
    """Retrain ``name`` from its consented feedback into version N+1 and start it as a canary."""
    from lifecycle import aliases
    from lifecycle.feedback import consented_examples
    from lifecycle.store import open_store

    if not 0 < canary_percent <= 100:
        raise RetrainError(f"--canary must be a percentage above 0 and at most 100, not {canary_percent}")
    recipe = load_retrainable(name, root)
    when = f" since {since.date().isoformat()}" if since else ""
    examples = consented_examples(database_url, name, since) if _database_exists(database_url) else []
    if not examples:
        raise RetrainError(f"no consented feedback for {name}{when}: nothing to retrain on, nothing was written. "
                           "Feedback counts only when its sender consented to its use for training.")
    store = open_store(models_dir, lifecycle_db, redis_url)
    servable = aliases.servable_versions(models_dir, name)
    previous = aliases.effective(store.state(name), servable)
    if previous is None:
        raise RetrainError(f"{name} has no servable version in {models_dir} to retrain and compare with; "
                           f"convert it first: browserml convert {name} --models-dir {models_dir}")
    held = held_out(recipe)
    train, dropped = clean_examples(examples, recipe.labels.get("values", []), held)
    if not train:
        raise RetrainError(f"none of the {len(examples)} consented feedback examples for {name}{when} can be used "
                           f"({', '.join(f'{n} {why}' for why, n in dropped.items())}); nothing was written.")
    from convert.pipeline import convert_model, fingerprint
    from convert.versions import find_same, next_version

    same = find_same(Path(models_dir), name, fingerprint(recipe, root, train))
    if same is not None:  # before the minutes of measuring: nothing new to build
        return RetrainOutcome(name, previous, int(same.name), "unchanged",
                              f"unchanged: version {same.name} was built from the same recipe, packages and "
                              "feedback; nothing was written and the lifecycle state was not changed",
                              len(train), dropped, state=store.state(name), version_dir=same)
    previous_dir = Path(models_dir) / name / str(previous)
    previous_manifest = load_manifest(previous_dir / "manifest.json")
    progress = Progress(f"retrain {name}", 2)
    with progress.step(f"measure version {previous} on the held-out test splits of {', '.join(held)}"):
        before = {d: accuracy(previous_dir, previous_manifest, texts, labels) for d, (texts, labels) in held.items()}

    comparison: list[DomainComparison] = []

    def report_section(work: Path, manifest: dict[str, Any]) -> str:
        progress.note(f"measuring version {manifest['version']} on the same held-out test splits")
        for domain, (texts, labels) in held.items():
            after = accuracy(work, manifest, texts, labels)
            comparison.append(DomainComparison(domain, len(texts), before[domain][0], after[0],
                                               before[domain][1], after[1]))
        return section(recipe, previous_manifest, manifest, len(examples), train, dropped, since, comparison)

    if store.state(name)["stable"] is None:
        # "No stable alias" means "the newest servable version": N+1 would reach everyone once written.
        aliases.promote(store, models_dir, name, previous, actor)
    with progress.step(f"convert version {next_version(Path(models_dir), name)} with {len(train)} feedback examples"):
        outcome = convert_model(recipe, root, models_dir, extra_training=train, report_section=report_section)
    version = int(outcome.manifest["version"])
    result = RetrainOutcome(name, previous, version, "", "", len(train), dropped, comparison,
                            version_dir=outcome.version_dir)
    if outcome.reused:
        result.status = "unchanged"
        result.verdict = (f"unchanged: version {version} was built from the same recipe, packages and feedback; "
                          "nothing new was written and the lifecycle state was not changed")
        result.state = store.state(name)
        return result
    reasons = _passes(outcome.manifest, previous_manifest)
    if reasons:
        result.status = "not-passed"
        result.verdict = (f"not passed: {'; '.join(reasons)}. Version {version} gets no clients (no canary); "
                          "see its report.md")
    elif promote_if_better and all(c.delta > 0 for c in comparison):
        result.state = aliases.promote(store, models_dir, name, version, actor)
        result.status = "promoted"
        result.verdict = f"promoted: version {version} is stable (every domain improved; --promote-if-better)"
    else:
        result.state = aliases.canary(store, models_dir, name, version, canary_percent, actor)
        result.status = "canary"
        worse = [c.domain for c in comparison if c.delta <= 0]
        note = (f"; not promoted: {', '.join(worse)} did not improve" if promote_if_better and worse else "")
        result.verdict = (f"canary started at {canary_percent:g}%: version {version} answers that share of clients, "
                          f"version {previous} the rest{note}. Promote it with: browserml promote {name} {version}")
    with (outcome.version_dir / "report.md").open("a", encoding="utf-8") as report:
        report.write(f"\n**Verdict:** {result.verdict}.\n")
    if not result.state:
        result.state = store.state(name)
    return result


def section(
    recipe: Recipe,
    previous: dict[str, Any],
    manifest: dict[str, Any],
    received: int,
    train: Sequence[tuple[str, str]],
    dropped: dict[str, int],
    since: dt.datetime | None,
    comparison: Sequence[DomainComparison],
) -> str:
    """The report's "compared with version N" section (the verdict line is added after the lifecycle change)."""
    counts = {label: sum(1 for _, lab in train if lab == label) for label in recipe.labels.get("values", [])}
    weight = recipe.retrain["feedback_weight"]
    lines = [
        "",
        f"## Retrained from feedback: compared with version {previous['version']}",
        "",
        f"Head trained on the train split plus {len(train)} consented feedback examples"
        f" ({', '.join(f'{n} {label}' for label, n in counts.items())})"
        + (f" given since {since.date().isoformat()}" if since else "")
        + f", each weighted {weight:g} against one training snippet (C chosen without them, as for version "
        f"{previous['version']}'s training split); {received} received"
        + (f", dropped: {', '.join(f'{n} {why}' for why, n in dropped.items())}" if dropped else "")
        + ".",
        "",
        "Accuracy on the held-out test split of each domain, with the variant each version's server runs "
        f"(v{previous['version']} {previous['recommended'].get('server')}, "
        f"v{manifest['version']} {manifest['recommended'].get('server') or 'model.onnx (none passed)'}) "
        "in native ONNX Runtime, through the host's task code. Accuracy is the model's own answer, as the gates "
        "measure it (and as --promote-if-better judges); the last columns are the host's answers, where the VADER "
        "lexicon replaces an unsure one:",
        "",
        comparison_table(int(previous["version"]), int(manifest["version"]), comparison),
        "",
    ]
    return "\n".join(lines)
