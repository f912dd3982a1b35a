/**
 * The inference worker: ONNX Runtime Web sessions and the task code, off the page's thread.
 *
 * One worker serves one execution setup (WebGPU, or WASM with N threads: ORT
 * Web fixes its thread count per page once set, so another count needs
 * another worker). Models are fetched, verified and cached here, their
 * sessions created once and reused for every run. Exposed with comlink.
 *
 * A worker whose backend is a TensorFlow.js one ("tfjs-wasm", "tfjs-webgl", "tfjs-webgpu") runs
 * TF.js graph-model variants instead (runtime/tfjs.ts, imported on demand: such a worker never
 * imports ONNX Runtime Web, and an ONNX worker never imports TF.js), with the same task code.
 */

import * as Comlink from "comlink";
import type * as Ort from "onnxruntime-web";

import { type AssetRole, assetRoles, loadAssets, type TaskAssets } from "../tasks/assets.js";
import { taskModule, TEXT_TASKS } from "../tasks/index.js";
import type { Feeds, Manifest, PixelsLike, TaskManifest } from "../tasks/types.js";
import { type ArtifactRef, fetchVerified, IntegrityError, type ProgressCallback } from "./artifacts.js";
import { isTfjsBackend, type TfjsBackend } from "./backends.js";
import { SharedPool, type SplitLoad } from "./backbone.js";
import type { TfjsGraph } from "./tfjs.js";
import { parseModelJson, shardPaths } from "./tfjs_files.js";

export interface WorkerSetup {
  backend: "webgpu" | "wasm" | TfjsBackend;
  threads: number;
  /** Where ONNX Runtime Web's .mjs/.wasm files are served (same origin), or TF.js's for "tfjs-wasm". */
  wasmPaths: string;
}

export interface LoadRequest {
  key: string;
  manifest: Manifest;
  model: ArtifactRef;
  /** The files `assetRoles(manifest)` names (tokenizer, lexicon), by role. */
  assets: Partial<Record<AssetRole, ArtifactRef>>;
  /** Run the backbone model's own file, then the head, instead of `model` (runtime/backbone.ts). */
  split?: SplitLoad;
  /** A TF.js graph model: `model` is its model.json, these its weight files (each checked by its sha256). */
  shards?: ArtifactRef[];
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
  /** One session, or the backbone's then the head's (`split`); null for a TF.js graph. */
  session: Ort.InferenceSession | null;
  /** The TF.js graph model (a tfjs worker), else null. */
  graph: TfjsGraph | null;
  head: { session: Ort.InferenceSession; output: string; input: string } | null;
  /** The sha256 of every session it holds in `sessions` (released on dispose). */
  holds: string[];
  manifest: Manifest;
  assets: TaskAssets;
}

const loaded = new Map<string, Loaded>();

/**
 * Sessions by the sha256 of their file, counted per model that holds them: two models of the same
 * file (text-embedder, and sentiment's backbone) share one download and one session; it is
 * released when the last of them is disposed.
 */
const sessions = new SharedPool<Ort.InferenceSession>((session) => exclusive(() => session.release()));

function acquireSession(ref: ArtifactRef, track: ProgressCallback): Promise<Ort.InferenceSession> {
  const backend = setupDone!.backend;
  const { value, shared } = sessions.acquire(ref.sha256, async () => {
    const model = await fetchVerified(ref, track);
    await ortReady; // ORT Web was imported and initialised meanwhile (setup)
    return exclusive(() =>
      ort.InferenceSession.create(new Uint8Array(model), { executionProviders: [backend], graphOptimizationLevel: "all" }),
    );
  });
  // Held already (or being loaded) by another model: nothing more is downloaded for this one.
  if (shared) track({ file: ref.file, loaded: ref.bytes, total: ref.bytes, fromCache: true });
  return value;
}

/** TF.js graph models by the sha256 of their model.json, shared and released like `sessions`. */
const graphs = new SharedPool<TfjsGraph>((graph) => exclusive(() => graph.release()));

/**
 * The TF.js graph of `ref` (model.json) and `shards`: every file fetched through `fetchVerified`
 * (its sha256 against the manifest's, Cache Storage), then the graph made from those bytes; a
 * weight file that model.json names and the manifest does not list is refused.
 */
function acquireGraph(request: LoadRequest, track: ProgressCallback): Promise<TfjsGraph> {
  const ref = request.model;
  const { value, shared } = graphs.acquire(ref.sha256, async () => {
    const json = parseModelJson(ref.file, await fetchVerified(ref, track));
    const listed = new Map((request.shards ?? []).map((shard) => [shard.file, shard]));
    const paths = shardPaths(json);
    const unlisted = paths.filter((path) => !listed.has(path));
    if (unlisted.length) {
      throw new IntegrityError(
        `${ref.file} names weight files the manifest does not list (${unlisted.join(", ")}), so their sha256 ` +
          `cannot be checked; it is not loaded`,
      );
    }
    const bytes = await Promise.all(paths.map((path) => fetchVerified(listed.get(path)!, track)));
    const shards = new Map(paths.map((path, i) => [path, bytes[i]!]));
    await ortReady; // TF.js and its backend were imported and started meanwhile (setup)
    const { inputs, outputs } = request.manifest;
    return exclusive(async () =>
      tfjs.TfjsGraph.fromVerified(ref.file, json, shards, inputs.map((i) => i.name), outputs.map((o) => o.name)),
    );
  });
  if (shared) track({ file: ref.file, loaded: ref.bytes, total: ref.bytes, fromCache: true });
  return value;
}

async function releaseAll(holds: string[]): Promise<void> {
  const pool = setupDone && isTfjsBackend(setupDone.backend) ? graphs : sessions;
  for (const sha256 of holds) await pool.release(sha256);
}
let setupDone: WorkerSetup | null = null;
/** `setup()`'s work: ORT Web (or TF.js) imported, configured and its wasm runtime initialised. */
let ortReady: Promise<void> | null = null;
/** runtime/tfjs.ts, imported by `setup()` in a tfjs worker only. */
let tfjs: typeof import("./tfjs.js");

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
 * A neutral input: two sentences of different lengths (a batch, padded: the kernels see
 * sentence-sized work, as on a user's texts; one short text left the first real run 2x slow), or
 * a grey gradient three times the model's size, so that the JavaScript resize path is compiled too
 * (a photo is always resized, never model-sized).
 */
function warmUpInput(manifest: Manifest): WorkerInput {
  if (TEXT_TASKS.has(manifest.task)) {
    return [
      "This sentence warms up the tokenizer and the model before the first real input arrives here.",
      "A second, shorter one makes it a padded batch.",
    ];
  }
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

/** The backbone's session, then the head's on the backbone output (inside `exclusive`). */
async function runSplit(entry: Loaded, feeds: Feeds): Promise<Ort.InferenceSession.OnnxValueMapType> {
  const head = entry.head!;
  const first = await entry.session!.run(toOrtFeeds(feeds));
  const middle = first[head.output];
  if (!middle) throw new Error(`the backbone produced no output named ${head.output}`);
  try {
    return await head.session.run({ [head.input]: middle });
  } finally {
    for (const tensor of Object.values(first)) tensor.dispose();
  }
}

/** An Identity model (opset 13, one float): the smallest session that makes ORT Web initialise. */
const INIT_MODEL = Uint8Array.from(
  atob("CAgSADo3ChAKAXgSAXkiCElkZW50aXR5EgF3Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ=="),
  (c) => c.charCodeAt(0),
);

/**
 * The first warm-up input of an image model as an ImageBitmap, as a Blob, URL or `<img>` arrives:
 * the OffscreenCanvas read-back path (`toPixels`) is set up then, not on the user's first run.
 */
async function asBitmap(input: WorkerInput): Promise<WorkerInput> {
  if (typeof input === "string" || Array.isArray(input) || typeof createImageBitmap === "undefined") return input;
  const pixels = input as PixelsLike;
  const image = new ImageData(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height);
  return createImageBitmap(image).catch(() => input); // the pixels themselves, then
}

/** Warm-up runs after the first: until one is within 1.2x of the one before, at most this many... */
const WARMUP_EXTRA_RUNS = 3;
/** ...and none started once they have taken as long as the first run, or this long (ms) if more. */
const WARMUP_MIN_BUDGET_MS = 200;

/**
 * Runs on a neutral input, paid while loading rather than on the user's first input. ORT Web's
 * first run of a session is 3-100x slower (kernel and buffer set-up, V8 compiling the wasm
 * functions it reaches: face-detector 100-165 ms against 5-10); the next one or two are still up
 * to 2-3x slower, until V8 has moved the hot functions from its baseline compiler (Liftoff) to its
 * optimising one (TurboFan). The extra runs cost at most about as much as the first one.
 */
async function warmUp(entry: Loaded): Promise<void> {
  const input = () => warmUpInput(entry.manifest); // a fresh one each time: runs may consume it
  const started = performance.now();
  await runTask(entry, await asBitmap(input()));
  let previous = performance.now() - started;
  const budget = Math.max(WARMUP_MIN_BUDGET_MS, previous);
  const extraStarted = performance.now();
  for (let i = 0; i < WARMUP_EXTRA_RUNS && performance.now() - extraStarted < budget; i++) {
    const t0 = performance.now();
    await runTask(entry, input());
    const ms = performance.now() - t0;
    if (previous <= 1.2 * ms) break; // no longer getting faster
    previous = ms;
  }
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
  const outputs = await exclusive<Record<string, { dispose(): void }>>(() =>
    entry.graph ? entry.graph.run(feeds) : entry.head ? runSplit(entry, feeds) : entry.session!.run(toOrtFeeds(feeds)),
  );
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
  /**
   * Import, configure and initialise ONNX Runtime Web for this worker's backend (once). The page
   * need not wait for it: `load()` downloads and verifies the model meanwhile, and waits for it
   * only to create the session.
   */
  setup(setup: WorkerSetup): Promise<void> {
    if (ortReady) return ortReady;
    setupDone = setup;
    const { backend } = setup;
    if (isTfjsBackend(backend)) {
      ortReady = (async () => {
        tfjs = await import("./tfjs.js");
        await tfjs.initTfjs(backend, setup.wasmPaths);
      })();
      return ortReady;
    }
    ortReady = (async () => {
      ort = await importOrt(setup.backend);
      ort.env.wasm.wasmPaths = setup.wasmPaths;
      ort.env.wasm.numThreads = setup.backend === "wasm" ? setup.threads : 1;
      ort.env.wasm.proxy = false; // we already are the worker
      ort.env.logLevel = "error";
      // ORT Web fetches, compiles (streaming) and instantiates its wasm, and starts its threads, at
      // the first session: made now, on a one-node model, that work overlaps the model's download.
      await exclusive(async () => {
        const session = await ort.InferenceSession.create(INIT_MODEL, { executionProviders: [setup.backend] });
        await session.release();
      });
    })();
    return ortReady;
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
    const { split } = request;
    const holds = split ? [split.backbone.sha256, split.head.sha256] : [request.model.sha256];
    const isGraph = isTfjsBackend(setupDone.backend);
    const made: Array<Promise<Ort.InferenceSession | TfjsGraph>> = isGraph
      ? [acquireGraph(request, track)]
      : split
        ? [acquireSession(split.backbone, track), acquireSession(split.head, track)]
        : [acquireSession(request.model, track)];
    const settled = await Promise.allSettled(made);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await releaseAll(holds);
      throw failed.reason;
    }
    const [first, headSession] = settled.map((s) => (s as PromiseFulfilledResult<Ort.InferenceSession | TfjsGraph>).value);
    const entry: Loaded = {
      session: isGraph ? null : (first as Ort.InferenceSession),
      graph: isGraph ? (first as TfjsGraph) : null,
      head: split && !isGraph ? { session: headSession as Ort.InferenceSession, output: split.output, input: split.headInput } : null,
      holds,
      manifest: request.manifest,
      assets,
    };
    const previous = loaded.get(request.key);
    loaded.set(request.key, entry);
    if (previous) await releaseAll(previous.holds);
    try {
      await warmUp(entry);
    } catch (err) {
      loaded.delete(request.key);
      await releaseAll(holds);
      throw err;
    }
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
    loaded.delete(key);
    if (entry) await releaseAll(entry.holds);
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
