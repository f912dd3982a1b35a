"""Drift maths (``lifecycle/drift.py``): PSI, bins, features, the reference, small and exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from contract.manifest import schema
from lifecycle import drift


def test_psi_of_equal_distributions_is_zero_and_counts_or_shares_give_the_same():
    assert drift.psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0
    assert drift.psi([1, 1, 2], [10, 10, 20]) == pytest.approx(0.0, abs=1e-15)
    assert drift.psi([0.5, 0.5], [90, 10]) == pytest.approx(drift.psi([0.5, 0.5], [0.9, 0.1]), abs=1e-15)


def test_psi_is_the_sum_of_a_minus_e_times_log_a_over_e():
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5) = 0.4 ln 9
    assert drift.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * math.log(9), rel=1e-12)
    # symmetric in its two arguments
    assert drift.psi([0.9, 0.1], [0.5, 0.5]) == pytest.approx(0.4 * math.log(9), rel=1e-12)


def test_an_empty_bin_counts_as_epsilon():
    e, a = [1.0, 0.0], [0.5, 0.5]
    eps = drift.EPSILON
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - eps) * math.log(0.5 / eps)
    assert eps == 1e-4
    assert drift.psi(e, a) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(drift.psi([0.0, 1.0], [1.0, 0.0]))


def test_psi_refuses_different_bins():
    with pytest.raises(ValueError, match="same bins"):
        drift.psi([0.5, 0.5], [1, 0, 0])


@pytest.mark.parametrize(("value", "warn", "alert", "verdict"), [
    (0.0, 0.1, 0.25, "ok"), (0.0999, 0.1, 0.25, "ok"), (0.1, 0.1, 0.25, "warn"),
    (0.2499, 0.1, 0.25, "warn"), (0.25, 0.1, 0.25, "alert"), (0.3, 0.2, 0.5, "warn"),
])
def test_verdict_against_thresholds(value, warn, alert, verdict):
    assert drift.verdict(value, warn, alert) == verdict


def test_numeric_bins_are_right_closed_with_open_ends():
    spec = {"edges": [1.0, 2.0]}
    assert drift.bin_names(spec) == ["0", "1", "2"]
    assert [drift.bin_of(spec, v) for v in (-5, 0.5, 1.0, 1.5, 2.0, 2.0001, 1e9)] == ["0", "0", "0", "1", "1", "2", "2"]


def test_categorical_bins_put_unknown_values_in_other():
    spec = {"categories": ["negative", "positive"]}
    assert drift.bin_names(spec) == ["negative", "positive", "other"]
    assert [drift.bin_of(spec, v) for v in ("positive", "neutral", "negative")] == ["positive", "other", "negative"]


def test_quantile_edges_and_their_number():
    assert drift.quantile_edges(list(range(101)), bins=4) == [25.0, 50.0, 75.0]
    assert len(drift.quantile_edges(list(range(30)))) == 1  # 30 values: 2 bins (15 per bin)
    assert len(drift.quantile_edges(list(range(60)))) == 3  # 4 bins
    assert len(drift.quantile_edges(list(range(10_000)))) == 9  # at most 10 bins
    assert drift.quantile_edges([3.0] * 50) == [3.0]  # repeated edges collapse
    assert drift.quantile_edges([]) == []


def test_feature_reference_holds_the_share_of_each_bin():
    spec = drift.feature_reference("brightness", "input", [10, 20, 30, 40] * 10)  # 40 values -> 2 bins
    assert spec == {"kind": "input", "edges": [25.0], "proportions": [0.5, 0.5], "n": 40}
    spec = drift.feature_reference("confidence", "output", [0.05, 0.95, 0.95, 0.55])
    assert spec["edges"] == drift.FIXED_EDGES["confidence"]
    assert spec["proportions"][0] == 0.25 and spec["proportions"][5] == 0.25 and spec["proportions"][9] == 0.5
    spec = drift.feature_reference("label", "output", ["b", "a", "b"], labels=["a", "b", "c"])
    assert spec["categories"] == ["a", "b", "c"] and spec["proportions"] == [0.333333, 0.666667, 0.0, 0.0]
    # many labels (ImageNet): the frequent ones, the rest is "other"
    many = [f"l{i}" for i in range(1000)]
    spec = drift.feature_reference("label", "output", ["l1"] * 60 + ["l2"] * 39 + ["l3"], labels=many)
    assert spec["categories"] == ["l1", "l2"] and spec["proportions"] == [0.6, 0.39, 0.01]


def test_count_and_evaluate():
    reference = drift.build_reference(
        "text-classification",
        {"text_chars": [10.0, 20.0, 30.0, 40.0] * 10, "unknown_share": [0.0] * 40},
        {"label": ["negative", "positive"] * 20, "confidence": [0.9] * 40, "uncertain": ["no"] * 40},
        labels=["negative", "positive"],
    )
    assert set(reference["features"]) == {"text_chars", "unknown_share", "label", "confidence", "uncertain"}
    live = drift.count(reference["features"], {"label": ["negative"] * 9 + ["positive"], "text_chars": [15.0] * 10,
                                               "not_a_feature": [1]})
    assert live == {"label": {"negative": 9, "positive": 1}, "text_chars": {"0": 10}}
    rows = {r["feature"]: r for r in drift.evaluate(reference, live)}
    assert set(rows) == {"label", "text_chars"}  # features without live counts are left out
    assert rows["label"]["n"] == 10
    assert rows["label"]["psi"] == pytest.approx(0.4 * math.log(9), abs=1e-5)  # 0.5/0.5 -> 0.9/0.1
    assert rows["label"]["verdict"] == "alert"
    same = drift.count(reference["features"], {"label": ["negative", "positive"] * 50})
    assert drift.evaluate(reference, same)[0] == {"feature": "label", "kind": "output", "n": 100, "psi": 0.0,
                                                  "verdict": "ok"}


def test_the_reference_follows_the_manifest_schema():
    import jsonschema

    reference = drift.build_reference(
        "face-detection", {"image_pixels": [1e6] * 20, "brightness": list(range(20)), "contrast": [5.0] * 20},
        {"faces": [0.0] * 19 + [1.0], "face_score": [0.8]})
    definitions = schema("manifest")["$defs"]
    jsonschema.Draft202012Validator({"$ref": "#/$defs/drift", "$defs": definitions}).validate(reference)
    assert reference["features"]["faces"]["proportions"] == [0.95, 0.05, 0.0, 0.0]
    assert reference["features"]["face_score"]["n"] == 1


def test_image_features():
    grey = Image.new("RGB", (4000, 3000), (128, 128, 128))
    observed = drift.observe_image(grey)
    assert observed == {"image_pixels": [12_000_000.0], "brightness": [pytest.approx(128.0, abs=1e-3)],
                        "contrast": [0.0]}
    assert drift.sample_pixels(grey).shape == (192, 256, 3)  # nearest-neighbour sample, longer side 256
    halves = np.zeros((10, 10, 3), np.uint8)
    halves[:5] = 255
    observed = drift.image_observations(halves, 10, 10)
    assert observed["brightness"][0] == pytest.approx(127.5, abs=1e-3)
    assert observed["contrast"][0] == pytest.approx(127.5, abs=1e-3)


def test_text_features():
    # [CLS] a [UNK] b [UNK] [SEP] [PAD]: 2 unknown of 4 real tokens
    observed = drift.text_observations("a ☃ b ☃", [101, 7, 100, 8, 100, 102, 0], 100, {0, 101, 102})
    assert observed == {"text_chars": [7.0], "unknown_share": [0.5]}
    assert drift.text_observations("", [101, 102], 100, {101, 102})["unknown_share"] == [0.0]


def test_result_features():
    one = {"labels": [{"label": "positive", "score": 0.93}, {"label": "negative", "score": 0.07}], "uncertain": False}
    many = {"results": [one, {**one, "uncertain": True}]}
    assert drift.observe_result("text-classification", many) == {
        "label": ["positive", "positive"], "confidence": [0.93, 0.93], "uncertain": ["no", "yes"]}
    faces = {"faces": [{"box": [0, 0, 1, 1], "score": 0.91, "keypoints": []},
                       {"box": [0, 0, 1, 1], "score": 0.55, "keypoints": []}]}
    assert drift.observe_result("face-detection", faces) == {"faces": [2.0], "face_score": [0.91, 0.55]}
    assert drift.observe_result("embeddings", {"embedding": [0.1]}) == {}
