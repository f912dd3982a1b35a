"""Sentiment head: logistic regression on all-MiniLM-L6-v2 sentence embeddings.

Data choice. The head is trained on the *train* split of all four VADER
domains (movie reviews, tweets, Amazon reviews, NYT editorials; see
``convert.datasets.vader``), because the model is meant for any short English
text and the domains disagree on vocabulary and on the balance of labels.
``C`` is picked by stratified 5-fold cross-validation on that train set only.
The *calibration* split is kept for quantisation, and the held-out *test*
split of movies and tweets measures the result.

Why plain ONNX. skl2onnx writes a LogisticRegression as one ``ai.onnx.ml``
``LinearClassifier`` node (plus ``ZipMap`` unless disabled). The ML ops are
compiled into onnxruntime-web's default WASM build, but not into its WebGPU or
WebNN providers, and ZipMap's sequence-of-maps output cannot be read through
the JavaScript API at all. ``head_to_onnx`` therefore converts with skl2onnx
(no ZipMap) and rewrites the ``LinearClassifier`` into MatMul + Add + Sigmoid
(or Softmax), standard ``ai.onnx`` ops that every runtime and the quantiser
understand.

``python -m convert.training.sentiment`` trains the head and prints accuracies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from convert.datasets import vader
from convert.errors import ConversionError

C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TRAIN_DOMAINS = tuple(vader.DOMAINS)
EVAL_DOMAINS = ("movies", "tweets")
LABELS = ("negative", "positive")  # column order of the head's probabilities
_POST_TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX")


def labelled(domains: Sequence[str], split: str) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels of ``split`` over ``domains``, domain by domain in file order."""
    rows = [s for d in domains for s in vader.split(d, split)]
    return [s.text for s in rows], np.array([s.label for s in rows], dtype=np.int64)


def embed_texts(embedder, texts: Sequence[str], tokenizer: Any, batch_size: int = 64) -> np.ndarray:
    """Float32 ``[N, dim]`` embeddings with a torch ``SentenceEmbedder`` and a
    ``contract.tasks.tokenization.load_tokenizer`` tokenizer, batched by length."""
    import torch

    from contract.tasks.tokenization import encode

    if not texts:
        raise ValueError("embed_texts needs at least one text")
    order = np.argsort([len(t) for t in texts], kind="stable")
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = encode([texts[i] for i in order[start : start + batch_size]], tokenizer)
            ids, mask = (torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask"))
            chunks.append(embedder(ids, mask).numpy())
    out = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(chunks)
    return out


def cached_embeddings(embedder, texts: Sequence[str], tokenizer: Any, batch_size: int = 64) -> np.ndarray:
    """``embed_texts``, kept on disk (``<cache>/embeddings/<key>.npy``, the cache of
    ``convert.datasets.vader.cache_dir``) so that ``browserml retrain`` does not embed the whole
    train split again. The key hashes everything the bytes depend on: the embedder's weights,
    the tokenizer's configuration, the batch size, torch's version and the texts in order."""
    import hashlib
    import os
    import tempfile

    import torch

    digest = hashlib.sha256(f"torch {torch.__version__} batch {batch_size}\n".encode())
    for name, tensor in sorted(embedder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(tokenizer.to_str().encode())
    for text in texts:
        digest.update(text.encode() + b"\x00")
    path = vader.cache_dir().parent / "embeddings" / f"{digest.hexdigest()}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.dtype == np.float32 and cached.ndim == 2 and len(cached) == len(texts):
                return cached
        except (OSError, ValueError):
            pass  # damaged: computed again and replaced below
    out = embed_texts(embedder, texts, tokenizer, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    with os.fdopen(handle, "wb") as file:
        np.save(file, out, allow_pickle=False)
    os.replace(tmp, path)
    return out


def train_sentiment_head(
    embeddings: np.ndarray, labels: np.ndarray, seed: int = 0, class_weight: str | None = None,
    sample_weight: np.ndarray | None = None, train_only: int = 0,
) -> LogisticRegression:
    """Logistic regression on ``embeddings``; ``C`` from stratified 5-fold CV over ``C_GRID``.

    The last ``train_only`` rows (feedback, weighted by ``sample_weight``) take no part in choosing
    ``C``: it is chosen on the other rows exactly as a training without them chooses it (same rows,
    same folds), then the head is fit on every row. The CV scores of neighbouring ``C`` values are
    close, so letting 40 feedback rows into the folds can flip ``C``, and that moves accuracy more
    than the feedback does.
    """
    rated = len(labels) - train_only
    search = GridSearchCV(
        LogisticRegression(max_iter=5000, class_weight=class_weight),
        {"C": list(C_GRID)},
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed),
        scoring="accuracy",
    )
    search.fit(np.asarray(embeddings[:rated], dtype=np.float64), np.asarray(labels[:rated]))
    if not train_only:
        return search.best_estimator_
    head = LogisticRegression(max_iter=5000, class_weight=class_weight, C=search.best_params_["C"])
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return head.fit(np.asarray(embeddings, dtype=np.float64), np.asarray(labels), sample_weight=weights)


def _attribute(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def plain_linear_classifier(
    model: onnx.ModelProto, input_name: str, output_name: str, opset: int = 17
) -> onnx.ModelProto:
    """Rewrite skl2onnx's single ``LinearClassifier`` graph as MatMul + Add (+ Sigmoid/Softmax).

    The ``LinearClassifier`` computes ``post_transform(X @ coefficients.T + intercepts)``
    over its classes in ``classlabels`` order; only its score output is kept.
    """
    ops = [n for n in model.graph.node if n.op_type not in ("Identity", "Cast")]
    if len(ops) != 1 or ops[0].op_type != "LinearClassifier":
        found = ", ".join(n.op_type for n in model.graph.node)
        raise ConversionError(f"expected one LinearClassifier node from skl2onnx, found: {found}")
    node = ops[0]
    transform = _attribute(node, "post_transform", b"NONE").decode()
    if transform not in _POST_TRANSFORMS:
        raise ConversionError(
            f"LinearClassifier post_transform {transform!r}; supported: {_POST_TRANSFORMS}"
        )
    intercepts = np.asarray(_attribute(node, "intercepts"), dtype=np.float32)
    weights = (
        np.asarray(_attribute(node, "coefficients"), dtype=np.float32)
        .reshape(len(intercepts), -1)
        .T
    )
    n_features = weights.shape[0]

    nodes = [
        helper.make_node("MatMul", [input_name, "head_weight"], ["head_matmul"]),
        helper.make_node(
            "Add",
            ["head_matmul", "head_bias"],
            ["head_logits" if transform != "NONE" else output_name],
        ),
    ]
    if transform == "LOGISTIC":
        nodes.append(helper.make_node("Sigmoid", ["head_logits"], [output_name]))
    elif transform == "SOFTMAX":
        nodes.append(helper.make_node("Softmax", ["head_logits"], [output_name], axis=-1))
    graph = helper.make_graph(
        nodes,
        "sentiment_head",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", len(intercepts)])],
        initializer=[
            numpy_helper.from_array(weights, "head_weight"),
            numpy_helper.from_array(intercepts, "head_bias"),
        ],
    )
    plain = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="browserml"
    )
    plain.ir_version = 8  # what onnxruntime-web >= 1.14 reads; enough for opset 17
    onnx.checker.check_model(plain, full_check=True)
    return plain


def head_to_onnx(
    model: LogisticRegression,
    input_name: str = "embedding",
    output_name: str = "probabilities",
    opset: int = 17,
) -> onnx.ModelProto:
    """Plain ONNX: float ``[N, dim]`` -> float ``[N, 2]`` probabilities [negative, positive]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    if [int(c) for c in model.classes_] != [0, 1]:
        raise ConversionError(f"sentiment head classes are {list(model.classes_)}; expected [0, 1]")
    converted = convert_sklearn(
        model,
        initial_types=[(input_name, FloatTensorType([None, model.n_features_in_]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": opset, "ai.onnx.ml": 3},
    )
    return plain_linear_classifier(converted, input_name, output_name, opset)


def main() -> None:
    """Train on all domains' train split; print CV choice and held-out accuracy per domain."""
    from contract.tasks.tokenization import load_tokenizer, max_length
    from convert.networks.minilm import load_sentence_embedder, minilm_dir
    from convert.recipe import load_recipe

    recipe = load_recipe("sentiment", Path(__file__).resolve().parents[2])
    embedder = load_sentence_embedder()
    tokenizer = load_tokenizer(minilm_dir() / "tokenizer.json", max_length(recipe.preprocess))
    texts, labels = labelled(TRAIN_DOMAINS, "train")
    head = train_sentiment_head(embed_texts(embedder, texts, tokenizer), labels)
    print(f"trained on {len(texts)} snippets, C={head.C}")
    for domain in EVAL_DOMAINS:
        test_texts, test_labels = labelled([domain], "test")
        accuracy = head.score(embed_texts(embedder, test_texts, tokenizer), test_labels)
        print(f"{domain}: held-out accuracy {accuracy:.4f} on {len(test_texts)} snippets")


if __name__ == "__main__":
    main()


def train_for_recipe(
    embedder, tokenizer: Any, extra: Sequence[tuple[str, str]] = (), extra_weight: float = 1.0
) -> LogisticRegression:
    """The sentiment recipe's trainer: the train split of every domain, embedded by ``embedder``.

    ``extra`` (``browserml retrain``): (text, label name) pairs appended to that train set,
    embedded the same way, each weighted ``extra_weight`` against one training snippet's 1. They do
    not take part in choosing ``C`` (``train_sentiment_head``'s ``train_only``).
    """
    texts, labels = labelled(TRAIN_DOMAINS, "train")
    embeddings = cached_embeddings(embedder, texts, tokenizer)
    if not extra:
        return train_sentiment_head(embeddings, labels)
    unknown = sorted({label for _, label in extra} - set(LABELS))
    if unknown:
        raise ConversionError(f"extra training labels {unknown} are not the head's labels {list(LABELS)}")
    extra_labels = np.array([LABELS.index(label) for _, label in extra], dtype=np.int64)
    weights = np.concatenate([np.ones(len(texts)), np.full(len(extra), float(extra_weight))])
    embeddings = np.concatenate([embeddings, embed_texts(embedder, [text for text, _ in extra], tokenizer)])
    return train_sentiment_head(embeddings, np.concatenate([labels, extra_labels]), sample_weight=weights,
                                train_only=len(extra))
