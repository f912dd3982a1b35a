/**
 * The inference worker: ONNX Runtime Web sessions and the task code, off the page's thread.
 *
 * One worker serves one execution setup (WebGPU, or WASM with N threads: ORT
 * Web fixes its thread count per page once set, so another count needs
 * another worker). Models are fetched, verified and cached here, their
 * sessions created once and reused for every run. Exposed with comlink.
 */

import * as Comlink from "comlink";
import * as ort from "onnxruntime-web";

import { taskModule, TEXT_TASKS } from "../tasks/index.js";
import { Lexicon } from "../tasks/lexicon.js";
import { loadTokenizer, maxLength } from "../tasks/tokenization.js";
import type { Feeds, Manifest, PixelsLike, TaskManifest, TextPreprocess } from "../tasks/types.js";
import type { TaskAssets } from "../tasks/index.js";
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
  tokenizer?: ArtifactRef;
  /** VADER's lexicon (manifest.fallback.lexicon), for text classification's fallback. */
  lexicon?: ArtifactRef;
}

export interface LoadResult {
  loadMs: number;
  fromCache: boolean;
  /** The execution provider ONNX Runtime actually created the session with. */
  provider: string;
}

export type WorkerInput = ImageBitmap | PixelsLike | string | string[];

export interface RunResult {
  result: Record<string, unknown>;
  /** Pre-processing + inference + post-processing, in ms. */
  latencyMs: number;
}

interface Loaded {
  session: ort.InferenceSession;
  manifest: Manifest;
  assets: TaskAssets;
}

const loaded = new Map<string, Loaded>();
let setupDone: WorkerSetup | null = null;

function toPixels(input: ImageBitmap | PixelsLike): PixelsLike {
  if (!(typeof ImageBitmap !== "undefined" && input instanceof ImageBitmap)) return input as PixelsLike;
  const canvas = new OffscreenCanvas(input.width, input.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) throw new Error("OffscreenCanvas 2D is unavailable in this worker");
  context.drawImage(input, 0, 0);
  return context.getImageData(0, 0, input.width, input.height);
}

function toOrtFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, feed] of Object.entries(feeds)) out[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
  return out;
}

const api = {
  /** Configure ONNX Runtime Web for this worker (once). */
  setup(setup: WorkerSetup): void {
    if (setupDone) return;
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
    const assets: TaskAssets = {};
    if (TEXT_TASKS.has(request.manifest.task)) {
      if (!request.tokenizer) throw new Error(`${request.manifest.name}: the manifest names no tokenizer asset`);
      const bytes = await fetchVerified(request.tokenizer, track);
      const json = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      assets.tokenizer = loadTokenizer(json, maxLength(request.manifest.preprocess as TextPreprocess));
    }
    if (request.lexicon) {
      assets.lexicon = Lexicon.parse(new TextDecoder().decode(await fetchVerified(request.lexicon, track)));
    }
    const model = await fetchVerified(request.model, track);
    const session = await ort.InferenceSession.create(new Uint8Array(model), {
      executionProviders: [setupDone.backend],
      graphOptimizationLevel: "all",
    });
    loaded.get(request.key)?.session.release();
    loaded.set(request.key, { session, manifest: request.manifest, assets });
    return { loadMs: performance.now() - started, fromCache, provider: setupDone.backend };
  },

  /** Run the task on one input: prepare -> session.run -> finish. */
  async run(key: string, input: WorkerInput): Promise<RunResult> {
    const entry = loaded.get(key);
    if (!entry) throw new Error(`model ${key} is not loaded in this worker`);
    const started = performance.now();
    const task = taskModule(entry.manifest.task);
    const sample = typeof input === "string" || Array.isArray(input) ? input : toPixels(input);
    const manifest = entry.manifest as TaskManifest;
    // Each task module checks its own input kind; the union is narrowed there.
    const { feeds, context } = (task.prepare as (i: unknown, m: TaskManifest, a: TaskAssets) => {
      feeds: Feeds;
      context: unknown;
    })(sample, manifest, entry.assets);
    const outputs = await entry.session.run(toOrtFeeds(feeds));
    const ordered = entry.manifest.outputs.map((spec) => {
      const tensor = outputs[spec.name];
      if (!tensor) throw new Error(`the model produced no output named ${spec.name}`);
      return tensor;
    });
    const result = (task.finish as (o: unknown, c: unknown, m: TaskManifest) => Record<string, unknown>)(
      ordered,
      context,
      manifest,
    );
    for (const tensor of Object.values(outputs)) tensor.dispose();
    return { result, latencyMs: performance.now() - started };
  },

  async dispose(key: string): Promise<void> {
    await loaded.get(key)?.session.release();
    loaded.delete(key);
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
