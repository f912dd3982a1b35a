"""Gates: a variant over its size budget or under an accuracy floor is rejected, on the
runtime of each backend it suits; and the choice of one variant per backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.manifest import JUDGED_BY, TFJS_BACKENDS, passes, server_preference

WEBGPU_PREFERENCE = ("fp16", "fp32")  # int8 never suits WebGPU (convert/opcheck.py)

# The WASM pick minimises what a user waits for: the download plus a session's worth of runs,
#     cost_ms = bytes / WASM_BANDWIDTH + WASM_RUNS * WASM latency (ORT Web, 1 thread).
# 10 Mbit/s is a slow home or a good mobile link; 100 runs a few minutes of a live page.
# Measured in ORT Web (this pipeline): static-QDQ int8 CNNs run slower than fp16/fp32 while
# dynamic-int8 transformers run ~2x faster, so neither "smallest" nor "fastest" alone is right:
# a 0.2 MB model should not default to its slowest variant, a 90 MB one not to its largest.
WASM_BANDWIDTH_BYTES_PER_MS = 10e6 / 8 / 1000
WASM_RUNS = 100


def judge(precision: str, size: int, metrics: Mapping[str, float], gates: Mapping[str, Any]) -> dict[str, Any]:
    """``{"passed": bool, "reasons": [...]}``: every broken gate is listed, with its numbers."""
    reasons = []
    budget = gates["max_bytes"][precision]
    if size > budget:
        reasons.append(f"size {size} bytes is over the {precision} budget of {budget} bytes")
    for metric, floor in gates.get("min", {}).items():
        value = metrics.get(metric)
        if value is None:
            reasons.append(f"metric {metric} was not measured (gate min {floor})")
        elif value < floor:
            reasons.append(f"{metric} {value:.4f} is under the floor {floor}")
    for metric, ceiling in gates.get("max", {}).items():
        value = metrics.get(metric)
        if value is None:
            reasons.append(f"metric {metric} was not measured (gate max {ceiling})")
        elif value > ceiling:
            reasons.append(f"{metric} {value:.4f} is over the ceiling {ceiling}")
    return {"passed": not reasons, "reasons": reasons}


def judge_backends(variant: Mapping[str, Any], gates: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The verdict on each backend ``variant`` suits, from that backend's runtime's metrics.

    WebGPU has no runtime at conversion (no GPU in Node): it takes the WASM verdict, and
    says so (``judged_by``); TF.js's WebGL and WebGPU take TF.js wasm's. The browser tests
    check WebGPU results against the server.
    """
    verdicts: dict[str, dict[str, Any]] = {}
    evaluations = variant["evaluations"]
    for backend in variant["backends"]:
        runtime = JUDGED_BY.get(backend, backend)
        if runtime not in evaluations:
            verdicts[backend] = {"passed": False, "reasons": [f"not measured on {runtime}"]}
            continue
        verdict = judge(variant["precision"], variant["bytes"], evaluations[runtime]["metrics"], gates)
        if runtime != backend:
            verdict["judged_by"] = runtime
        verdicts[backend] = verdict
    return verdicts


def wasm_cost_ms(variant: Mapping[str, Any], runtime: str = "wasm") -> float:
    """Download at 10 Mbit/s plus 100 runs at the measured latency on ``runtime``: ORT Web's WASM
    build, or TF.js's wasm backend for a TF.js graph model (see above)."""
    latency = variant["evaluations"][runtime]["latency_ms"]["threads_1"]
    return variant["bytes"] / WASM_BANDWIDTH_BYTES_PER_MS + WASM_RUNS * latency


def recommend(variants: list[dict[str, Any]], client: Mapping[str, Any]) -> dict[str, str | None]:
    """The variant file each backend should load; only variants that passed there are named.

    Browsers get nothing for a server-only model, nor a variant over the client budget.
    WebGPU prefers fp16, then fp32; WASM takes the lowest ``wasm_cost_ms``; the server the
    most faithful, then fastest, variant (``contract.manifest.server_preference``). A version
    with TF.js graph models also names one per TF.js backend (lowest cost on TF.js's wasm).
    ``client.prefer`` (e.g. ``{wasm = ["fp16", "int8"]}``) overrides the order for a backend.
    """
    budget = client.get("max_client_bytes", 0)
    prefer = client.get("prefer", {})
    chosen: dict[str, str | None] = {}

    def servable(backend: str) -> list[dict[str, Any]]:
        """The variants a browser may load on ``backend``: passed there, not server-only, within budget."""
        return [v for v in variants
                if passes(v, backend) and not client.get("server_only") and (not budget or v["bytes"] <= budget)]

    for backend in ("webgpu", "wasm"):
        fits = servable(backend)
        if backend in prefer:
            order = tuple(prefer[backend])
            fits.sort(
                key=lambda v: (order.index(v["precision"]) if v["precision"] in order else len(order), v["bytes"])
            )
        elif backend == "webgpu":
            fits.sort(key=lambda v: (WEBGPU_PREFERENCE.index(v["precision"]), v["bytes"]))
        else:
            fits.sort(key=lambda v: (wasm_cost_ms(v), v["bytes"]))
        chosen[backend] = fits[0]["file"] if fits else None
    ranked = server_preference(variants)
    chosen["server"] = ranked[0]["file"] if ranked else None
    if any(v.get("format") == "tfjs-graph" for v in variants):
        # TF.js graph models: the same cost on TF.js's wasm backend; WebGL and WebGPU take that pick.
        fits = sorted(servable("tfjs-wasm"), key=lambda v: (wasm_cost_ms(v, "tfjs-wasm"), v["bytes"]))
        for backend in TFJS_BACKENDS:
            chosen[backend] = next((v["file"] for v in fits if passes(v, backend)), None)
    return chosen
