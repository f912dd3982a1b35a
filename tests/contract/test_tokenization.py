"""Tokenization of the text tasks: matches transformers, pads to the longest, truncates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contract.tasks.assets import TaskAssets
from contract.tasks.tokenization import encode, load_tokenizer, prepare_texts
from convert.networks.minilm import minilm_dir
from harness.catalog import GOLDEN as GOLDEN_DIR

GOLDEN = json.loads((GOLDEN_DIR / "tokenization.json").read_text())
SENTENCES = ["Hello, world!", "This movie was absolutely WONDERFUL — I loved every minute of it."]


@pytest.fixture(scope="module")
def tokenizer_path():
    return minilm_dir() / "tokenizer.json"


def test_matches_transformers_fast_tokenizer(tokenizer_path):
    from transformers import BertTokenizerFast

    reference = BertTokenizerFast(tokenizer_file=str(tokenizer_path))
    expected = reference(
        SENTENCES, padding="longest", truncation=True, max_length=256, return_tensors="np"
    )
    ours = encode(SENTENCES, load_tokenizer(tokenizer_path, 256))
    np.testing.assert_array_equal(ours["input_ids"], expected["input_ids"])
    np.testing.assert_array_equal(ours["attention_mask"], expected["attention_mask"])


def test_int64_and_padded_to_the_longest(tokenizer_path):
    out = encode(["short", "a somewhat longer sentence than the first"], load_tokenizer(tokenizer_path, 256))
    assert out["input_ids"].dtype == np.int64 and out["attention_mask"].dtype == np.int64
    lengths = out["attention_mask"].sum(axis=1)
    assert out["input_ids"].shape[1] == lengths.max()
    assert lengths[0] < lengths[1]
    assert (out["input_ids"][0, lengths[0] :] == 0).all()
    assert out["input_ids"][0, 0] == 101 and out["input_ids"][0, lengths[0] - 1] == 102


def test_truncation_keeps_cls_and_sep(tokenizer_path):
    out = encode(["word " * 500], load_tokenizer(tokenizer_path, 32))
    assert out["input_ids"].shape == (1, 32)
    assert out["input_ids"][0, 0] == 101 and out["input_ids"][0, -1] == 102


def test_a_single_text_is_not_padded(tokenizer_path):
    # tokenizer.json pins padding to 128; load_tokenizer must override it.
    assert encode(["hi"], load_tokenizer(tokenizer_path, 256))["input_ids"].shape == (1, 3)
    assert load_tokenizer(tokenizer_path, 256) is load_tokenizer(str(tokenizer_path), 256)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["text"][:24])
def test_golden_cases(case, tokenizer_path):
    out = encode([case["text"]], load_tokenizer(tokenizer_path, GOLDEN["max_length"]))
    assert out["input_ids"][0].tolist() == case["input_ids"]
    assert out["attention_mask"][0].tolist() == case["attention_mask"]


def test_golden_batch(tokenizer_path):
    batch = GOLDEN["batch"]
    out = encode(batch["texts"], load_tokenizer(tokenizer_path, GOLDEN["max_length"]))
    assert out["input_ids"].tolist() == batch["input_ids"]
    assert out["attention_mask"].tolist() == batch["attention_mask"]


def test_prepare_feeds_follow_the_manifest(tokenizer_path):
    manifest = {
        "inputs": [{"name": "input_ids"}, {"name": "attention_mask"}],
        "preprocess": {"tokenizer": "tokenizer.json", "max_length": 8},
    }
    assets = TaskAssets(tokenizer=load_tokenizer(tokenizer_path, 8))
    feeds, context = prepare_texts(["one", "two three"], manifest, assets)
    assert list(feeds) == ["input_ids", "attention_mask"] and not context.single
    feeds, context = prepare_texts("one", manifest, assets)
    assert context.single and feeds["input_ids"].shape == (1, 3)
    with pytest.raises(ValueError):
        prepare_texts([], manifest, assets)
    with pytest.raises(ValueError, match="token_type_ids"):
        prepare_texts("x", {**manifest, "inputs": [{"name": "token_type_ids"}]}, assets)
    with pytest.raises(ValueError, match="load_assets"):  # no tokenizer given: say how to get one
        prepare_texts("x", manifest)
