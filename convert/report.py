"""report.md and report.png: how small, how fast and how faithful each variant is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Metrics where lower is better; everything else reads higher-is-better.
LOWER_IS_BETTER = {"max_abs_diff", "false_positives"}


def _fmt(value: float) -> str:
    if isinstance(value, float) and (abs(value) < 1e-3 and value != 0):
        return f"{value:.2e}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_report(manifest: dict[str, Any], out_dir: Path) -> None:
    """Write report.md (tables) and report.png (size, faithfulness and latency per variant)."""
    variants = manifest["variants"]
    fp32_bytes = next(v["bytes"] for v in variants if v["precision"] == "fp32")
    metric_names = sorted({m for v in variants for m in v["metrics"]})
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
        f"{manifest['evaluation']['calibration']['samples']} samples of `{manifest['evaluation']['calibration']['dataset']}`.",
        "",
        "![size, faithfulness and latency per variant](report.png)",
        "",
        "## Variants against the source model",
        "",
        "| variant | bytes | % of fp32 | " + " | ".join(metric_names) + " | latency 1 thread (ms) | 2 threads (ms) | backends | gates |",
        "|---|---:|---:|" + "---:|" * len(metric_names) + "---:|---:|---|---|",
    ]
    for v in variants:
        gate = "pass" if v["gates"]["passed"] else "REJECTED: " + "; ".join(v["gates"]["reasons"])
        cells = [_fmt(v["metrics"][m]) if m in v["metrics"] else "-" for m in metric_names]
        lines.append(
            f"| {v['file']} | {v['bytes']:,} | {100 * v['bytes'] / fp32_bytes:.0f}% | " + " | ".join(cells)
            + f" | {v['latency_ms'].get('threads_1', '-')} | {v['latency_ms'].get('threads_2', '-')}"
            + f" | {', '.join(v['backends'])} | {gate} |"
        )
    source_metrics = manifest["evaluation"]["source_metrics"]
    if source_metrics:
        lines += ["", "Source model on the same data: " + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(source_metrics.items())) + "."]
    lines += ["", "## Recommended", ""]
    lines += [f"- {backend}: {file or 'none (server fallback)'}" for backend, file in manifest["recommended"].items()]
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
    names = [v["precision"] for v in variants]
    colours = ["#2e7d32" if v["gates"]["passed"] else "#c62828" for v in variants]
    headline = _headline_metric(manifest)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].bar(names, [v["bytes"] / 1e6 for v in variants], color=colours)
    axes[0].set_title("size (MB)")
    if headline:
        axes[1].bar(names, [v["metrics"].get(headline, 0.0) for v in variants], color=colours)
        axes[1].set_title(f"{headline} vs source")
        low = min(v["metrics"].get(headline, 0.0) for v in variants)
        axes[1].set_ylim(max(0.0, min(low, 1.0) - 0.05), 1.005)
    axes[2].bar(names, [v["latency_ms"].get("threads_1", 0.0) for v in variants], color=colours, label="1 thread")
    axes[2].bar(names, [v["latency_ms"].get("threads_2", 0.0) for v in variants], color="none", edgecolor="black", label="2 threads")
    axes[2].set_title("native latency (ms)")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{manifest['name']} v{manifest['version']}: green passes its gates, red is rejected")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _headline_metric(manifest: dict[str, Any]) -> str | None:
    for name in ("top1_agreement", "cosine_min", "box_iou_min"):
        if any(name in v["metrics"] for v in manifest["variants"]):
            return name
    return None
