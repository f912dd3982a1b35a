"""Drift: how far live inputs and results have moved from what a version was evaluated on.

Pure functions, no Flask: the conversion pipeline (``convert/drift.py``) builds a version's
*reference* with them, the host (``app/drift.py``) bins live traffic with them, and the
``browserml drift`` command and ``/metrics`` compute PSI with them.

**Features** (per task; the result shapes are ``contract/tasks/*``):

- images (image classification, face detection): ``image_pixels`` (width x height),
  ``brightness`` (mean luma, 0-255) and ``contrast`` (standard deviation of luma), both
  measured on a nearest-neighbour sample of at most ``SAMPLE_SIDE`` x ``SAMPLE_SIDE`` pixels
  of the decoded RGB image (no averaging, so contrast is not smoothed away);
- texts (text classification, embeddings): ``text_chars`` (length in characters) and
  ``unknown_share`` (the share of ``[UNK]`` among the tokens the model reads, specials excluded);
- classification results: ``label`` (top-1 label), ``confidence`` (top-1 score) and
  ``uncertain`` ("yes" / "no");
- face detection results: ``faces`` (faces per image) and ``face_score`` (one per face);
- embeddings: inputs only.

**Bins** are fixed at conversion. A numeric feature has ``edges`` e1 < ... < ek and k + 1
right-closed bins with open ends: (-inf, e1], (e1, e2], ..., (ek, +inf), named "0".."k".
Unbounded features (size, brightness, contrast, text length) take quantiles of the reference
as edges (``quantile_bins`` of them: one bin per ``PER_BIN`` reference samples, 2 to 10, so a
small reference does not make PSI noise); bounded ones have fixed edges (``FIXED_EDGES``).
A categorical feature has ``categories`` plus an ``"other"`` bucket: labels seen in the
reference often enough (at least ``MIN_SHARE`` of it, ``MAX_CATEGORIES`` at most), the rest
are "other".

**PSI** (population stability index) of a feature, with e_i the reference proportion and a_i
the live proportion of bin i::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i),   a_i, e_i floored at EPSILON = 1e-4

The floor keeps an empty bin finite: a live bin the reference never saw adds about
a_i * ln(a_i / 1e-4). Conventional reading (also the defaults, ``PSI_WARN`` / ``PSI_ALERT``;
a recipe's ``[drift]`` table may set others): under 0.1 no shift, 0.1 to 0.25 a moderate one
(warn), 0.25 and over a major one (alert). PSI needs enough live samples: with n live samples
in k bins, sampling alone gives roughly (k - 1) / n even with no shift at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

PSI_WARN = 0.1
PSI_ALERT = 0.25
EPSILON = 1e-4
OTHER = "other"
SAMPLE_SIDE = 256
PER_BIN = 15
MIN_BINS, MAX_BINS = 2, 10
MAX_CATEGORIES = 20
MIN_SHARE = 0.02

IMAGE_TASKS = ("image-classification", "face-detection")
TEXT_TASKS = ("text-classification", "embeddings")
# Features with fixed edges (bounded values); the others get quantile edges from the reference.
FIXED_EDGES: dict[str, list[float]] = {
    "confidence": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "unknown_share": [0.0, 0.02, 0.05, 0.1, 0.2],
    "faces": [0.0, 1.0, 2.0],
    "face_score": [0.6, 0.7, 0.8, 0.9],
}
CATEGORICAL = ("label", "uncertain")
INPUT_FEATURES = {
    "image": ("image_pixels", "brightness", "contrast"),
    "text": ("text_chars", "unknown_share"),
}
OUTPUT_FEATURES = {
    "image-classification": ("label", "confidence", "uncertain"),
    "text-classification": ("label", "confidence", "uncertain"),
    "face-detection": ("faces", "face_score"),
    "embeddings": (),
}

Observations = dict[str, list[Any]]
"""feature -> observed values (numbers, or strings for categorical features)."""
Counts = dict[str, dict[str, int]]
"""feature -> bin name -> count (what the lifecycle store adds up)."""


def features_of(task: str) -> dict[str, str]:
    """The features a task's reference holds: name -> "input" | "output"."""
    inputs = INPUT_FEATURES["image" if task in IMAGE_TASKS else "text"]
    return {**{f: "input" for f in inputs}, **{f: "output" for f in OUTPUT_FEATURES[task]}}


# --- Observing ------------------------------------------------------------------------------------

def image_observations(pixels: np.ndarray, width: int, height: int) -> Observations:
    """``pixels``: decoded RGB (H, W, 3) or grey (H, W) uint8, possibly a nearest-neighbour
    sample of an image of ``width`` x ``height``."""
    x = np.asarray(pixels)
    if x.ndim == 3:
        x = x[..., :3].astype(np.float32)
        luma = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    else:
        luma = x.astype(np.float32)
    return {"image_pixels": [float(width * height)], "brightness": [float(luma.mean())],
            "contrast": [float(luma.std())]}


def sample_pixels(image: Any) -> np.ndarray:
    """At most SAMPLE_SIDE x SAMPLE_SIDE pixels of a decoded PIL image, nearest neighbour
    (no averaging; cheap on a 40-megapixel photo), as RGB uint8."""
    from PIL import Image

    width, height = image.size
    scale = max(width, height) / SAMPLE_SIDE
    if scale > 1:
        image = image.resize((max(1, round(width / scale)), max(1, round(height / scale))), Image.Resampling.NEAREST)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def observe_image(image: Any) -> Observations:
    """The input features of a decoded PIL image."""
    return image_observations(sample_pixels(image), *image.size)


def text_observations(text: str, ids: Sequence[int], unknown_id: int | None,
                      special_ids: Iterable[int]) -> Observations:
    """One text and the token ids the model reads (``[CLS]``/``[SEP]``/padding included or not)."""
    specials = set(special_ids)
    real = [i for i in ids if i not in specials]
    unknown = sum(1 for i in real if i == unknown_id) if unknown_id is not None else 0
    return {"text_chars": [float(len(text))], "unknown_share": [unknown / len(real) if real else 0.0]}


def observe_texts(texts: Sequence[str], tokenizer: Any) -> Observations:
    """The input features of texts, tokenized with the version's ``tokenizers.Tokenizer``."""
    unknown_id = tokenizer.token_to_id("[UNK]")
    specials = {tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")} - {None}
    out: Observations = {}
    for text, encoding in zip(texts, tokenizer.encode_batch(list(texts))):
        merge_into(out, text_observations(text, encoding.ids, unknown_id, specials))
    return out


def observe_input(task: str, sample: Any, tokenizer: Any = None) -> Observations:
    """Input features of a task input: a PIL image, or a string / list of strings."""
    if task in IMAGE_TASKS:
        return observe_image(sample)
    texts = [sample] if isinstance(sample, str) else list(sample)
    if tokenizer is None:
        return {"text_chars": [float(len(t)) for t in texts]}
    return observe_texts(texts, tokenizer)


def observe_result(task: str, result: Mapping[str, Any]) -> Observations:
    """Output features of a task result (one result, or ``{"results": [...]}`` for a list)."""
    out: Observations = {}
    if task == "face-detection":
        faces = result.get("faces", [])
        out["faces"] = [float(len(faces))]
        out["face_score"] = [float(f["score"]) for f in faces]
    elif task in ("image-classification", "text-classification"):
        items = result.get("results", [result])
        out["label"] = [item["labels"][0]["label"] for item in items if item.get("labels")]
        out["confidence"] = [float(item["labels"][0]["score"]) for item in items if item.get("labels")]
        out["uncertain"] = ["yes" if item.get("uncertain") else "no" for item in items]
    return out


def merge_into(into: Observations, more: Mapping[str, list[Any]]) -> Observations:
    for name, values in more.items():
        into.setdefault(name, []).extend(values)
    return into


# --- Bins -------------------------------------------------------------------------------------------

def quantile_edges(values: Sequence[float], bins: int | None = None) -> list[float]:
    """Inner edges splitting ``values`` into ``bins`` equal shares (default: one bin per PER_BIN
    values, MIN_BINS to MAX_BINS); repeated edges are dropped (many equal values)."""
    if not values:
        return []
    k = bins if bins is not None else min(MAX_BINS, max(MIN_BINS, len(values) // PER_BIN))
    qs = np.quantile(np.asarray(values, dtype=np.float64), [i / k for i in range(1, k)])
    return sorted({round(float(q), 6) for q in qs})


def bin_names(spec: Mapping[str, Any]) -> list[str]:
    """The bins of a feature, in the order of its ``proportions``."""
    if "categories" in spec:
        return [*spec["categories"], OTHER]
    return [str(i) for i in range(len(spec["edges"]) + 1)]


def bin_of(spec: Mapping[str, Any], value: Any) -> str:
    """The bin ``value`` falls in: right-closed numeric bins, or the category / "other"."""
    if "categories" in spec:
        return str(value) if value in spec["categories"] else OTHER
    return str(int(np.searchsorted(np.asarray(spec["edges"], dtype=np.float64), float(value), side="left")))


def count(features: Mapping[str, Mapping[str, Any]], observations: Mapping[str, list[Any]]) -> Counts:
    """Bin ``observations`` with the reference's bins (features the reference lacks are skipped)."""
    out: Counts = {}
    for name, values in observations.items():
        spec = features.get(name)
        if spec is None or not values:
            continue
        bins = out.setdefault(name, {})
        for value in values:
            key = bin_of(spec, value)
            bins[key] = bins.get(key, 0) + 1
    return out


def add_counts(into: Counts, more: Mapping[str, Mapping[str, int]]) -> Counts:
    for name, bins in more.items():
        target = into.setdefault(name, {})
        for key, n in bins.items():
            target[key] = target.get(key, 0) + int(n)
    return into


def feature_reference(name: str, kind: str, values: Sequence[Any], labels: Sequence[str] = ()) -> dict[str, Any]:
    """One feature's reference: its bins and the share of ``values`` in each."""
    spec: dict[str, Any] = {"kind": kind}
    if name in CATEGORICAL:
        shares: dict[str, int] = {}
        for v in values:
            shares[str(v)] = shares.get(str(v), 0) + 1
        order = sorted(shares, key=lambda c: (-shares[c], c))
        frequent = [c for c in order if shares[c] >= MIN_SHARE * len(values)][:MAX_CATEGORIES]
        if name == "uncertain":
            frequent = ["no", "yes"]
        elif len(labels) <= MAX_CATEGORIES:
            frequent = [str(label) for label in labels] or frequent  # few labels: every one is a bin
        spec["categories"] = frequent
    else:
        spec["edges"] = FIXED_EDGES.get(name) or quantile_edges([float(v) for v in values])
    counts = count({name: spec}, {name: list(values)}).get(name, {})
    total = len(values)
    spec["proportions"] = [round(counts.get(b, 0) / total, 6) if total else 0.0 for b in bin_names(spec)]
    spec["n"] = total
    return spec


def build_reference(task: str, inputs: Observations, outputs: Observations, labels: Sequence[str] = (),
                    psi_warn: float = PSI_WARN, psi_alert: float = PSI_ALERT) -> dict[str, Any]:
    """The manifest's ``drift`` object from the evaluation data's observations."""
    features: dict[str, Any] = {}
    for name, kind in features_of(task).items():
        values = (inputs if kind == "input" else outputs).get(name, [])
        features[name] = feature_reference(name, kind, values, labels)
    return {"psi_warn": psi_warn, "psi_alert": psi_alert, "epsilon": EPSILON, "features": features}


# --- PSI --------------------------------------------------------------------------------------------

def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """PSI of two distributions over the same bins (shares or counts: each is normalised)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual need the same bins, got {e.shape} and {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), epsilon)
    a = np.maximum(a / a.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def verdict(value: float, warn: float = PSI_WARN, alert: float = PSI_ALERT) -> str:
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def evaluate(reference: Mapping[str, Any], live: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """One row per reference feature with live counts: feature, kind, n (live), psi, verdict."""
    rows = []
    warn, alert = float(reference["psi_warn"]), float(reference["psi_alert"])
    epsilon = float(reference.get("epsilon", EPSILON))
    for name, spec in reference["features"].items():
        bins = live.get(name, {})
        n = sum(bins.values())
        if not n or not spec.get("n"):
            continue
        value = psi(spec["proportions"], [bins.get(b, 0) for b in bin_names(spec)], epsilon)
        value = 0.0 if math.isclose(value, 0.0, abs_tol=1e-12) else value
        rows.append({"feature": name, "kind": spec["kind"], "n": n, "psi": round(value, 6),
                     "verdict": verdict(value, warn, alert)})
    return rows
