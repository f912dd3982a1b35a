"""Dynamic batching (app/batching.py): concurrent requests answer as if each ran alone.

Every catalog model's server variant, real ONNX Runtime sessions, real threads: N requests
with different inputs (texts of different lengths, so the batch is padded) start together on
a batching pool and each answer is compared with the same input run alone on a pool without
batching. Labels and every other non-float field must be equal; scores and embeddings agree
within ``TOLERANCE`` (a GEMM over more rows, or over padded sequences, may add in another
order: images are bit-identical, the text models differ by at most 6e-8).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np
import pytest
import requests
from prometheus_client import REGISTRY
from skimage import data

from app import create_app
from app.batching import Batcher
from app.inference import SessionPool, run_task
from app.registry import Registry
from harness.catalog import CATALOG, MODELS, face_crop

TOLERANCE = 1e-5
TEXTS = [
    "great",
    "The service was slow and the food was cold, but the dessert made up for it.",
    "I would not recommend this to anyone.",
    "What a wonderful, warm and funny film; the cast is superb and the ending made me cry with joy. "
    "I have seen it three times already and will see it again.",
    ["meh", "Absolutely loved every minute of it!"],
    "Terrible.",
]


def images(name: str) -> list[Any]:
    from PIL import Image

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.astronaut()[::2, ::2],
              data.chelsea()[:, ::-1]]
    if name == "emotion":  # faces, as the face-emotion pipeline crops them
        return [face_crop(Image.fromarray(data.astronaut()), [177.3 + d, 80.6 + d, 94.6, 94.6]) for d in range(6)]
    return [Image.fromarray(np.ascontiguousarray(p)) for p in photos]


def samples(model) -> list[Any]:
    return images(model.name) if model.task in ("image-classification", "face-detection") else TEXTS


def batch_metric(name: str, sample: str) -> float:
    return REGISTRY.get_sample_value(f"browserml_batch_size_{sample}", {"model": name}) or 0.0


def assert_same(batched: Any, alone: Any, where: str = "result") -> None:
    if isinstance(alone, dict):
        assert batched.keys() == alone.keys(), where
        for key in alone:
            assert_same(batched[key], alone[key], f"{where}.{key}")
    elif isinstance(alone, list):
        assert len(batched) == len(alone), where
        for i, (b, a) in enumerate(zip(batched, alone, strict=True)):
            assert_same(b, a, f"{where}[{i}]")
    elif isinstance(alone, float):
        assert abs(batched - alone) <= TOLERANCE, f"{where}: {batched} batched, {alone} alone"
    else:
        assert batched == alone, where


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(MODELS)


@pytest.mark.parametrize("name", CATALOG)
def test_concurrent_requests_answer_as_each_alone(registry, name):
    model = registry.resolve(name)
    alone_pool, batching_pool = SessionPool(), SessionPool(batcher=Batcher(max_size=16, max_delay=0.25))
    variant = alone_pool.server_variant(model)
    assert batching_pool.server_variant(model) == variant
    inputs = samples(model)
    alone = [run_task(alone_pool, model, variant, sample)[0] for sample in inputs]

    rows_before, batches_before = batch_metric(name, "sum"), batch_metric(name, "count")
    start, answers = threading.Barrier(len(inputs)), [None] * len(inputs)

    def ask(i: int) -> None:
        start.wait()
        answers[i] = run_task(batching_pool, model, variant, inputs[i])[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for i, (batched, single) in enumerate(zip(answers, alone, strict=True)):
        assert batched is not None, f"request {i} got no answer"
        assert_same(batched, single, f"{name} request {i}")

    batched_rows, batches = batch_metric(name, "sum") - rows_before, batch_metric(name, "count") - batches_before
    if batching_pool.batcher.plan(model, variant).batchable:  # type: ignore[union-attr]
        assert batched_rows == sum(len(s) if isinstance(s, list) else 1 for s in inputs)
        assert batches < len(inputs), "no two requests shared a batch"
    else:  # the face detector's batch is fixed to 1: every request ran on its own, unqueued
        assert name == "face-detector" and batched_rows == 0


def test_what_never_batches(registry):
    """A batch fixed to 1, and dynamic int8 (its scales come from the whole batch), run alone."""
    batcher = Batcher()
    detector = batcher.plan(registry.resolve("face-detector"), "model.onnx")
    assert not detector.batchable and "fixed batch" in detector.reason
    sentiment = registry.resolve("sentiment")
    dynamic = [v["file"] for v in sentiment.manifest["variants"] if v.get("quantization") == "dynamic"]
    assert dynamic and not batcher.plan(sentiment, dynamic[0]).batchable
    assert batcher.plan(sentiment, sentiment.manifest["recommended"]["server"]).batchable
    assert dict(batcher.plan(sentiment, "model.onnx").padded) == {"input_ids": (1,), "attention_mask": (1,)}


def test_batching_is_on_by_default_and_can_be_turned_off(tmp_path, monkeypatch):
    on = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "LIFECYCLE_DB": str(tmp_path / "l.sqlite"),
                     "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite'}"})
    batcher = on.extensions["browserml"].pool.batcher
    assert batcher is not None and (batcher.max_size, batcher.max_delay) == (16, 0.0)
    monkeypatch.setenv("BROWSERML_BATCHING", "0")
    off = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "LIFECYCLE_DB": str(tmp_path / "l.sqlite"),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite'}"})
    assert off.extensions["browserml"].pool.batcher is None


def test_a_model_can_have_its_own_batch_limits(registry):
    """BATCH_MAX_SIZE / BATCH_MAX_DELAY_MS as {"<model>": number}: that model batches at most that
    many rows, the others keep the default; a wrong value is refused with what to write."""
    batcher = Batcher.from_config({"BATCH_MAX_SIZE": {"text-embedder": 2},
                                   "BATCH_MAX_DELAY_MS": {"text-embedder": 250}})
    assert batcher is not None
    assert batcher.limits("text-embedder") == (2, 0.25) and batcher.limits("sentiment") == (16, 0.0)
    model = registry.resolve("text-embedder")
    pool = SessionPool(batcher=batcher)
    variant = pool.server_variant(model)
    rows_before, batches_before = batch_metric("text-embedder", "sum"), batch_metric("text-embedder", "count")
    start = threading.Barrier(6)

    def ask(i: int) -> None:
        start.wait()
        run_task(pool, model, variant, f"sentence number {i}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rows = batch_metric("text-embedder", "sum") - rows_before
    batches = batch_metric("text-embedder", "count") - batches_before
    assert rows == 6 and 3 <= batches < 6, f"6 rows in {batches} batches: none of 2, or one over 2"
    for bad, says in (({"BATCH_MAX_SIZE": {"imagenet": "big"}}, "BROWSERML_BATCH_MAX_SIZE['imagenet'] is 'big'"),
                      ({"BATCH_MAX_SIZE": {"imagenet": 0}}, "whole number >= 1"),
                      ({"BATCH_MAX_DELAY_MS": -1}, ">= 0")):
        with pytest.raises(ValueError, match=re.escape(says)):
            Batcher.from_config(bad)


def test_metrics_show_batch_sizes_over_http(live_server):
    """Concurrent HTTP predicts on the default host: /metrics reports the batches and their queue time."""
    start = threading.Barrier(8)
    statuses: list[int] = []

    def ask(text: str) -> None:
        start.wait()
        statuses.append(requests.post(f"{live_server.url}/api/v1/models/sentiment/predict",
                                      json={"text": text}, timeout=60).status_code)

    threads = [threading.Thread(target=ask, args=(f"review number {i} was {'good' * i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 8
    metrics = requests.get(f"{live_server.url}/metrics", timeout=10).text
    assert 'browserml_batch_size_count{model="sentiment"}' in metrics
    assert 'browserml_batch_queue_seconds_count{model="sentiment"}' in metrics


def test_a_bad_tensor_request_fails_alone(registry):
    """A V2 caller's input_ids and attention_mask of different lengths fail as they would unbatched,
    and the well-formed request waiting in the same queue still gets its answer."""
    from app.inference import run_outputs

    model = registry.resolve("sentiment")
    pool = SessionPool(batcher=Batcher(max_size=16, max_delay=0.25))
    good = {"input_ids": np.array([[101, 2307, 102]], dtype=np.int64), "attention_mask": np.ones((1, 3), np.int64)}
    bad = {"input_ids": np.ones((1, 5), np.int64), "attention_mask": np.ones((1, 7), np.int64)}
    expected = run_outputs(SessionPool(), model, "model.onnx", good)
    start, found = threading.Barrier(2), {}

    def ask(which: str, feeds: dict) -> None:
        start.wait()
        try:
            found[which] = run_outputs(pool, model, "model.onnx", feeds)
        except Exception as err:  # ORT's own error type
            found[which] = err

    threads = [threading.Thread(target=ask, args=item) for item in (("good", good), ("bad", bad))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert isinstance(found["bad"], Exception) and "broadcast" in str(found["bad"])
    np.testing.assert_array_equal(found["good"][0], expected[0])
