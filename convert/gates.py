"""Gates: a variant over its size budget or under an accuracy floor is rejected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFERENCE = {  # tie-breaks between passing variants, best first
    "webgpu": ("fp16", "fp32"),
    "wasm": ("int8", "fp16", "fp32"),
}


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


def recommend(variants: list[dict[str, Any]], client: Mapping[str, Any]) -> dict[str, str | None]:
    """The variant file each backend should load; only passing variants are ever named.

    Browsers get nothing for a server-only model, nor a variant over the client budget.
    The server takes the passing variant with the lowest native latency.
    ``client.prefer`` (e.g. ``{wasm = ["fp16", "int8"]}``) replaces the default order
    for a backend: a recipe sets it when the browser measures differently from the
    native runtime (ORT Web runs small QDQ int8 CNNs slower than fp16).
    """
    passing = [v for v in variants if v["gates"]["passed"]]
    budget = client.get("max_client_bytes", 0)
    chosen: dict[str, str | None] = {}
    for backend, default_order in PREFERENCE.items():
        order = tuple(client.get("prefer", {}).get(backend, default_order))
        fits = [
            v for v in passing
            if backend in v["backends"] and not client.get("server_only") and (not budget or v["bytes"] <= budget)
        ]
        fits.sort(key=lambda v: (order.index(v["precision"]) if v["precision"] in order else len(order), v["bytes"]))
        chosen[backend] = fits[0]["file"] if fits else None
    fastest = sorted(passing, key=lambda v: (v["latency_ms"].get("threads_1", float("inf")), v["bytes"]))
    chosen["server"] = fastest[0]["file"] if fastest else None
    return chosen
