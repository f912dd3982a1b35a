/**
 * The per-model status panel (`data-status="<model>"`): where the model runs
 * and why, the variant and its size, the download progress, load time and
 * latency, one `data-field` per line.
 */

import type { Model, Progress } from "../lib/browserml.js";
import { $ } from "./dom.js";

export function statusBox(name: string): HTMLElement {
  return $(`[data-status="${name}"]`);
}

export function renderStatus(name: string, fields: Record<string, string>, progress?: Progress): void {
  const box = statusBox(name);
  box.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = name;
  box.append(title);
  if (progress) {
    const bar = document.createElement("progress");
    bar.max = progress.total || 1;
    bar.value = progress.loaded;
    bar.dataset.testid = `progress-${name}`;
    const label = document.createElement("span");
    label.textContent = progress.fromCache
      ? `${progress.file} from cache`
      : `${progress.file}: ${(progress.loaded / 1e6).toFixed(1)} of ${(progress.total / 1e6).toFixed(1)} MB`;
    box.append(bar, label);
  }
  const list = document.createElement("dl");
  for (const [key, value] of Object.entries(fields)) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = key;
    list.append(dt, dd);
  }
  box.append(list);
}

const TFJS_NAMES = { "tfjs-wasm": "WASM, 1 thread", "tfjs-webgl": "WebGL", "tfjs-webgpu": "WebGPU" } as const;

export function describeModel(model: Model, latencyMs?: number): Record<string, string> {
  const variant = model.manifest.variants.find((v) => v.file === model.variant);
  const where =
    model.backend === "wasm"
      ? `WASM, ${model.threads} thread${model.threads === 1 ? "" : "s"}`
      : model.backend === "webgpu"
        ? "WebGPU"
        : model.backend === "server"
          ? "server"
          : `TF.js ${TFJS_NAMES[model.backend]}`;
  const fields: Record<string, string> = {
    "runs on": where,
    why: model.reason,
    variant: variant ? `${variant.file} (${variant.precision}, ${(variant.bytes / 1e6).toFixed(2)} MB)` : String(model.variant),
  };
  if (model.backend !== "server") fields["load"] = `${model.loadMs.toFixed(0)} ms${model.fromCache ? " (cached)" : ""}`;
  if (latencyMs !== undefined) fields["latency"] = `${latencyMs.toFixed(1)} ms`;
  if (model.fallbackReason) fields["fallback"] = model.fallbackReason;
  return fields;
}
