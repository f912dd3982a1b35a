"""Gates reject what is too big or too unfaithful, and only passing variants are recommended."""

from __future__ import annotations

from convert.gates import judge, recommend

GATES = {"max_bytes": {"fp32": 1000, "int8": 300, "fp16": 500}, "min": {"top1_agreement": 0.98}, "max": {"false_positives": 0}}


def variant(precision: str, size: int, passed: bool, latency: float, backends: list[str]) -> dict:
    return {
        "file": f"model.{precision}.onnx", "precision": precision, "bytes": size, "backends": backends,
        "latency_ms": {"threads_1": latency}, "gates": {"passed": passed, "reasons": []},
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


def test_rejected_variants_are_never_recommended() -> None:
    variants = [
        variant("fp32", 1000, True, 5.0, ["webgpu", "wasm", "server"]),
        variant("int8", 300, False, 2.0, ["wasm", "server"]),
        variant("fp16", 500, True, 6.0, ["webgpu", "wasm", "server"]),
    ]
    chosen = recommend(variants, {"max_client_bytes": 10_000})
    assert chosen == {"webgpu": "model.fp16.onnx", "wasm": "model.fp16.onnx", "server": "model.fp32.onnx"}


def test_server_only_models_recommend_nothing_to_browsers() -> None:
    variants = [variant("fp32", 1000, True, 5.0, ["webgpu", "wasm", "server"])]
    assert recommend(variants, {"server_only": True}) == {"webgpu": None, "wasm": None, "server": "model.fp32.onnx"}


def test_the_client_budget_sends_big_models_to_the_server() -> None:
    variants = [variant("fp32", 1000, True, 5.0, ["webgpu", "wasm", "server"])]
    assert recommend(variants, {"max_client_bytes": 999})["wasm"] is None


def test_a_recipe_can_prefer_another_precision_per_backend() -> None:
    def variant(file, precision, nbytes):
        return {"file": file, "precision": precision, "bytes": nbytes, "backends": ["webgpu", "wasm", "server"],
                "latency_ms": {"threads_1": 1.0}, "gates": {"passed": True, "reasons": []}}

    variants = [variant("model.onnx", "fp32", 300), variant("model.int8.onnx", "int8", 100),
                variant("model.fp16.onnx", "fp16", 150)]
    assert recommend(variants, {})["wasm"] == "model.int8.onnx"
    assert recommend(variants, {"prefer": {"wasm": ["fp16", "int8"]}})["wasm"] == "model.fp16.onnx"
