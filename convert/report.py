"""report.md and report.png: how small, how fast and how faithful each variant is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.manifest import passes, passes_in_browser
from convert.gates import wasm_cost_ms

# Metrics where lower is better; everything else reads higher-is-better.
LOWER_IS_BETTER = {"max_abs_diff", "max_abs_diff_vs_wasm", "false_positives"}


def _fmt(value: float) -> str:
    if isinstance(value, float) and (abs(value) < 1e-3 and value != 0):
        return f"{value:.2e}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_report(manifest: dict[str, Any], out_dir: Path) -> None:
    """Write report.md (tables) and report.png (size, faithfulness and latency per variant)."""
    variants = manifest["variants"]
    fp32_bytes = next(v["bytes"] for v in variants if v["precision"] == "fp32" and v.get("format") != "tfjs-graph")
    host = manifest["evaluation"].get("host", {})
    lines = [
        f"# {manifest['name']} v{manifest['version']} ({manifest['task']})",
        "",
        f"{manifest.get('description', '')}",
        "",
        f"Source: {manifest['source']['format']} via {manifest['source']['framework']}"
        f" from `{manifest['source'].get('package', '-')}` {manifest['source'].get('package_version', '')};"
        f" licence {manifest['licence']}.",
        f"Evaluated on {manifest['evaluation']['evaluation']['samples']} samples of "
        f"`{manifest['evaluation']['evaluation']['dataset']}`; calibrated on "
        f"{manifest['evaluation']['calibration']['samples']} samples of "
        f"`{manifest['evaluation']['calibration']['dataset']}`.",
        f"Converted on {host.get('model', '?')} ({' '.join(host.get('flags', [])) or 'no AVX2'}).",
        "",
        "![size, faithfulness and latency per variant](report.png)",
    ]
    for runtime, title in (
        ("server", "the server (native ONNX Runtime)"),
        ("wasm", "the browser (ONNX Runtime Web, WASM)"),
        ("tfjs-wasm", "the browser (TF.js graph models, TF.js's wasm backend; WebGL and WebGPU take its verdict)"),
    ):
        measured = [v for v in variants if runtime in v["evaluations"]]
        if not measured:
            continue
        metric_names = sorted({m for v in measured for m in v["evaluations"][runtime]["metrics"]})
        threads = sorted({t for v in measured for t in v["evaluations"][runtime]["latency_ms"]})
        lines += [
            "",
            f"## Variants against the source model, on {title}",
            "",
            f"Runtime: {measured[0]['evaluations'][runtime]['runtime']}.",
            "",
            "| variant | bytes | % of fp32 | " + " | ".join(metric_names) + " | "
            + " | ".join(f"latency {t.replace('threads_', '')} thread(s) (ms)" for t in threads) + " | gates |",
            "|---|---:|---:|" + "---:|" * (len(metric_names) + len(threads)) + "---|",
        ]
        for v in measured:
            result = v["evaluations"][runtime]
            backends = {"wasm": ["webgpu", "wasm"], "tfjs-wasm": ["tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"]}.get(
                runtime, ["server"])
            verdicts = [f"{b}: " + ("pass" if passes(v, b) else "REJECTED " + "; ".join(v["gates"][b]["reasons"]))
                        for b in backends if b in v["gates"]]
            cells = [_fmt(result["metrics"][m]) if m in result["metrics"] else "-" for m in metric_names]
            lines.append(
                f"| {v['file']} | {v['bytes']:,} | {100 * v['bytes'] / fp32_bytes:.0f}% | " + " | ".join(cells)
                + " | " + " | ".join(str(result["latency_ms"].get(t, "-")) for t in threads)
                + f" | {'<br>'.join(verdicts)} |"
            )
    source_metrics = manifest["evaluation"]["source_metrics"]
    if source_metrics:
        lines += [
            "",
            "Source model on the same data: "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(source_metrics.items()))
            + ".",
        ]
    lines += ["", "## Recommended", ""]
    lines += [f"- {backend}: {file or 'none (server fallback)'}" for backend, file in manifest["recommended"].items()]
    costs = [(v["file"], wasm_cost_ms(v)) for v in variants if passes(v, "wasm")]
    if costs:
        lines += ["", "WASM picks the lowest cost, the download at 10 Mbit/s plus 100 runs at the measured "
                  "ORT Web latency (unless the recipe sets `client.prefer`): "
                  + ", ".join(f"{file} {cost:,.0f} ms" for file, cost in costs) + "."]
    check = manifest.get("self_check")
    if check:
        lines += ["", "## Self-check at load", "",
                  f"The host re-runs {check['samples']} reference inputs (`{check['file']}`) on every variant it loads "
                  "and refuses one that deviates by more than its tolerance (per output):", ""]
        lines += [f"- {file}: reference from {spec['reference']}, tolerance {spec['atol']}, measured native vs WASM "
                  f"{spec.get('measured_native_vs_wasm', '-')}" for file, spec in check["variants"].items()]
    section = manifest.get("backbone")
    if section:
        lines += ["", "## One backbone in the browser", "",
                  f"A browser runs each split as {section['model']} v{section['version']}'s own variant file (the "
                  f"same download and session as that model), then `{section['head']['file']}` "
                  f"({section['head']['bytes']:,} bytes), measured in ONNX Runtime Web like the variants:", "",
                  "| variant | backbone file | top1_agreement | max_abs_diff | max abs diff vs composed | gates |",
                  "|---|---|---:|---:|---:|---|"]
        for split in section["splits"]:
            metrics = split["evaluations"]["wasm"]["metrics"]
            verdicts = [f"{b}: " + ("pass" if passes(split, b) else "REJECTED " + "; ".join(v["reasons"]))
                        for b, v in split["gates"].items()]
            cells = [_fmt(metrics[m]) if m in metrics else "-" for m in ("top1_agreement", "max_abs_diff")]
            lines.append(f"| {split['variant']} | {split['backbone_file']} | " + " | ".join(cells)
                         + f" | {_fmt(split['max_abs_diff_vs_composed'])} | {'<br>'.join(verdicts)} |")
    problems = [(v["file"], p) for v in variants for p in v.get("browser_problems", [])]
    if problems:
        lines += ["", "## Not runnable in the browser", ""] + [f"- {f}: {p}" for f, p in problems]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _plot(manifest, out_dir / "report.png")


def _plot(manifest: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = manifest["variants"]
    names = [f"tfjs\n{v['precision']}" if v.get("format") == "tfjs-graph" else v["precision"] for v in variants]
    colours = ["#2e7d32" if passes_in_browser(v) else "#c62828" for v in variants]
    headline = _headline_metric(manifest)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].bar(names, [v["bytes"] / 1e6 for v in variants], color=colours)
    axes[0].set_title("size (MB)")
    if headline:
        values = [_browser_metrics(v).get(headline, 0.0) for v in variants]
        axes[1].bar(names, values, color=colours)
        axes[1].set_title(f"{headline} vs source (browser)")
        axes[1].set_ylim(max(0.0, min(min(values), 1.0) - 0.05), 1.005)
    axes[2].bar(names, [_browser_evaluation(v).get("latency_ms", {}).get("threads_1") or 0.0 for v in variants],
                color=colours, label="browser wasm (ORT Web; TF.js for tfjs)")
    axes[2].bar(names, [v["evaluations"].get("server", {}).get("latency_ms", {}).get("threads_1", 0.0)
                        for v in variants],
                color="none", edgecolor="black", label="native")
    axes[2].set_title("latency, 1 thread (ms)")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{manifest['name']} v{manifest['version']}: green runs in the browser, red does not")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _browser_evaluation(variant: dict[str, Any]) -> dict[str, Any]:
    evaluations = variant["evaluations"]
    return dict(evaluations.get("wasm") or evaluations.get("tfjs-wasm") or evaluations["server"])


def _browser_metrics(variant: dict[str, Any]) -> dict[str, float]:
    return dict(_browser_evaluation(variant)["metrics"])


def _headline_metric(manifest: dict[str, Any]) -> str | None:
    for name in ("top1_agreement", "cosine_min", "box_iou_min"):
        if any(name in _browser_metrics(v) for v in manifest["variants"]):
            return name
    return None
