/**
 * Choosing where a model runs: WebGPU, WASM (with threads when the page is
 * cross-origin isolated), or the server. A pure function of the manifest, the
 * device and what the caller asked for, so it is unit-tested without a browser.
 *
 * The plan is an ordered list of candidates; the runtime tries them in order
 * and any failure while loading or running moves to the next one.
 *
 * A tfjs backend asked for (or a TF.js graph-model variant) is planned by `planTfjs`: TensorFlow.js
 * runs the version's TF.js variant. "auto" alone plans ONNX Runtime, and puts TF.js WASM first
 * where it costs at least 20% less (`preferCheaperEngine`: the first visit of a small model, whose ORT wasm
 * download dominates).
 */

import type { Backend as ManifestBackend, Manifest, Variant, Verdict } from "../tasks/types.js";
import type { Device } from "./device.js";
import { BACKEND_CHOICES, OptionError, quoted } from "./options.js";

export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** TensorFlow.js backends: a TF.js graph-model variant (`format: "tfjs-graph"`) runs on one of these. */
export const TFJS_BACKENDS = ["tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"] as const;
export type TfjsBackend = (typeof TFJS_BACKENDS)[number];
/** Where ONNX Runtime runs a model: WebGPU or WASM in the browser, or the server. */
export type Backend = Exclude<ManifestBackend, TfjsBackend>;
/** Where a model runs: ONNX Runtime Web (webgpu, wasm), TensorFlow.js (tfjs-*), or the server. */
export type RuntimeBackend = Backend | TfjsBackend;

export function isTfjsBackend(backend: string): backend is TfjsBackend {
  return (TFJS_BACKENDS as readonly string[]).includes(backend);
}

/** One weight file of a TF.js graph model (the manifest's `shards`). */
export interface Shard {
  file: string;
  bytes: number;
  sha256: string;
}

/** A variant, with the `format` and `shards` of a TF.js graph model. */
export type AnyVariant = Variant & { format?: string; shards?: Shard[] };

/** A TF.js graph model (`format: "tfjs-graph"`: model.json + its weight `shards`), not ONNX. */
export function isTfjsVariant(variant: Variant): boolean {
  return (variant as AnyVariant).format === "tfjs-graph";
}

/** The gate verdict of `variant` on `backend` (ONNX or TF.js). */
function gate(variant: Variant, backend: RuntimeBackend): Verdict | undefined {
  return (variant.gates as Partial<Record<RuntimeBackend, Verdict>>)[backend];
}

export interface Candidate {
  backend: RuntimeBackend;
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
 * Variants at least this big (bytes) are "heavy" and get more than one WASM thread (below).
 * Every catalog variant is far from it: face-detector and emotion 0.1-0.4 MB, imagenet 5-19 MB,
 * the text models 23-90 MB. File size stands for the work per operator here (the weights of the
 * big GEMMs and convolutions); the converter's recorded WASM latency (`wasm_cost_ms`) does not
 * sort them: Node measured face-detector fp16 at 26.6 ms and the text models' int8 at 4 ms.
 */
export const HEAVY_VARIANT_BYTES = 2e6;

/**
 * WASM threads for a variant of `bytes` bytes (ORT Web fixes the count per worker, so a page
 * that mixes light and heavy models gets one worker per count, made on first use):
 * - 1 without cross-origin isolation (no SharedArrayBuffer), on a 1-core device, and for a light
 *   variant (under HEAVY_VARIANT_BYTES) on every device: its operators are too small to share out;
 * - a heavy variant: half the cores rounded up but at least 2, at most MAX_THREADS: 2 on 2-4
 *   cores, 3 on 5-6, 4 from 7.
 * Measured on 2 cores (Chromium 156, isolated page, model.run median ms, 1 vs 2 threads,
 * bench/bench_ort_builds.py part 2, bench/README.md): with about one core free (load average 2)
 * the big variants ran faster on 2 threads, imagenet int8 50.2 vs 29.4, sentiment int8 18.9 vs
 * 15.0, while the small ones did not: face-detector 5.8 vs 5.5, emotion 1.35 vs 1.44 (even at
 * best; 1 thread 1.4x faster on face-detector at load 8, 5.8 vs 8.4). With the cores busy (load
 * average 2.9-5.9, and 8.8-13) 1 thread won on the big ones, imagenet int8 69 vs 126 (106 vs 190),
 * sentiment 19.1 vs 45.6 (30 vs 71), text-embedder int8 21.3 vs 38.0 (35 vs 60), and the small
 * ones were even (face-detector 5.9 vs 5.1, emotion 1.26 vs 1.21).
 * A device that runs one page is mostly the first case, so big variants take 2 threads; a page
 * that expects a busy device passes `threads: 1` to loadModel.
 */
export function wasmThreads(device: Device, bytes: number): number {
  if (!device.crossOriginIsolated || device.cores < 2 || bytes < HEAVY_VARIANT_BYTES) return 1;
  return Math.min(MAX_THREADS, Math.max(2, Math.ceil(device.cores / 2)));
}

/** Why a WASM candidate runs `threads` threads, in words for the UI. */
function threadsReason(device: Device, variant: Variant, threads: number, asked: boolean): string {
  const count = `WASM with ${threads} thread${threads === 1 ? "" : "s"}`;
  if (asked) return `${count} (asked for)`;
  if (!device.crossOriginIsolated) return `${count} (the page is not cross-origin isolated, so no threads)`;
  if (device.cores < 2) return `${count} (1 core)`;
  const size = `${variant.file} is ${(variant.bytes / 1e6).toFixed(1)} MB`;
  return threads > 1
    ? `${count} (cross-origin isolated; ${size}, big enough to share out)`
    : `${count} (${size}: a small model, which more threads do not speed up)`;
}

/** The WASM threads asked for (`threads`), or an OptionError when this page cannot give them. */
function checkThreads(manifest: Manifest, device: Device, choice: BackendChoice, threads: number): void {
  if (choice === "server" || choice === "webgpu") {
    throw new OptionError(
      `${manifest.name}: threads is the number of WASM threads; with backend "${choice}" there are none: ` +
        `ask instead for backend "wasm" or "auto" with threads, or no threads`,
    );
  }
  if (threads > 1 && !device.crossOriginIsolated) {
    throw new OptionError(
      `${manifest.name}: ${threads} WASM threads need a cross-origin isolated page (COOP/COEP headers, for ` +
        `SharedArrayBuffer) and this one is not; ask instead for threads 1, or no threads (the runtime chooses)`,
    );
  }
}

type ClientBackend = "webgpu" | "wasm";
const CLIENT_BACKENDS: readonly ClientBackend[] = ["webgpu", "wasm"];
const NAMES: Record<RuntimeBackend, string> = {
  webgpu: "WebGPU",
  wasm: "WASM",
  server: "the server",
  "tfjs-wasm": "TF.js WASM",
  "tfjs-webgl": "TF.js WebGL",
  "tfjs-webgpu": "TF.js WebGPU",
};

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
  if (asked && isTfjsVariant(variant)) {
    const on = TFJS_BACKENDS.filter((b) => gate(variant, b)?.passed === true);
    return (
      `the variant asked for, ${variant.file}, is a TF.js graph model: ONNX Runtime on ${where} cannot run it` +
      (on.length ? ` (it passed its gates on backend ${quoted(on)})` : "")
    );
  }
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
 * `threadsOverride` (the `threads` option) replaces `wasmThreads` on the WASM candidate; it is an
 * `OptionError` with backend "server" or "webgpu", for a server-only model, and above 1 on a page
 * that is not cross-origin isolated. With "auto" and neither a variant nor threads asked for,
 * `preferCheaperEngine` may put TF.js WASM first (`warm`: which engines are already here).
 */
export function planBackends(
  manifest: Manifest,
  device: Device,
  choice: BackendChoice = "auto",
  variantOverride?: string,
  threadsOverride?: number,
  warm: EngineWarmth = FIRST_VISIT,
): Plan {
  const asked = variantOverride !== undefined;
  if (asked && !manifest.variants.some((v) => v.file === variantOverride)) {
    throw new OptionError(
      `${manifest.name}: unknown variant ${JSON.stringify(variantOverride)}; its variants are ${quoted(manifest.variants.map((v) => v.file))}`,
    );
  }
  const askedTfjs = asked && isTfjsVariant(manifest.variants.find((v) => v.file === variantOverride)!);
  if (isTfjsBackend(choice) || (choice === "auto" && askedTfjs)) {
    return planTfjs(manifest, device, choice as TfjsBackend | "auto", variantOverride, threadsOverride);
  }
  if (threadsOverride !== undefined) checkThreads(manifest, device, choice, threadsOverride);
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
    if (asked || choice !== "auto" || threadsOverride !== undefined) {
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
      const threads = threadsOverride ?? wasmThreads(device, variant.bytes);
      candidates.push({
        backend,
        variant: variant.file,
        threads,
        reason: threadsReason(device, variant, threads, threadsOverride !== undefined),
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
  const plan = { candidates, skipped };
  return choice === "auto" && !asked && threadsOverride === undefined ? preferCheaperEngine(manifest, device, plan, warm) : plan;
}

/**
 * Bytes a cold page downloads to start each engine on WASM, as the host sends them (brotli),
 * beyond what every page loads anyway (the page, the library, lib/worker.js, the task code):
 * - ONNX Runtime Web: assets/ort.wasm.min-*.js + ort/ort-wasm-simd-threaded.mjs + .wasm
 *   (13,776 + 8,009 + 2,355,011 bytes);
 * - TensorFlow.js WASM: assets/tfjs/tfjs-*.js (runtime/tfjs.ts, tfjs-core, -converter) + its wasm
 *   backend's chunk and what it imports (3 chunks) + tfjs/tfjs-backend-wasm-simd.wasm
 *   (47,245 + 26,061 + 25,985 + 11,410 + 106,504 bytes).
 * Measured from frontend/dist's .br files (npm run build, 2026-11-26); Chromium's cold-start bench
 * (bench/bench_tfjs.py) saw 2.66 and 0.37 MB in all for emotion, model and page included.
 * tests/browser/test_browser_tfjs.py fails when the build drifts more than 15% from these.
 */
export const ORT_WASM_RUNTIME_BYTES = 2_377_000;
export const TFJS_WASM_RUNTIME_BYTES = 217_000;
/** The conversion's WASM cost model (convert/gates.py `wasm_cost_ms`): 10 Mbit/s, 100 runs. */
export const BANDWIDTH_BYTES_PER_MS = 10e6 / 8 / 1000;
export const COST_RUNS = 100;
/**
 * TF.js goes before ONNX Runtime only when it saves at least this share of the cost. The latencies
 * are the conversion's, measured in Node, and Chromium orders them differently within about 1.2x
 * (emotion: ORT 2.41 vs TF.js 1.56 ms in Node, 1.46 vs 1.73 ms in Chromium, bench/bench_tfjs.py):
 * a smaller saving is inside that error, and ORT stays (the engine the server runs too).
 */
export const ENGINE_SWITCH_SAVING = 0.2;

/**
 * Whether an engine's runtime is already here (nothing to download to start it): the page runs a
 * worker of it, or its wasm is in Cache Storage (the service worker's cache).
 */
export interface EngineWarmth {
  ort: boolean;
  tfjs: boolean;
}
export const FIRST_VISIT: EngineWarmth = { ort: false, tfjs: false };

/** What running a variant on an engine costs: its download (the runtime's too, unless warm) and 100 runs. */
export interface EngineCost {
  /** Bytes to download: the variant's, plus the engine's runtime when it is not warm. */
  bytes: number;
  latencyMs: number;
  costMs: number;
}

/**
 * The cost of `variant` on an engine, as convert/gates.py prices the WASM pick (`bytes / 10 Mbit/s
 * + 100 runs x its measured latency`), plus the engine's own download when it is not warm. Null
 * when the conversion measured no latency for it on that engine.
 */
export function engineCost(variant: Variant, evaluation: "wasm" | "tfjs-wasm", runtimeBytes: number, warm: boolean): EngineCost | null {
  const latencyMs = variant.evaluations[evaluation]?.latency_ms?.threads_1;
  if (typeof latencyMs !== "number" || !(latencyMs > 0)) return null;
  const bytes = variant.bytes + (warm ? 0 : runtimeBytes);
  return { bytes, latencyMs, costMs: bytes / BANDWIDTH_BYTES_PER_MS + COST_RUNS * latencyMs };
}

function costWords(name: string, cost: EngineCost): string {
  const ms = Math.round(cost.costMs).toLocaleString("en-US");
  return `${name} ${(cost.bytes / 1e6).toFixed(2)} MB + ${COST_RUNS} runs × ${cost.latencyMs} ms ≈ ${ms} ms`;
}

function warmthWords(warm: EngineWarmth): string {
  if (warm.ort && warm.tfjs) return "both runtimes already here";
  if (warm.ort) return "ONNX Runtime Web already here";
  if (warm.tfjs) return "TensorFlow.js already here";
  return "first visit";
}

/**
 * "auto" with no variant asked for: when the ONNX plan starts with WASM (no WebGPU) and the
 * manifest recommends a TF.js variant for tfjs-wasm that passed, fits the client budget and the
 * device's memory, the engine that costs less (`engineCost`: ORT Web's runtime download against
 * TF.js's, unless `warm`, the variants' bytes, and 100 runs at each one's latency measured by the
 * conversion) goes first; the rest of the ONNX plan (WASM, then the server) stays after it, so a
 * TF.js load failure moves on to ORT, visibly. The first candidate's reason gives both costs.
 */
export function preferCheaperEngine(manifest: Manifest, device: Device, plan: Plan, warm: EngineWarmth): Plan {
  const first = plan.candidates[0];
  if (!first || first.backend !== "wasm" || !device.wasm || manifest.client.server_only) return plan;
  const file = (manifest.recommended as Partial<Record<RuntimeBackend, string | null>>)["tfjs-wasm"];
  const tfjsVariant = tfjsPassed(manifest, "tfjs-wasm").find((v) => v.file === file);
  const ortVariant = manifest.variants.find((v) => v.file === first.variant);
  if (!tfjsVariant || !ortVariant || overBudget(manifest, tfjsVariant) !== null || memoryShort(manifest, tfjsVariant, device) !== null) {
    return plan;
  }
  const ort = engineCost(ortVariant, "wasm", ORT_WASM_RUNTIME_BYTES, warm.ort);
  const tfjs = engineCost(tfjsVariant, "tfjs-wasm", TFJS_WASM_RUNTIME_BYTES, warm.tfjs);
  if (!ort || !tfjs) return plan;
  const when = `${warmthWords(warm)}, 10 Mbit/s`;
  const ortWords = costWords(`ONNX Runtime Web (${ortVariant.file})`, ort);
  const tfjsWords = costWords(`TensorFlow.js WASM (${tfjsVariant.file})`, tfjs);
  if (tfjs.costMs > (1 - ENGINE_SWITCH_SAVING) * ort.costMs) {
    const saving = 1 - tfjs.costMs / ort.costMs;
    const verdict =
      saving > 0
        ? `TF.js would save only ${Math.round(100 * saving)}%, under the ${100 * ENGINE_SWITCH_SAVING}% it takes to switch engines`
        : "cheaper here than TF.js";
    const candidates = [{ ...first, reason: `${first.reason}; ${verdict} (${when}): ${ortWords} vs ${tfjsWords}` }];
    return { ...plan, candidates: [...candidates, ...plan.candidates.slice(1)] };
  }
  const candidate: Candidate = {
    backend: "tfjs-wasm",
    variant: tfjsVariant.file,
    threads: 1,
    reason: `TensorFlow.js WASM with 1 thread: cheaper here (${when}): ${tfjsWords} vs ${ortWords}`,
  };
  return { ...plan, candidates: [candidate, ...plan.candidates] };
}

/** The TF.js variants of `manifest` that passed their gates on `backend`, in manifest order. */
function tfjsPassed(manifest: Manifest, backend: TfjsBackend): Variant[] {
  return manifest.variants.filter((v) => isTfjsVariant(v) && gate(v, backend)?.passed === true && v.backends.includes(backend));
}

/** What TF.js can run of `manifest`, in words: each TF.js variant and the tfjs backends it passed on. */
function tfjsOffer(manifest: Manifest): string {
  const variants = manifest.variants.filter(isTfjsVariant);
  if (!variants.length) {
    return `version ${manifest.version} has no TF.js variant (its variants are ${quoted(manifest.variants.map((v) => v.file))})`;
  }
  const each = variants.map((v) => {
    const on = TFJS_BACKENDS.filter((b) => tfjsPassed(manifest, b).includes(v));
    return `${v.file} (${on.length ? `passed on ${on.join(", ")}` : "passed on no TF.js backend"})`;
  });
  return `its TF.js variants: ${each.join(", ")}`;
}

/** Why this device cannot run `backend`, as far as the page can tell before loading (WebGL is tried in the worker). */
function tfjsDeviceWhy(device: Device, backend: TfjsBackend): string | null {
  if (backend === "tfjs-wasm" && !device.wasm) return "WebAssembly unavailable";
  if (backend === "tfjs-webgpu" && !device.webgpu.available) return `WebGPU unavailable: ${device.webgpu.description}`;
  return null;
}

/** Why a TF.js candidate on `backend` with `variant`, in words for the UI. */
function tfjsReason(backend: TfjsBackend, variant: Variant, choice: BackendChoice, device: Device): string {
  const why = choice === "auto" ? `${variant.file} asked for` : "asked for";
  if (backend === "tfjs-wasm") {
    return `TensorFlow.js WASM with 1 thread (${why}; tfjs-backend-wasm 4.22 threads are broken, tfjs#8513)`;
  }
  if (backend === "tfjs-webgpu") return `TensorFlow.js WebGPU on ${device.webgpu.description} (${why})`;
  return `TensorFlow.js WebGL (${why})`;
}

/**
 * The plan for a TF.js graph-model variant: `choice` a tfjs backend (forced), or "auto" with a
 * TF.js variant asked for (TF.js WebGPU on a real adapter, then TF.js WASM; WebGL only when
 * asked for, since the page cannot tell a software WebGL from a real one). What the manifest
 * rules out is an `OptionError` naming what exists, on every device, never a silent swap for
 * ONNX: a version without a TF.js variant that passed on that backend, a variant that is not a
 * TF.js graph model or did not pass there. Device limits (no WebAssembly, no WebGPU adapter)
 * skip the candidate visibly; a failure while loading (WebGL missing, a tampered shard) moves
 * on to the server with the reason, as on the ONNX backends. `threads`: only 1, on tfjs-wasm.
 */
function planTfjs(
  manifest: Manifest,
  device: Device,
  choice: TfjsBackend | "auto",
  variantOverride: string | undefined,
  threadsOverride: number | undefined,
): Plan {
  const name = manifest.name;
  if (threadsOverride !== undefined && (choice === "tfjs-webgl" || choice === "tfjs-webgpu")) {
    throw new OptionError(
      `${name}: threads is the number of WASM threads; with backend "${choice}" there are none: ask instead for backend "tfjs-wasm", or no threads`,
    );
  }
  if (threadsOverride !== undefined && threadsOverride > 1) {
    throw new OptionError(
      `${name}: TensorFlow.js WASM runs 1 thread (tfjs-backend-wasm 4.22 threads are broken, tfjs#8513); ask instead for threads 1, or no threads`,
    );
  }
  if (manifest.client.server_only) {
    throw new OptionError(`${name} is server-only: no variant of it is served to browsers; ask instead for backend "server"`);
  }
  const skipped: string[] = [];
  const candidates: Candidate[] = [];
  const tried: TfjsBackend[] = choice === "auto" ? ["tfjs-webgpu", "tfjs-wasm"] : [choice];
  const asked = variantOverride !== undefined ? manifest.variants.find((v) => v.file === variantOverride)! : undefined;
  if (asked) {
    if (!isTfjsVariant(asked)) {
      const tfjs = manifest.variants.filter(isTfjsVariant).map((v) => v.file);
      throw new OptionError(
        `${name}: the variant asked for, ${asked.file}, is not a TF.js graph model, so TensorFlow.js cannot run it; ` +
          `ask instead for ${tfjs.length ? `variant ${quoted(tfjs)}, or ` : ""}backend "wasm" or "auto" with ${asked.file}`,
      );
    }
    const budget = overBudget(manifest, asked);
    if (budget !== null) throw new OptionError(`${name}: ${budget}; ask instead for no variant (the runtime chooses)`);
    if (choice !== "auto" && !tfjsPassed(manifest, choice).includes(asked)) {
      const others = tfjsPassed(manifest, choice).map((v) => v.file);
      throw new OptionError(
        `${name}: the variant asked for, ${asked.file}, does not suit ${NAMES[choice]}: it did not pass its gates there ` +
          `(${tfjsOffer(manifest)}); ask instead for ${others.length ? `variant ${quoted(others)}, or ` : ""}no variant`,
      );
    }
  }
  for (const backend of tried) {
    let variant: Variant | undefined = asked;
    if (!variant) {
      const recommended = (manifest.recommended as Partial<Record<RuntimeBackend, string | null>>)[backend];
      const passed = tfjsPassed(manifest, backend).filter((v) => overBudget(manifest, v) === null);
      variant = recommended !== undefined ? passed.find((v) => v.file === recommended) : passed[0];
      if (!variant) {
        throw new OptionError(
          `${name}: no TF.js variant passed its gates on ${backend} (${tfjsOffer(manifest)}); ` +
            `ask instead for another backend: "auto", "wasm", "webgpu" or "server" (ONNX Runtime)`,
        );
      }
    } else if (!tfjsPassed(manifest, backend).includes(variant)) {
      skipped.push(`${variant.file} did not pass its gates on ${backend}`);
      continue;
    }
    let why = tfjsDeviceWhy(device, backend);
    if (why === null && backend === "tfjs-webgpu" && choice === "auto" && device.webgpu.fallbackAdapter) {
      why = `WebGPU adapter is a software fallback (${device.webgpu.description}), slower than WASM`;
    }
    why ??= memoryShort(manifest, variant, device);
    if (why !== null) {
      skipped.push(`${backend}: ${why}`);
      continue;
    }
    candidates.push({
      backend,
      variant: variant.file,
      threads: backend === "tfjs-wasm" ? 1 : 0,
      reason: tfjsReason(backend, variant, choice, device),
    });
  }
  if (asked && candidates.length === 0) {
    throw new OptionError(
      `${name}: the variant asked for, ${asked.file}, cannot run in this browser (${skipped.join("; ")}); ` +
        `ask instead for backend "auto" or "wasm" with no variant (ONNX Runtime), or backend "server"`,
    );
  }
  candidates.push({ backend: "server", variant: null, threads: 0, reason: "the server answers (ONNX Runtime on the host)" });
  return { candidates, skipped };
}
