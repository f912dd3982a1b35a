"""Which runtimes can run a variant: ONNX Runtime Web (WASM, WebGPU) or only the server.

ONNX Runtime Web's WASM build carries the CPU kernels of the standard ONNX
domain (and the ai.onnx.ml domain); Microsoft's contrib operators
(com.microsoft) and string tensors are not there. The WebGPU provider runs
fp32 and fp16 kernels; int8 graphs (QDQ, MatMulInteger) would run on its CPU
fallback with copies back and forth, so int8 is never recommended for WebGPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

BROWSER_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
WEBGPU_PRECISIONS = frozenset({"fp32", "fp16"})


@dataclass(frozen=True)
class OpReport:
    """Operators of a graph and the reasons it cannot run in a browser (empty if it can)."""

    op_types: list[str]
    problems: list[str]

    @property
    def browser_ok(self) -> bool:
        return not self.problems


def check_browser_ops(model: onnx.ModelProto) -> OpReport:
    """List the graph's operators and whatever ONNX Runtime Web could not run."""
    problems: list[str] = []
    ops: set[str] = set()
    for node in _all_nodes(model.graph):
        qualified = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
        ops.add(qualified)
        if node.domain not in BROWSER_DOMAINS:
            problems.append(
                f"operator {qualified} (domain {node.domain}) is not in ONNX Runtime Web; "
                "convert without fused/contrib operators or mark the model server-only"
            )
    strings = [v.name for v in _all_values(model.graph) if v.type.tensor_type.elem_type == onnx.TensorProto.STRING]
    strings += [t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.STRING]
    if strings:
        problems.append(
            f"string tensors {sorted(set(strings))[:5]} cannot run in the browser; tokenise outside the graph"
        )
    return OpReport(sorted(ops), sorted(set(problems)))


def suitable_backends(precision: str, report: OpReport) -> list[str]:
    """Backends a variant suits: the server always; WASM if browser-safe; WebGPU if also fp32/fp16."""
    backends = []
    if report.browser_ok:
        if precision in WEBGPU_PRECISIONS:
            backends.append("webgpu")
        backends.append("wasm")
    backends.append("server")
    return backends


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes += _all_nodes(attr.g)
            for sub in attr.graphs:
                nodes += _all_nodes(sub)
    return nodes


def _all_values(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    return list(graph.input) + list(graph.output) + list(graph.value_info)
