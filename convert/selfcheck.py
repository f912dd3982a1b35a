"""Build a version's self-check (``selfcheck.npz`` and the manifest's ``self_check``).

The host re-runs these reference inputs when it loads a variant (``contract/selfcheck.py``).
The expected outputs are ONNX Runtime Web's (WASM) wherever the variant runs in the
browser: WebAssembly gives the same numbers on every CPU, so the reference does not
depend on the machine that converted the model. Variants the browser cannot run keep
native ONNX Runtime's outputs.

Tolerance, per variant and output: ``max(SAFETY * measured, RELATIVE_FLOOR[precision] *
scale)``, where ``measured`` is the largest native-vs-WASM difference over the whole
evaluation set (recorded in the manifest as ``max_abs_diff_vs_wasm``) and ``scale`` the
largest magnitude of that output.

Why 3x: the reference samples are 3 of the evaluation samples, so a healthy host stays
within 1x of ``measured``. What the check must catch, measured: native u8s8 saturation
on an AVX2-only CPU moved imagenet int8 logits by up to 2.28, while the healthy
native-vs-WASM difference of that variant is 0.31 (AMD EPYC with AVX-512 VNNI; the two
runtimes requantise with different rounding): 3x leaves it 0.93, under the damage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contract import selfcheck

SAMPLES = 3
SAFETY = 3.0
# Floors relative to each output's magnitude, so that a variant whose two runtimes happen
# to agree exactly at conversion still tolerates another CPU's summation order.
RELATIVE_FLOOR = {"fp32": 1e-4, "fp16": 1e-3, "int8": 1e-2}


def build(
    work: Path,
    feeds: list[dict[str, np.ndarray]],
    measured: list[tuple[dict[str, Any], list[list[np.ndarray]], list[list[np.ndarray]] | None]],
) -> dict[str, Any]:
    """Write ``work/selfcheck.npz``; return the manifest's ``self_check`` (file hashed later).

    ``measured`` holds, per variant, its manifest entry, its native outputs and its WASM
    outputs (None when the browser cannot run it), on every evaluation sample in order.
    """
    count = min(SAMPLES, len(feeds))
    arrays: dict[str, np.ndarray] = {}
    for sample in range(count):
        for name, value in feeds[sample].items():
            arrays[selfcheck.input_key(sample, name)] = np.ascontiguousarray(value)
    variants: dict[str, Any] = {}
    for entry, native, wasm in measured:
        reference = wasm if wasm is not None else native
        outputs = len(reference[0])
        atol = []
        measured_diff = []
        for index in range(outputs):
            scale = max(float(np.max(np.abs(reference[s][index]), initial=0.0)) for s in range(count))
            diff = 0.0 if wasm is None else max(
                float(np.max(np.abs(native[s][index].astype(np.float64) - wasm[s][index].astype(np.float64)),
                             initial=0.0))
                for s in range(len(native))
            )
            measured_diff.append(diff)
            atol.append(float(f"{max(SAFETY * diff, RELATIVE_FLOOR[entry['precision']] * max(scale, 1.0)):.3g}"))
        for sample in range(count):
            for index in range(outputs):
                arrays[selfcheck.expected_key(entry["file"], sample, index)] = np.ascontiguousarray(
                    reference[sample][index]
                )
        variants[entry["file"]] = {
            "reference": "wasm" if wasm is not None else "server",
            "atol": atol,
            "measured_native_vs_wasm": [float(f"{d:.3g}") for d in measured_diff],
        }
    path = work / selfcheck.FILE
    with path.open("wb") as handle:
        # allow_pickle is numpy's default, passed so that **arrays can only fill array names.
        np.savez_compressed(handle, allow_pickle=True, **arrays)
    return {"file": selfcheck.FILE, "samples": count, "variants": variants}
