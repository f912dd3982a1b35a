/**
 * Choosing where a model runs: WebGPU, WASM (with threads when the page is
 * cross-origin isolated), or the server. A pure function of the manifest, the
 * device and what the caller asked for, so it is unit-tested without a browser.
 *
 * The plan is an ordered list of candidates; the runtime tries them in order
 * and any failure while loading or running moves to the next one.
 */

import type { Backend, Manifest, Variant } from "../tasks/types.js";
import type { Device } from "./device.js";
import { BACKEND_CHOICES, OptionError, quoted } from "./options.js";

export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type { Backend };

export interface Candidate {
  backend: Backend;
  /** Variant file (for the server: the one the caller asked for, else null: the host's own choice). */
  variant: string | null;
  /** WASM threads (1 without cross-origin isolation). */
  threads: number;
  /** Why this candidate is in the plan, in words for the UI. */
  reason: string;
}

export interface Plan {
  candidates: Candidate[];
  /** Why backends were passed over, in words (empty when the first choice was possible). */
  skipped: string[];
}

/** Most WASM threads worth using (ORT Web's own cap). */
export const MAX_THREADS = 4;
/** Memory a model needs at load, as a multiple of its file size (download, copy, session, arena). */
export const MEMORY_FACTOR = 8;

/**
 * WASM threads: 1 without cross-origin isolation (no SharedArrayBuffer), else half the cores,
 * rounded up, at most MAX_THREADS (ORT Web's own default, written out so `model.threads` says it):
 * 1 on 2 cores, 2 on 3-4, 3 on 5-6, 4 from 7. The other half is left to the page, the worker's
 * JavaScript (pre/post-processing), ORT's spinning pool threads and the browser.
 * Measured on 2 cores (bench/bench_ort_builds.py part 2: Chromium, isolated page, model.run
 * median ms, 1 vs 2 threads): with the cores busy (load average 8) 1 thread won everywhere:
 * face-detector 5.8 vs 8.4, emotion 1.39 vs 1.42, imagenet int8 52.9 vs 92.0, sentiment int8
 * 19.7 vs 26.5; with one core mostly free (load average 2) face-detector 5.8 vs 5.5 and emotion
 * 1.35 vs 1.44 were even, imagenet 50.2 vs 29.4 and sentiment 18.9 vs 15.0 lost (bench/README.md).
 * One thread is never much slower on the small models that run continuously (the faces page),
 * and is 1.4-1.7x faster on every model when the 2 cores have other work.
 */
export function wasmThreads(device: Device): number {
  if (!device.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(MAX_THREADS, Math.ceil(device.cores / 2)));
}

type ClientBackend = "webgpu" | "wasm";
const CLIENT_BACKENDS: readonly ClientBackend[] = ["webgpu", "wasm"];
const NAMES: Record<Backend, string> = { webgpu: "WebGPU", wasm: "WASM", server: "the server" };

function overBudget(manifest: Manifest, variant: Variant): string | null {
  const budget = manifest.client.max_client_bytes;
  if (variant.bytes <= budget) return null;
  return `${variant.file} is ${(variant.bytes / 1e6).toFixed(1)} MB, over the ${(budget / 1e6).toFixed(1)} MB client budget`;
}

function memoryShort(manifest: Manifest, variant: Variant, device: Device): string | null {
  const needGb = manifest.client.min_device_memory_gb ?? (variant.bytes * MEMORY_FACTOR) / 1e9;
  if (device.memoryGb !== null && device.memoryGb < needGb) {
    return `the device reports ${device.memoryGb} GB of memory; ${variant.file} needs about ${needGb.toFixed(2)} GB`;
  }
  return null;
}

/** Why the manifest itself rules `variant` out on `backend` (its gates, or the client budget), or null. */
function ruledOut(manifest: Manifest, variant: Variant, backend: ClientBackend, asked: boolean): string | null {
  const where = NAMES[backend];
  if (variant.gates[backend]?.passed !== true) {
    return asked
      ? `the variant asked for, ${variant.file}, does not suit ${where}: it did not pass its gates there`
      : `no variant that passed its gates on ${where}`;
  }
  if (!variant.backends.includes(backend)) return `${variant.file} does not suit ${where}`;
  return overBudget(manifest, variant);
}

/** The variants a browser may load on `backend`: passed there, within the client budget and the device's memory. */
function usable(manifest: Manifest, backend: ClientBackend, device: Device): string[] {
  return manifest.variants
    .filter((v) => ruledOut(manifest, v, backend, false) === null && memoryShort(manifest, v, device) === null)
    .map((v) => v.file);
}

function passedOnServer(manifest: Manifest, file: string): boolean {
  const variant = manifest.variants.find((v) => v.file === file);
  return variant?.gates.server?.passed === true && variant.backends.includes("server");
}

/** What the caller can ask for instead of `file` (asked for, or the recommended one) on `backends`. */
function instead(
  manifest: Manifest,
  device: Device,
  file: string | null,
  asked: boolean,
  backends: readonly ClientBackend[],
): string {
  const ways: string[] = [];
  const others = (backend: ClientBackend) => usable(manifest, backend, device).filter((f) => f !== file);
  if (backends.length === 1) {
    const files = others(backends[0]!);
    if (files.length) ways.push(`variant ${quoted(files)} (backend "${backends[0]}")`);
  } else {
    const files = new Set(backends.flatMap(others));
    const inOrder = manifest.variants.map((v) => v.file).filter((f) => files.has(f));
    if (inOrder.length) ways.push(`variant ${quoted(inOrder)}`);
  }
  if (asked && file !== null) {
    for (const backend of CLIENT_BACKENDS.filter((b) => !backends.includes(b))) {
      if (usable(manifest, backend, device).includes(file)) ways.push(`backend "${backend}" (where ${file} passed)`);
    }
  }
  if (!asked || file === null) ways.push(`backend "server"`);
  else if (passedOnServer(manifest, file)) ways.push(`backend "server" (runs ${file} on the host)`);
  if (asked) ways.push("no variant (the runtime chooses)");
  return `ask instead for ${ways.join(", or ")}`;
}

/**
 * The ordered candidates for `manifest` on `device` given the caller's `choice` and variant.
 *
 * What the caller asked for explicitly is honoured or refused, never swapped silently:
 * an unknown variant, a variant that did not pass its gates on the backend asked for (or,
 * on "auto", on every client backend), one over the client budget, or a variant that no
 * backend of this device can run throws an `OptionError` that says why and what to ask for
 * instead. Only device limits move an explicit backend on, visibly (`skipped`): a forced
 * "webgpu" without a usable adapter or fp16 shaders goes on to WASM (with the variant asked
 * for), a forced "wasm" without WebAssembly to the server (unless a variant was asked for).
 */
export function planBackends(
  manifest: Manifest,
  device: Device,
  choice: BackendChoice = "auto",
  variantOverride?: string,
): Plan {
  const asked = variantOverride !== undefined;
  if (asked && !manifest.variants.some((v) => v.file === variantOverride)) {
    throw new OptionError(
      `${manifest.name}: unknown variant ${JSON.stringify(variantOverride)}; its variants are ${quoted(manifest.variants.map((v) => v.file))}`,
    );
  }
  const skipped: string[] = [];
  const candidates: Candidate[] = [];
  const server: Candidate = {
    backend: "server",
    variant: null,
    threads: 0,
    reason: "the server answers (ONNX Runtime on the host)",
  };
  if (choice === "server") {
    if (asked && !passedOnServer(manifest, variantOverride)) {
      const passed = manifest.variants.filter((v) => passedOnServer(manifest, v.file)).map((v) => v.file);
      throw new OptionError(
        `${manifest.name}: the variant asked for, ${variantOverride}, did not pass its gates on the server; ` +
          `ask instead for variant ${quoted(passed)}, or no variant (the host chooses)`,
      );
    }
    const reason = asked ? `server requested, with ${variantOverride}` : "server requested";
    return { candidates: [{ ...server, variant: variantOverride ?? null, reason }], skipped };
  }
  if (manifest.client.server_only) {
    if (asked || choice !== "auto") {
      throw new OptionError(
        `${manifest.name} is server-only: no variant of it is served to browsers; ask instead for backend "server"`,
      );
    }
    return { candidates: [{ ...server, reason: "this model is server-only" }], skipped: ["the model is server-only"] };
  }
  // The client backends this choice may use (a forced WebGPU may go on to WASM).
  const tried = choice === "auto" || choice === "webgpu" ? CLIENT_BACKENDS : CLIENT_BACKENDS.filter((b) => b === choice);
  const askedVariant = manifest.variants.find((v) => v.file === variantOverride);
  const budget = askedVariant ? overBudget(manifest, askedVariant) : null;
  if (budget !== null) throw new OptionError(`${manifest.name}: ${budget}; ${instead(manifest, device, variantOverride!, true, tried)}`);

  for (const backend of CLIENT_BACKENDS) {
    if (!(choice === "auto" || choice === backend || (backend === "wasm" && choice === "webgpu"))) continue;
    const file = variantOverride ?? manifest.recommended[backend];
    const variant = manifest.variants.find((v) => v.file === file);
    const manifestWhy = variant ? ruledOut(manifest, variant, backend, asked) : `no variant that passed its gates on ${NAMES[backend]}`;
    if (manifestWhy !== null && choice === backend) {
      // The caller named this backend: the manifest (not the device) rules it out, on every device.
      throw new OptionError(`${manifest.name}: ${manifestWhy}; ${instead(manifest, device, file, asked, [backend])}`);
    }
    let why: string | null;
    if (backend === "webgpu") {
      // Only a real adapter on "auto"; a forced WebGPU accepts a fallback adapter.
      if (!device.webgpu.available) why = `WebGPU unavailable: ${device.webgpu.description}`;
      else if (device.webgpu.fallbackAdapter && choice === "auto")
        why = `WebGPU adapter is a software fallback (${device.webgpu.description}), slower than WASM`;
      else if (manifestWhy !== null || !variant) why = manifestWhy;
      else if (variant.precision === "fp16" && !device.webgpu.shaderF16)
        why = `${variant.file} needs fp16 shaders (shader-f16), which this adapter lacks`;
      else why = memoryShort(manifest, variant, device);
    } else {
      if (!device.wasm) why = "WebAssembly unavailable";
      else if (manifestWhy !== null || !variant) why = manifestWhy;
      else why = memoryShort(manifest, variant, device);
    }
    if (why !== null || !variant) {
      skipped.push(why ?? `no variant for ${NAMES[backend]}`);
      continue;
    }
    if (backend === "webgpu") {
      candidates.push({ backend, variant: variant.file, threads: 0, reason: `WebGPU on ${device.webgpu.description}` });
    } else {
      const threads = wasmThreads(device);
      candidates.push({
        backend,
        variant: variant.file,
        threads,
        reason:
          threads > 1
            ? `WASM with ${threads} threads (cross-origin isolated)`
            : device.crossOriginIsolated
              ? `WASM with 1 thread (${device.cores} core${device.cores === 1 ? "" : "s"}: one thread runs faster)`
              : "WASM with 1 thread (the page is not cross-origin isolated, so no threads)",
      });
    }
  }
  if (asked && candidates.length === 0) {
    throw new OptionError(
      `${manifest.name}: the variant asked for, ${variantOverride}, cannot run in this browser (${skipped.join("; ")}); ` +
        instead(manifest, device, variantOverride, true, tried),
    );
  }
  candidates.push(server);
  return { candidates, skipped };
}
