"""Native ONNX Runtime, set up the same way wherever it runs: the conversion
pipeline's server evaluation, the host's sessions and its load-time self-check.

``session.x64quantprecision = 1``: on x86-64 CPUs without VNNI, ONNX Runtime's
u8s8 int8 GEMM uses VPMADDUBSW, whose 16-bit intermediate saturates (255 x 127
twice is over 32767). Measured on an AVX2-only AMD EPYC: imagenet's static int8
kept fp32's top-1 on 8/10 photos natively against 10/10 in ORT Web's WASM build,
and sentiment int8 scored 0.817 against the browser's 0.845 for the same text.
With this entry ORT widens to u8u8, which cannot saturate; on CPUs with VNNI
(VPDPBUSD, 32-bit accumulation) ONNX Runtime ignores it. So a native int8
result is the exact integer result on any CPU, like the browser's.
"""

from __future__ import annotations

import platform
from functools import cache
from typing import Any

# CPU flags that change which native int8 kernels ONNX Runtime picks on x86-64.
KERNEL_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def session_options(threads: int = 0) -> Any:
    """``ort.SessionOptions`` for a CPU session: ``threads`` intra-op threads (0: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.x64quantprecision", "1")
    return options


@cache
def cpu() -> dict[str, Any]:
    """This machine's CPU model and the flags that decide ONNX Runtime's int8 kernels."""
    model = ""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return {"model": model, "machine": platform.machine(), "flags": [f for f in KERNEL_FLAGS if f in flags]}


def describe() -> str:
    """One line naming ONNX Runtime, the CPU and its int8-relevant flags (for reports and logs)."""
    import onnxruntime as ort

    info = cpu()
    return f"onnxruntime {ort.__version__} on {info['model']} ({' '.join(info['flags']) or 'no AVX2'})"
