"""Make converting the same model twice give the same bytes (and the same sha256).

Converters and ONNX Runtime's tools leave run-dependent traces in a graph:
counter-numbered names, temporary file names, tool versions. These functions
remove them, so a version's sha256 depends only on what the model computes.
"""

from __future__ import annotations

import onnx


def canonical_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rename nodes, weights and intermediate tensors by their position in the graph.

    Converters number their names with process-wide counters (tf2onnx's
    ``const_fold_opt__179`` one run, ``__181`` the next), which would change the
    bytes and the sha256 of an otherwise identical model. Graph inputs and
    outputs keep their names: they are the contract.
    """
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    initializers = {t.name for t in graph.initializer}
    mapping: dict[str, str] = {}
    for node in graph.node:
        for name in node.input:
            if name in initializers and name not in mapping and name not in keep:
                mapping[name] = f"w{len(mapping)}"
        for name in node.output:
            if name not in keep and name not in mapping:
                mapping[name] = f"t{len(mapping)}"
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for tensor in graph.initializer:
        tensor.name = mapping.get(tensor.name, tensor.name)
    order = {name: i for i, name in enumerate(mapping.values())}
    weights = sorted(graph.initializer, key=lambda t: order.get(t.name, len(order)))
    del graph.initializer[:]
    graph.initializer.extend(weights)
    for value in [*graph.value_info, *graph.input]:
        value.name = mapping.get(value.name, value.name)
    # ONNX Runtime's saver declares every domain it knows (com.microsoft among them):
    # keep only the ones the graph uses.
    # Composition can leave the default domain spelled "ai.onnx", or listed twice.
    used = {n.domain for n in graph.node} | {""}
    versions: dict[str, int] = {}
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        if domain in used:
            versions[domain] = max(versions.get(domain, 0), o.version)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in sorted(versions.items()))
    return model


def strip_metadata(model: onnx.ModelProto) -> None:
    """Drop metadata and doc strings, and stamp a fixed producer, in place.

    Converters stamp names of temporary files and tool versions into the graph:
    dropping them makes converting twice give the same bytes (and the same sha256).
    """
    del model.metadata_props[:]
    model.doc_string = ""
    model.graph.doc_string = ""
    model.producer_name = "browserml"
    model.producer_version = "1"
