"""The load-time self-check: a variant must reproduce its reference outputs on this host.

Each version carries ``selfcheck.npz`` (named in the manifest's ``self_check``): a few
inputs taken from the evaluation data, and the outputs every variant gave on them at
conversion, on ONNX Runtime Web's WASM build (the same on every CPU) where the variant
runs in the browser. When the host loads a variant it runs those inputs and compares,
output by output, within the tolerance the manifest states for that variant (derived
from the native-vs-WASM difference measured at conversion; ``convert/selfcheck.py``).

A variant that deviates is not served: CPU-dependent numerics or a broken runtime
install show up at deployment, in the log and in readiness, not in users' results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILE = "selfcheck.npz"
Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Verdict:
    """What the self-check of one variant found."""

    passed: bool
    message: str


def input_key(sample: int, name: str) -> str:
    return f"input/{sample}/{name}"


def expected_key(file: str, sample: int, output: int) -> str:
    return f"expected/{file}/{sample}/{output}"


def load(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a self-check file (no pickles: numpy's safe loader)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def run(
    spec: dict[str, Any], arrays: dict[str, np.ndarray], file: str, infer: Callable[[Feeds], list[np.ndarray]],
    input_names: list[str],
) -> Verdict:
    """Run ``infer`` on the reference inputs and compare with ``file``'s expected outputs."""
    tolerance = spec["variants"].get(file)
    if tolerance is None:
        return Verdict(False, f"the manifest has no self-check reference for {file}")
    worst = (0.0, "")
    for sample in range(int(spec["samples"])):
        feeds = {name: arrays[input_key(sample, name)] for name in input_names}
        outputs = infer(feeds)
        for index, (actual, atol) in enumerate(zip(outputs, tolerance["atol"])):
            expected = arrays[expected_key(file, sample, index)]
            if np.shape(actual) != expected.shape:
                return Verdict(False, f"output {index} of reference input {sample} has shape "
                                      f"{list(np.shape(actual))}, expected {list(expected.shape)}")
            diff = float(np.max(np.abs(np.asarray(actual, np.float64) - expected.astype(np.float64)), initial=0.0))
            if not np.isfinite(diff) or diff > atol:
                return Verdict(False, f"output {index} of reference input {sample} is {diff:.3g} away from "
                                      f"the reference ({tolerance['reference']}); the tolerance is {atol:.3g}")
            worst = max(worst, (diff / atol if atol else 0.0, f"{diff:.3g} (tolerance {atol:.3g})"))
    return Verdict(True, f"reproduced its {spec['samples']} reference outputs; worst difference {worst[1] or '0'}")
