"""Text tasks: embedding pooling math, classification results, the sentiment head as plain ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from contract.tasks import embeddings, text_classification
from contract.tasks.assets import TaskAssets, load_assets
from contract.tasks.tokenization import TextBatch
from harness.catalog import GOLDEN as GOLDEN_DIR

GOLDEN = json.loads(
    (GOLDEN_DIR / "text_classification.json").read_text()
)
POST = {
    "labels": ["negative", "positive"],
    "top_k": 2,
    "confidence_threshold": 0.6,
    "activation": "none",
}


def test_mean_pool_ignores_padding():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    pooled = embeddings.mean_pool(hidden, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(pooled, [[2.0, 3.0]])
    np.testing.assert_allclose(embeddings.mean_pool(hidden, None), [[104 / 3, 106 / 3]], rtol=1e-6)


def test_l2_normalize_and_cosine():
    v = embeddings.l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, 0.0]])
    assert embeddings.cosine_similarity(
        np.array([1.0, 0.0]), np.array([2.0, 0.0])
    ) == pytest.approx(1.0)
    assert embeddings.cosine_similarity(
        np.array([1.0, 0.0]), np.array([0.0, 3.0])
    ) == pytest.approx(0.0)
    matrix = embeddings.cosine_similarity(np.eye(3), np.eye(3)[:2])
    np.testing.assert_allclose(matrix, np.eye(3)[:, :2])


def test_embedding_results_for_one_text_and_a_list():
    out = np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32)
    many = embeddings.finish([out], TextBatch(single=False, attention_mask=None), {})
    assert len(many["embeddings"]) == 2 and len(many["embeddings"][0]) == 384
    assert np.linalg.norm(many["embeddings"], axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    one = embeddings.finish([out[:1]], TextBatch(single=True, attention_mask=None), {})
    assert list(one) == ["embedding"] and one["embedding"] == pytest.approx(
        many["embeddings"][0], abs=1e-6
    )


def test_token_states_are_pooled_with_the_mask():
    hidden = np.random.default_rng(1).normal(size=(1, 4, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0]])
    got = embeddings.finish([hidden], TextBatch(single=True, attention_mask=mask), {})["embedding"]
    want = embeddings.l2_normalize(hidden[0, :3].mean(axis=0, keepdims=True))[0]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_classification_shape_and_uncertain_flag():
    single = text_classification.finish(
        [np.array([[0.45, 0.55]], np.float32)], TextBatch(True, None), {"postprocess": POST}
    )
    assert set(single) == {"labels", "uncertain", "fallback"}
    assert single["labels"][0]["label"] == "positive" and single["uncertain"] is True
    assert single["fallback"] is None
    batch = text_classification.finish(
        [np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)],
        TextBatch(False, None),
        {"postprocess": POST},
    )
    assert [r["labels"][0]["label"] for r in batch["results"]] == ["positive", "negative"]
    assert [r["uncertain"] for r in batch["results"]] == [False, False]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["name"])
def test_golden_classification(case):
    result = text_classification.finish(
        [np.array(case["probabilities"], np.float32)],
        TextBatch(single=case["single"], attention_mask=None),
        {"postprocess": case["postprocess"]},
    )
    assert result == case["expected"]


def test_sentence_embedder_pools_like_numpy():
    torch = pytest.importorskip("torch")
    from contract.tasks.tokenization import encode, load_tokenizer
    from convert.networks.minilm import load_sentence_embedder, minilm_dir

    model = load_sentence_embedder()
    enc = encode(
        ["a short one", "a rather longer sentence with padding below it"],
        load_tokenizer(minilm_dir() / "tokenizer.json", 256),
    )
    ids, mask = torch.from_numpy(enc["input_ids"]), torch.from_numpy(enc["attention_mask"])
    with torch.inference_mode():
        got = model(ids, mask).numpy()
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    want = embeddings.l2_normalize(embeddings.mean_pool(hidden, enc["attention_mask"]))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_head_to_onnx_is_plain_and_matches_predict_proba():
    pytest.importorskip("skl2onnx")
    from convert.training.sentiment import head_to_onnx, train_sentiment_head

    rng = np.random.default_rng(0)
    x = embeddings.l2_normalize(rng.normal(size=(300, 384))).astype(np.float32)
    y = (x[:, 0] + 0.1 * rng.normal(size=300) > 0).astype(np.int64)
    model = train_sentiment_head(x, y, seed=0)
    proto = head_to_onnx(model)
    assert {(n.domain or "ai.onnx", n.op_type) for n in proto.graph.node} <= {
        ("ai.onnx", "MatMul"),
        ("ai.onnx", "Add"),
        ("ai.onnx", "Sigmoid"),
        ("ai.onnx", "Softmax"),
    }
    assert [o.domain for o in proto.opset_import] == [""]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["embedding"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    probs = session.run(None, {"embedding": x})[0]
    assert probs.shape == (300, 2)
    np.testing.assert_allclose(probs, model.predict_proba(x), atol=1e-6)


def _lexicon() -> tuple[dict, TaskAssets]:
    """A manifest with the lexicon fallback, and its assets loaded from the vaderSentiment package."""
    import vaderSentiment

    manifest = {"postprocess": POST, "fallback": {"lexicon": "vader_lexicon.txt"}}
    return manifest, load_assets(manifest, Path(vaderSentiment.__file__).parent)


def test_unsure_model_falls_back_to_the_lexicon_and_says_so():
    manifest, assets = _lexicon()
    unsure = [np.array([[0.55, 0.45], [0.48, 0.52], [0.1, 0.9]], np.float32)]
    texts = ("I absolutely love this wonderful, great place!", "It is a table.", "Awful, terrible, hateful.")
    got = text_classification.finish(unsure, TextBatch(False, None, texts), manifest, assets)["results"]
    # 1: the model was unsure (0.55), the lexicon is clearly positive: the lexicon answers.
    assert got[0]["fallback"] == "lexicon" and got[0]["uncertain"] is True
    assert got[0]["labels"][0]["label"] == "positive" and got[0]["labels"][0]["score"] > 0.9
    # 2: unsure, but the lexicon is neutral: the model's unsure answer stays.
    assert got[1]["fallback"] is None and got[1]["labels"][0]["label"] == "positive"
    # 3: the model is confident: no fallback, even though the lexicon disagrees.
    assert got[2]["fallback"] is None and got[2]["labels"][0]["label"] == "positive"


def test_lexicon_labels_map_compound_to_scores():
    from contract.tasks.text_classification import lexicon_labels

    assert lexicon_labels(0.6, ["negative", "positive"]) == [
        {"label": "positive", "score": 0.8},
        {"label": "negative", "score": 0.2},
    ]
    assert lexicon_labels(-1.0, ["negative", "positive"])[0] == {"label": "negative", "score": 1.0}
