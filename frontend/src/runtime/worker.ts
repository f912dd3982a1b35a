/**
 * The inference worker: ONNX Runtime Web sessions and the task code, off the page's thread.
 *
 * One worker serves one execution setup (WebGPU, or WASM with N threads: ORT
 * Web fixes its thread count per page once set, so another count needs
 * another worker). Models are fetched, verified and cached here, their
 * sessions created once and reused for every run. Exposed with comlink.
 */

import * as Comlink from "comlink";
import type * as Ort from "onnxruntime-web";

import { type AssetRole, assetRoles, loadAssets, type TaskAssets } from "../tasks/assets.js";
import { taskModule, TEXT_TASKS } from "../tasks/index.js";
import type { Feeds, Manifest, PixelsLike, TaskManifest } from "../tasks/types.js";
import { type ArtifactRef, fetchVerified, type ProgressCallback } from "./artifacts.js";

export interface WorkerSetup {
  backend: "webgpu" | "wasm";
  threads: number;
  /** Where ONNX Runtime Web's .mjs/.wasm files are served (same origin). */
  wasmPaths: string;
}

export interface LoadRequest {
  key: string;
  manifest: Manifest;
  model: ArtifactRef;
  /** The files `assetRoles(manifest)` names (tokenizer, lexicon), by role. */
  assets: Partial<Record<AssetRole, ArtifactRef>>;
}

export interface LoadResult {
  loadMs: number;
  fromCache: boolean;
}

/**
 * What `run` takes: an ImageBitmap or a VideoFrame (transferred by the page: the worker closes
 * it), RGBA pixels (an ImageData, or its buffer transferred), or text.
 */
export type WorkerInput = ImageBitmap | VideoFrame | PixelsLike | string | string[];

/** Where a run's time went in the worker, in ms. */
export interface RunTimings {
  /** Reading the input's pixels (drawing a bitmap or frame and reading it back; 0 for pixels). */
  pixels: number;
  /** The task's prepare (colour, resize, normalisation; tokenisation for text). */
  prepare: number;
  /** ONNX Runtime's session.run, with the wait for the run queue. */
  infer: number;
  /** The task's finish (post-processing). */
  finish: number;
  /** When the worker began and ended the call, in ms since the epoch (`performance.timeOrigin +
   * performance.now()`, on the same clock as the page's), to split the page's round trip. */
  received: number;
  done: number;
}

export interface RunResult {
  result: Record<string, unknown>;
  /** Pre-processing (pixels included) + inference + post-processing, in ms. */
  latencyMs: number;
  timings: RunTimings;
}

interface Loaded {
  session: Ort.InferenceSession;
  manifest: Manifest;
  assets: TaskAssets;
}

const loaded = new Map<string, Loaded>();
let setupDone: WorkerSetup | null = null;

/**
 * ONNX Runtime Web, the build for this worker's backend, imported by `setup()`. A WASM worker
 * imports `onnxruntime-web/wasm` (ort-wasm-simd-threaded.mjs/.wasm, 14 MB, no ASYNCIFY); only
 * a WebGPU worker imports the default entry, the jsep build (ort-wasm-simd-threaded.jsep.*,
 * 28 MB, WebGPU + WASM kernels, ASYNCIFY). Same steady-state WASM kernels, but in Chromium the
 * jsep build reaches its steady speed only after seconds of inference (bench/README.md), and a
 * WASM page no longer downloads it at all.
 */
let ort: typeof Ort;

async function importOrt(backend: WorkerSetup["backend"]): Promise<typeof Ort> {
  return backend === "webgpu" ? import("onnxruntime-web") : import("onnxruntime-web/wasm");
}

// ORT Web runs one call at a time per wasm instance (concurrent runs fail with
// "Session already started" / "Session mismatch"), and this worker serves several
// models: every session creation and run goes through this queue.
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const next = queue.then(work);
  queue = next.catch(() => undefined);
  return next;
}

/** One canvas for every run (resized when the input's size changes): read-back friendly. */
let canvas: OffscreenCanvas | null = null;
let canvasContext: OffscreenCanvasRenderingContext2D | null = null;

function drawingContext(width: number, height: number): OffscreenCanvasRenderingContext2D {
  if (!canvas || !canvasContext) {
    canvas = new OffscreenCanvas(width, height);
    canvasContext = canvas.getContext("2d", { willReadFrequently: true });
    if (!canvasContext) throw new Error("OffscreenCanvas 2D is unavailable in this worker");
  } else if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width; // resizing clears it
    canvas.height = height;
  } else {
    canvasContext.clearRect(0, 0, width, height); // a transparent input must not show the last one
  }
  return canvasContext;
}

/** The input's RGBA pixels: pixels as they came; a bitmap or frame drawn once, read back, closed. */
function toPixels(input: ImageBitmap | VideoFrame | PixelsLike): PixelsLike {
  const isFrame = typeof VideoFrame !== "undefined" && input instanceof VideoFrame;
  if (!isFrame && !(typeof ImageBitmap !== "undefined" && input instanceof ImageBitmap)) return input as PixelsLike;
  const source = input as ImageBitmap | VideoFrame;
  try {
    const width = isFrame ? (source as VideoFrame).displayWidth : (source as ImageBitmap).width;
    const height = isFrame ? (source as VideoFrame).displayHeight : (source as ImageBitmap).height;
    const context = drawingContext(width, height);
    context.drawImage(source, 0, 0);
    return context.getImageData(0, 0, width, height);
  } finally {
    source.close(); // transferred to this worker: it is ours to free, now rather than at GC
  }
}

function toOrtFeeds(feeds: Feeds): Record<string, Ort.Tensor> {
  const out: Record<string, Ort.Tensor> = {};
  for (const [name, feed] of Object.entries(feeds)) out[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
  return out;
}

/**
 * A neutral input: a short text, or a grey gradient three times the model's size, so that
 * the JavaScript resize path is compiled too (a photo is always resized, never model-sized).
 */
function warmUpInput(manifest: Manifest): WorkerInput {
  if (TEXT_TASKS.has(manifest.task)) return "warm up the tokenizer and the model";
  const [h = 1, w = 1] = (manifest.preprocess as { size?: [number, number] }).size ?? [];
  const width = 3 * w;
  const height = 3 * h + 1; // not a multiple of the target: both resize passes run
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    const v = ((i / 4) % width) & 0xff;
    data[i] = v;
    data[i + 1] = 255 - v;
    data[i + 2] = 128;
    data[i + 3] = 255;
  }
  return { data, width, height };
}

/** pixels -> prepare -> session.run -> finish, outputs in the manifest's order, timed. */
async function runTask(
  entry: Loaded,
  input: WorkerInput,
): Promise<{ result: Record<string, unknown>; timings: RunTimings }> {
  const received = performance.timeOrigin + performance.now();
  const task = taskModule(entry.manifest.task);
  const t0 = performance.now();
  const sample = typeof input === "string" || Array.isArray(input) ? input : toPixels(input);
  const t1 = performance.now();
  const manifest = entry.manifest as TaskManifest;
  // Each task module checks its own input kind; the union is narrowed there.
  const { feeds, context } = (task.prepare as (i: unknown, m: TaskManifest, a: TaskAssets) => {
    feeds: Feeds;
    context: unknown;
  })(sample, manifest, entry.assets);
  const t2 = performance.now();
  const outputs = await exclusive(() => entry.session.run(toOrtFeeds(feeds)));
  const t3 = performance.now();
  const ordered = entry.manifest.outputs.map((spec) => {
    const tensor = outputs[spec.name];
    if (!tensor) throw new Error(`the model produced no output named ${spec.name}`);
    return tensor;
  });
  const result = (task.finish as (o: unknown, c: unknown, m: TaskManifest, a: TaskAssets) => Record<string, unknown>)(
    ordered,
    context,
    manifest,
    entry.assets,
  );
  for (const tensor of Object.values(outputs)) tensor.dispose();
  const t4 = performance.now();
  const timings = { pixels: t1 - t0, prepare: t2 - t1, infer: t3 - t2, finish: t4 - t3, received, done: performance.timeOrigin + t4 };
  return { result, timings };
}

const api = {
  /** Import and configure ONNX Runtime Web for this worker's backend (once). */
  async setup(setup: WorkerSetup): Promise<void> {
    if (setupDone) return;
    ort = await importOrt(setup.backend);
    ort.env.wasm.wasmPaths = setup.wasmPaths;
    ort.env.wasm.numThreads = setup.backend === "wasm" ? setup.threads : 1;
    ort.env.wasm.proxy = false; // we already are the worker
    ort.env.logLevel = "error";
    setupDone = setup;
  },

  /** Fetch (verified, cached) and create the session for a model variant. */
  async load(request: LoadRequest, onProgress?: ProgressCallback): Promise<LoadResult> {
    if (!setupDone) throw new Error("worker used before setup()");
    const started = performance.now();
    let fromCache = true;
    const track: ProgressCallback = (p) => {
      fromCache &&= p.fromCache;
      onProgress?.(p);
    };
    const bytes: Partial<Record<AssetRole, Uint8Array>> = {};
    for (const role of Object.keys(assetRoles(request.manifest)) as AssetRole[]) {
      const ref = request.assets[role];
      if (!ref) throw new Error(`${request.manifest.name}: the ${role} asset was not passed to load()`);
      bytes[role] = new Uint8Array(await fetchVerified(ref, track));
    }
    const assets = loadAssets(request.manifest, bytes);
    const model = await fetchVerified(request.model, track);
    const backend = setupDone.backend;
    const session = await exclusive(() =>
      ort.InferenceSession.create(new Uint8Array(model), { executionProviders: [backend], graphOptimizationLevel: "all" }),
    );
    const previous = loaded.get(request.key);
    if (previous) await exclusive(() => previous.session.release());
    const entry = { session, manifest: request.manifest, assets };
    loaded.set(request.key, entry);
    // One run on a neutral input: ORT Web's first run of a session is 3-10x slower
    // (kernel and buffer set-up), and that should be paid while loading, not on the user's input.
    await runTask(entry, warmUpInput(request.manifest));
    return { loadMs: performance.now() - started, fromCache };
  },

  /** Run the task on one input: prepare -> session.run -> finish. */
  async run(key: string, input: WorkerInput): Promise<RunResult> {
    const entry = loaded.get(key);
    if (!entry) throw new Error(`model ${key} is not loaded in this worker`);
    const started = performance.now();
    const { result, timings } = await runTask(entry, input);
    return { result, latencyMs: performance.now() - started, timings };
  },

  async dispose(key: string): Promise<void> {
    const entry = loaded.get(key);
    if (entry) await exclusive(() => entry.session.release());
    loaded.delete(key);
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
