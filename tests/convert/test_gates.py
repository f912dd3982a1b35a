"""Gates reject what is too big or too unfaithful on each backend's runtime, and each backend
is recommended only variants that passed there."""

from __future__ import annotations

from typing import Any

from contract.manifest import server_preference
from convert.gates import judge, judge_backends, recommend

GATES = {
    "max_bytes": {"fp32": 1000, "int8": 300, "fp16": 500},
    "min": {"top1_agreement": 0.98},
    "max": {"false_positives": 0},
}
ALL = ["webgpu", "wasm", "server"]


def variant(
    precision: str, size: int, *, wasm_ms: float = 1.0, server_ms: float = 1.0, agreement: float = 1.0,
    wasm_agreement: float | None = None, backends: list[str] | None = None, passed: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """A manifest entry; ``passed`` defaults to every backend it suits."""
    backends = backends or (["wasm", "server"] if precision == "int8" else ALL)
    passed = passed or {b: True for b in backends}
    return {
        "file": f"model.{precision}.onnx", "precision": precision, "bytes": size, "backends": backends,
        "evaluations": {
            "server": {"runtime": "native", "metrics": {"top1_agreement": agreement},
                       "latency_ms": {"threads_1": server_ms}},
            "wasm": {"runtime": "wasm",
                     "metrics": {"top1_agreement": agreement if wasm_agreement is None else wasm_agreement},
                     "latency_ms": {"threads_1": wasm_ms}},
        },
        "gates": {b: {"passed": passed.get(b, False), "reasons": []} for b in backends},
    }


def test_a_variant_over_budget_is_rejected_with_the_numbers() -> None:
    verdict = judge("int8", 400, {"top1_agreement": 1.0, "false_positives": 0}, GATES)
    assert not verdict["passed"]
    assert verdict["reasons"] == ["size 400 bytes is over the int8 budget of 300 bytes"]


def test_a_variant_under_the_floor_or_over_the_ceiling_is_rejected() -> None:
    verdict = judge("fp32", 900, {"top1_agreement": 0.97, "false_positives": 2}, GATES)
    assert verdict["reasons"] == [
        "top1_agreement 0.9700 is under the floor 0.98",
        "false_positives 2.0000 is over the ceiling 0",
    ]


def test_an_unmeasured_metric_fails_its_gate() -> None:
    assert not judge("fp32", 900, {"false_positives": 0}, GATES)["passed"]


def test_each_backend_is_judged_on_its_own_runtime() -> None:
    # The same int8 file: faithful in ORT Web's WASM build, not natively (the AVX2 saturation case).
    entry = variant("int8", 200, agreement=0.80, wasm_agreement=1.0)
    for runtime in entry["evaluations"].values():
        runtime["metrics"]["false_positives"] = 0
    verdicts = judge_backends(entry, GATES)
    assert verdicts["wasm"]["passed"] is True
    assert verdicts["server"] == {"passed": False, "reasons": ["top1_agreement 0.8000 is under the floor 0.98"]}
    assert "webgpu" not in verdicts  # int8 does not suit WebGPU


def test_webgpu_takes_the_wasm_verdict_and_says_so() -> None:
    entry = variant("fp16", 400)
    for runtime in entry["evaluations"].values():
        runtime["metrics"]["false_positives"] = 0
    verdict = judge_backends(entry, GATES)["webgpu"]
    assert verdict["passed"] and verdict["judged_by"] == "wasm"


def test_rejected_variants_are_never_recommended() -> None:
    variants = [
        variant("fp32", 1000, server_ms=5.0),
        variant("int8", 300, server_ms=2.0, passed={"wasm": False, "server": False}),
        variant("fp16", 500, server_ms=6.0),
    ]
    chosen = recommend(variants, {"max_client_bytes": 10_000})
    assert chosen == {"webgpu": "model.fp16.onnx", "wasm": "model.fp16.onnx", "server": "model.fp32.onnx"}


def test_a_variant_that_passed_only_in_the_browser_is_not_the_servers() -> None:
    variants = [variant("fp32", 1000), variant("int8", 300, passed={"wasm": True, "server": False})]
    chosen = recommend(variants, {})
    assert chosen["wasm"] == "model.int8.onnx" and chosen["server"] == "model.fp32.onnx"


def test_wasm_takes_the_fastest_variant_of_a_tiny_model() -> None:
    # emotion-like: int8 saves 25 kB (20 ms at 10 Mbit/s) but runs 5x slower in ORT Web.
    variants = [variant("fp32", 230_000, wasm_ms=1.6), variant("int8", 94_000, wasm_ms=9.0),
                variant("fp16", 119_000, wasm_ms=1.5)]
    assert recommend(variants, {})["wasm"] == "model.fp16.onnx"


def test_wasm_takes_the_smallest_variant_of_a_big_model_even_if_a_little_slower() -> None:
    # imagenet-like: int8 is 27% of fp32's bytes and 30% slower in ORT Web.
    variants = [variant("fp32", 18_600_000, wasm_ms=49.0), variant("int8", 5_000_000, wasm_ms=64.0),
                variant("fp16", 9_300_000, wasm_ms=60.0)]
    assert recommend(variants, {})["wasm"] == "model.int8.onnx"


def test_the_server_takes_the_most_faithful_then_the_fastest() -> None:
    variants = [variant("fp32", 1000, server_ms=5.0), variant("fp16", 500, server_ms=4.0),
                variant("int8", 300, server_ms=1.0, agreement=0.95)]
    ranked = [v["file"] for v in server_preference(variants)]
    assert ranked == ["model.fp16.onnx", "model.fp32.onnx", "model.int8.onnx"]  # same agreement: faster first
    variants[0]["evaluations"]["server"]["metrics"]["max_abs_diff"] = 1e-6
    variants[1]["evaluations"]["server"]["metrics"]["max_abs_diff"] = 1.5e-3
    ranked = [v["file"] for v in server_preference(variants)]
    assert ranked == ["model.fp32.onnx", "model.fp16.onnx", "model.int8.onnx"]  # closer to the source first


def test_server_only_models_recommend_nothing_to_browsers() -> None:
    assert recommend([variant("fp32", 1000)], {"server_only": True}) == {
        "webgpu": None, "wasm": None, "server": "model.fp32.onnx"}


def test_the_client_budget_sends_big_models_to_the_server() -> None:
    assert recommend([variant("fp32", 1000)], {"max_client_bytes": 999})["wasm"] is None


def test_a_recipe_can_prefer_another_precision_per_backend() -> None:
    variants = [variant("fp32", 300), variant("int8", 100), variant("fp16", 150)]
    assert recommend(variants, {})["wasm"] == "model.int8.onnx"
    assert recommend(variants, {"prefer": {"wasm": ["fp16", "int8"]}})["wasm"] == "model.fp16.onnx"
