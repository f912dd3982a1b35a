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

export type BackendChoice = "auto" | "webgpu" | "wasm" | "server";
export type { Backend };

export interface Candidate {
  backend: Backend;
  /** Variant file (null for the server: it runs its own recommended variant). */
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

/** Most threads worth using: ORT Web's default is 1 on 2 cores, so we set it ourselves. */
export const MAX_THREADS = 4;
/** Memory a model needs at load, as a multiple of its file size (download, copy, session, arena). */
export const MEMORY_FACTOR = 8;

/** The variant `file` if it passed its gates on `backend`'s runtime. */
function variantOf(manifest: Manifest, file: string | null | undefined, backend: Backend): Variant | undefined {
  return manifest.variants.find((v) => v.file === file && v.gates[backend]?.passed === true);
}

export function wasmThreads(device: Device): number {
  return device.crossOriginIsolated ? Math.max(1, Math.min(device.cores, MAX_THREADS)) : 1;
}

function fits(manifest: Manifest, variant: Variant, device: Device): string | null {
  const budget = manifest.client.max_client_bytes;
  if (variant.bytes > budget) {
    return `${variant.file} is ${(variant.bytes / 1e6).toFixed(1)} MB, over the ${(budget / 1e6).toFixed(1)} MB client budget`;
  }
  const needGb = manifest.client.min_device_memory_gb ?? (variant.bytes * MEMORY_FACTOR) / 1e9;
  if (device.memoryGb !== null && device.memoryGb < needGb) {
    return `the device reports ${device.memoryGb} GB of memory; ${variant.file} needs about ${needGb.toFixed(2)} GB`;
  }
  return null;
}

/** The ordered candidates for `manifest` on `device` given the caller's `choice`. */
export function planBackends(
  manifest: Manifest,
  device: Device,
  choice: BackendChoice = "auto",
  variantOverride?: string,
): Plan {
  const skipped: string[] = [];
  const candidates: Candidate[] = [];
  const server: Candidate = {
    backend: "server",
    variant: null,
    threads: 0,
    reason: "the server answers (ONNX Runtime on the host)",
  };
  if (choice === "server") return { candidates: [{ ...server, reason: "server requested" }], skipped };
  if (manifest.client.server_only) {
    return { candidates: [{ ...server, reason: "this model is server-only" }], skipped: ["the model is server-only"] };
  }

  // WebGPU: only a real adapter on "auto"; a forced WebGPU accepts a fallback adapter.
  const gpuVariant = variantOf(manifest, variantOverride ?? manifest.recommended.webgpu, "webgpu");
  if (choice === "auto" || choice === "webgpu") {
    let why: string | null = null;
    if (!device.webgpu.available) why = `WebGPU unavailable: ${device.webgpu.description}`;
    else if (device.webgpu.fallbackAdapter && choice === "auto")
      why = `WebGPU adapter is a software fallback (${device.webgpu.description}), slower than WASM`;
    else if (!gpuVariant) why = "no variant that passed its gates on WebGPU";
    else if (gpuVariant.precision === "fp16" && !device.webgpu.shaderF16)
      why = `${gpuVariant.file} needs fp16 shaders (shader-f16), which this adapter lacks`;
    else if (!gpuVariant.backends.includes("webgpu")) why = `${gpuVariant.file} does not suit WebGPU`;
    else why = fits(manifest, gpuVariant, device);
    if (why === null && gpuVariant) {
      candidates.push({
        backend: "webgpu",
        variant: gpuVariant.file,
        threads: 0,
        reason: `WebGPU on ${device.webgpu.description}`,
      });
    } else if (why) {
      skipped.push(why);
    }
  }

  if (choice === "auto" || choice === "webgpu" || choice === "wasm") {
    const wasmVariant = variantOf(manifest, variantOverride ?? manifest.recommended.wasm, "wasm");
    let why: string | null = null;
    if (!device.wasm) why = "WebAssembly unavailable";
    else if (!wasmVariant) why = "no variant that passed its gates on WASM";
    else why = fits(manifest, wasmVariant, device);
    if (why === null && wasmVariant) {
      const threads = wasmThreads(device);
      candidates.push({
        backend: "wasm",
        variant: wasmVariant.file,
        threads,
        reason:
          threads > 1
            ? `WASM with ${threads} threads (cross-origin isolated)`
            : device.crossOriginIsolated
              ? "WASM with 1 thread (one core)"
              : "WASM with 1 thread (the page is not cross-origin isolated, so no threads)",
      });
    } else if (why) {
      skipped.push(why);
    }
  }
  candidates.push(server);
  return { candidates, skipped };
}
