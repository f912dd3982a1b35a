/**
 * browserml: run a catalog model on the user's device, or transparently on the server.
 *
 *   import { loadModel } from "/lib/browserml.js";
 *   const model = await loadModel("imagenet", { onProgress: (p) => console.log(p.loaded, p.total) });
 *   const result = await model.run(document.querySelector("img"));
 *   console.log(model.backend, result.labels[0]);
 *
 * `loadModel` reads the model's manifest from the host, picks a backend for this
 * device (WebGPU with a real adapter, else WASM with threads when the page is
 * cross-origin isolated, or TensorFlow.js WASM where it costs less, e.g. a small
 * model's first visit; else the server), downloads the recommended variant
 * with progress, verifies its sha256, caches it, and creates the session in a
 * Web Worker. Any failure moves to the next backend; `model.backend` and
 * `model.fallbackReason` say what happened. `backend: "tfjs-wasm" | "tfjs-webgl" |
 * "tfjs-webgpu"` runs the version's TF.js graph-model variant with TensorFlow.js instead
 * (runtime/tfjs.ts), the same task code and result shape. Results have the same shape as the
 * server's `POST /api/v1/models/<name>/predict`. What the caller names (options,
 * backend, variant) is honoured or refused with an `OptionError` listing what is
 * valid, never swapped silently (runtime/options.ts, runtime/backends.ts).
 *
 * Every result has a `request_id`; `model.feedback(result, {correct: false, label: "cat"})`
 * tells the host whether it was right (`POST /api/v1/feedback`).
 *
 * `loadPipeline("face-emotion")` runs a chain of models the host describes
 * (`GET /api/v1/pipelines/<name>`), with the same result as the server's
 * `POST /api/v1/pipelines/<name>/predict`.
 */

import * as Comlink from "comlink";

import { cropBox } from "../pipelines.js";
import { type ArtifactRef, errorMessage, type Progress } from "../runtime/artifacts.js";
import {
  type AnyVariant,
  type BackendChoice,
  type Candidate,
  type EngineWarmth,
  isTfjsBackend,
  MAX_THREADS,
  planBackends,
  type RuntimeBackend,
  type Shard,
} from "../runtime/backends.js";
import { type BackboneUse, type BackboneWithUrls, planSplit, type SplitPlan } from "../runtime/backbone.js";
import { type Device, probeDevice } from "../runtime/device.js";
import {
  BACKEND_CHOICES,
  boolean,
  callable,
  type Check,
  checkOptions,
  httpOrigin,
  integer,
  nonEmptyString,
  oneOf,
  TASK_NAMES,
} from "../runtime/options.js";
import { type Collector, flushShared, planFallbacks, telemetryFor } from "../runtime/telemetry.js"; // telemetry
import { predictionsEvent, sendReport, TELEMETRY_PATH } from "../runtime/telemetry.js"; // feedback
import type { RunResult, WorkerApi, WorkerInput } from "../runtime/worker.js";
import type { PixelsLike } from "../tasks/types.js";
import { type AssetRole, assetRoles } from "../tasks/assets.js";
import { IMAGE_TASKS } from "../tasks/index.js";
import type { PipelineManifest as GeneratedPipelineManifest } from "../tasks/pipeline.generated.js";
import type {
  Asset,
  EmbeddingsResult,
  FaceDetectionResult,
  ImageClassificationResult,
  Manifest,
  TaskName,
  TextClassificationBatchResult,
  TextClassificationResult,
  Variant,
} from "../tasks/types.js";

export type { Progress } from "../runtime/artifacts.js";
export type { Backend, BackendChoice, RuntimeBackend, TfjsBackend } from "../runtime/backends.js";
export type { BackboneUse } from "../runtime/backbone.js";
export { BACKEND_CHOICES, OptionError } from "../runtime/options.js";
export { probeDevice } from "../runtime/device.js";

/** Send the telemetry collected so far now, rather than within 10 s or when the page is hidden. */
export function flushTelemetry(): Promise<void> {
  return flushShared(); // telemetry
}

/**
 * What `loadModel` takes. Every option is checked before anything loads (`LOAD_OPTION_CHECKS`):
 * an unknown option, a wrong type, an unknown backend or variant, or a variant the manifest
 * rules out is an `OptionError` listing what is valid, never a silent fallback.
 */
export interface LoadOptions {
  /**
   * "auto" (default; it may choose TF.js WASM where that costs less, runtime/backends.ts
   * `preferCheaperEngine`), "webgpu", "wasm" or "server" (`BACKEND_CHOICES`), or "tfjs-wasm", "tfjs-webgl",
   * "tfjs-webgpu": TensorFlow.js with that backend runs the version's TF.js graph-model variant (an
   * `OptionError` names what exists when none passed its gates there).
   */
  backend?: BackendChoice;
  /**
   * A specific variant file of the manifest. It must have passed its gates on the backend asked
   * for (on "auto": on WebGPU or WASM; a TF.js variant, e.g. "model.tfjs-fp16.json": on TF.js
   * WebGPU or WASM) and fit the client budget; with backend "server" the host runs it (it must
   * have passed there).
   */
  variant?: string;
  /**
   * WASM threads, 1 to 4 (default: the runtime's policy, `wasmThreads`: 1 for a small variant, 2 or
   * more for one of 2 MB or more on a cross-origin isolated page with 2+ cores). Applies when the
   * model runs on WASM (backend "wasm", or "auto" without a usable WebGPU); `model.threads` says
   * what ran. An `OptionError` with backend "server" or "webgpu", or above 1 on a page that is not
   * cross-origin isolated.
   */
  threads?: number;
  onProgress?: (progress: Progress) => void;
  /** Host origin (default: where this library was served from). */
  host?: string;
  /**
   * Report what ran where to the host (`POST /api/v1/telemetry`): backend, variant, load
   * time and cache hit, run latencies, fallback reasons, uncertain and top-1 label counts;
   * never inputs or scores. Default true; `false` turns it off for this model, and
   * `<meta name="browserml-telemetry" content="off">` for the whole page.
   */
  telemetry?: boolean;
}

/** How each option of `loadModel` is checked (runtime/options.ts); the type makes it list every option. */
const LOAD_OPTION_CHECKS: { readonly [K in keyof Required<LoadOptions & { task: TaskName }>]: Check } = {
  backend: oneOf(BACKEND_CHOICES),
  variant: nonEmptyString,
  threads: integer(1, MAX_THREADS),
  onProgress: callable,
  host: httpOrigin,
  telemetry: boolean,
  task: oneOf(TASK_NAMES),
};

export type ImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | ImageBitmap
  | ImageData
  | VideoFrame
  | Blob
  | string
  | URL;
export type TextInput = string | string[];

/** What `run` takes, by task. */
export interface TaskInputs {
  "image-classification": ImageInput;
  "face-detection": ImageInput;
  "text-classification": TextInput;
  embeddings: TextInput;
}

/** What `run` returns, by task (a list of texts gives the list form). */
export interface TaskResults {
  "image-classification": ImageClassificationResult;
  "face-detection": FaceDetectionResult;
  "text-classification": TextClassificationResult | TextClassificationBatchResult;
  embeddings: EmbeddingsResult;
}

/** Where and how a result was computed; on every result, from the device or the server. */
export interface RunInfo {
  model: string;
  version: number;
  variant: string | null;
  backend: RuntimeBackend;
  latency_ms: number;
  /** Names this result in `model.feedback` (the server's id, or a random one made here). */
  request_id: string;
}

/** What the user thinks of a result: right or wrong, and/or what it really is (one of the model's labels). */
export type FeedbackVerdict = { correct: boolean; label?: string } | { correct?: boolean; label: string };

export interface FeedbackOptions {
  /** Text models: the text that was classified, shared to improve the model... */
  text?: string;
  /** ...only when the user agreed to it (`true`); without it the text is not sent. */
  consent?: boolean;
}

/** The feedback as the host stored it (never the text). */
export interface StoredFeedback {
  id: number;
  model: string;
  version: number;
  request_id: string;
  correct: boolean | null;
  label: string | null;
  source: "server" | "browser";
  created: string;
}

/** A random id for a result computed here (`crypto.randomUUID`, or the same from `getRandomValues`
 * where the page is not a secure context). */
export function newRequestId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type RunResultOf<T extends TaskName> = TaskResults[T] & RunInfo;

export interface RunOptions {
  /** Send this input to the server even if the model runs locally. */
  server?: boolean;
  /**
   * Hand the input itself to the worker instead of a copy: an ImageBitmap or VideoFrame is
   * transferred (closed here), an ImageData's buffer is transferred (detached here). For inputs
   * the caller is done with, e.g. one camera frame per run: it saves a copy of the pixels.
   */
  transfer?: boolean;
}

/** Where the last on-device `run` spent its time, in ms (`model.lastTimings`). */
export interface RunTimings {
  /** On the page: turning the input into what the worker reads (decoding a Blob, copying a bitmap). */
  input: number;
  /** From posting the input to the worker starting on it. */
  toWorker: number;
  /** In the worker: reading pixels, prepare, ONNX Runtime, finish (`latency_ms` is their sum). */
  pixels: number;
  prepare: number;
  infer: number;
  finish: number;
  /** From the worker's answer to the page having it. */
  fromWorker: number;
  /** `run` from call to result, telemetry bookkeeping included. */
  total: number;
}

/** The manifest as `GET /api/v1/models/<name>` returns it: artifacts carry their URLs. */
export type ManifestWithUrls = Omit<Manifest, "variants" | "assets" | "backbone"> & {
  variants: Array<Variant & { url: string | null }>;
  assets: Array<Asset & { url: string }>;
  /** A composed model's backbone, with the URLs of its files (runtime/backbone.ts). */
  backbone?: BackboneWithUrls;
  /** The caller's arm of a canary split and the operator's kill switch (app/lifecycle.py). */
  lifecycle?: Lifecycle;
};

/** What the host says of a model's versions for this client. */
export interface Lifecycle {
  /** "stable", "canary" (this client is in the canary's share) or "pinned" (a version was asked for). */
  arm: "stable" | "canary" | "pinned";
  stable: number | null;
  canary: number | null;
  percent: number;
  /** The kill switch: the model is off; its non-ML fallback (or nothing) answers. */
  fallback: boolean;
}

/** The model is switched off by the operator and has no non-ML fallback. */
export class ModelUnavailableError extends Error {
  override name = "ModelUnavailableError";
}

const CLIENT_ID_KEY = "browserml-client-id";
let memoryClientId: string | null = null;

/**
 * A random id for this browser, kept in localStorage, sent as `X-Client-ID`: the host puts a
 * client in the same arm of a canary split every time (lifecycle/assign.py). It says nothing
 * about the user; clearing site data makes a new one.
 */
export function clientId(): string {
  try {
    let id = localStorage.getItem(CLIENT_ID_KEY);
    if (!id) {
      id = crypto.randomUUID();
      localStorage.setItem(CLIENT_ID_KEY, id);
    }
    return id;
  } catch {
    // No localStorage (a worker, or storage blocked): one id for this page's life.
    memoryClientId ??= crypto.randomUUID();
    return memoryClientId;
  }
}

const LIB_URL = import.meta.url;
// The worker is published beside the library. Absolute, because the bundler may
// move this module's code into a hashed chunk under /assets/.
const WORKER_PATH = "/lib/worker.js";
const workers = new Map<string, Promise<Comlink.Remote<WorkerApi>>>();

function hostOf(options: LoadOptions): string {
  return options.host ?? new URL(LIB_URL).origin;
}

function workerFor(candidate: Candidate, host: string): Promise<Comlink.Remote<WorkerApi>> {
  const key = `${candidate.backend}:${candidate.threads}`;
  let remote = workers.get(key);
  if (!remote) {
    remote = (async () => {
      const worker = new Worker(new URL(WORKER_PATH, host), { type: "module", name: `browserml-${key}` });
      const api = Comlink.wrap<WorkerApi>(worker);
      // Not awaited: the worker downloads the model (load) while it initialises ONNX Runtime Web, and
      // a failed setup fails that load (the next backend is tried) and drops this worker.
      const tfjs = isTfjsBackend(candidate.backend);
      api
        .setup({
          backend: candidate.backend as Exclude<RuntimeBackend, "server">,
          threads: candidate.threads,
          wasmPaths: tfjs ? `${host}/tfjs/` : `${host}/ort/`,
        })
        .catch(() => workers.delete(key));
      return api;
    })();
    workers.set(key, remote);
    remote.catch(() => workers.delete(key));
  }
  return remote;
}

/** The wasm file each engine's WASM worker starts with (the service worker caches /ort/ and /tfjs/). */
const ENGINE_WASM = { ort: "/ort/ort-wasm-simd-threaded.wasm", tfjs: "/tfjs/tfjs-backend-wasm-simd.wasm" } as const;

/**
 * Which engines' WASM runtimes are already here, for "auto" to price them (`preferCheaperEngine`):
 * this page runs a worker of it, or its wasm is in Cache Storage (the service worker's precache, or
 * its cache of a TF.js visit).
 */
async function engineWarmth(host: string): Promise<EngineWarmth> {
  const running = [...workers.keys()];
  const cached = async (path: string): Promise<boolean> => {
    if (typeof caches === "undefined") return false;
    return Boolean(await caches.match(host + path).catch(() => undefined));
  };
  const [ort, tfjs] = await Promise.all([
    running.some((key) => key.startsWith("wasm:")) || cached(ENGINE_WASM.ort),
    running.some((key) => key.startsWith("tfjs-wasm:")) || cached(ENGINE_WASM.tfjs),
  ]);
  return { ort, tfjs };
}

/**
 * A loaded model: `run` it, read where it runs, `dispose` it. `T` is its task when the
 * caller named it (`loadModel(name, {task})`), which types `run`'s input and result.
 */
export class Model<T extends TaskName = TaskName> {
  backend: RuntimeBackend;
  variant: string | null;
  /** The WASM threads it runs with (the `threads` option, else the policy, `wasmThreads`); 0 on WebGPU and the server. */
  threads: number;
  /** Why the model is not on the first backend the plan wanted (null if it is). */
  fallbackReason: string | null;
  /** Why this backend, in words; for a model with a backbone, also which files run (or why the composed variant). */
  reason: string;
  /**
   * A composed model (sentiment) running as its backbone model's own file + its head: the backbone
   * it shares (one download, one session with that model); null when it runs one file.
   */
  backbone: BackboneUse | null;
  loadMs: number;
  /** True when every artifact came from Cache Storage (nothing downloaded). */
  fromCache: boolean;
  readonly manifest: ManifestWithUrls;
  readonly device: Device;
  private readonly host: string;
  private readonly key: string;
  /** The variant the caller asked the server to run (`backend: "server"` with `variant`), else null. */
  private readonly serverVariant: string | null;
  private remote: Comlink.Remote<WorkerApi> | null;
  private readonly telemetry: Collector | null; // telemetry: null when off
  /** Where the last run on this device spent its time (null before one, or when the server answered). */
  lastTimings: RunTimings | null = null;

  constructor(init: {
    manifest: ManifestWithUrls;
    device: Device;
    host: string;
    candidate: Candidate;
    fallbackReason: string | null;
    remote: Comlink.Remote<WorkerApi> | null;
    loadMs: number;
    fromCache: boolean;
    /** Backbone + head, or why the composed variant (runtime/backbone.ts). */
    split?: SplitPlan;
    /** Where to report runs and fallbacks (runtime/telemetry.ts); none when absent. */
    telemetry?: Collector | null;
  }) {
    this.manifest = init.manifest;
    this.device = init.device;
    this.host = init.host;
    this.backend = init.candidate.backend;
    this.variant = init.candidate.variant ?? init.manifest.recommended.server;
    this.serverVariant = init.candidate.backend === "server" ? init.candidate.variant : null;
    this.threads = init.candidate.threads;
    this.reason = init.split?.reason ? `${init.candidate.reason}; ${init.split.reason}` : init.candidate.reason;
    this.backbone = init.split?.backbone ?? null;
    this.fallbackReason = init.fallbackReason;
    this.remote = init.remote;
    this.loadMs = init.loadMs;
    this.fromCache = init.fromCache;
    this.key = `${init.manifest.name}/${init.manifest.version}/${this.variant}`;
    this.telemetry = init.telemetry ?? null; // telemetry
  }

  get name(): string {
    return this.manifest.name;
  }

  /** The task result for `input`, with where and how fast it was computed. */
  async run(input: TaskInputs[T], options: RunOptions = {}): Promise<RunResultOf<T>> {
    const started = performance.now();
    this.lastTimings = null;
    const result = await this.runAny(input, options);
    this.telemetry?.recordRun({ host: this.host, model: this.name }, result); // telemetry
    if (result.backend !== "server") this.telemetry?.recordPrediction({ host: this.host, model: this.name }, result);
    const timings = this.lastTimings as RunTimings | null; // set by runAny for a run on this device
    if (timings) timings.total = performance.now() - started;
    return result as unknown as RunResultOf<T>;
  }

  /**
   * Tell the host what the user thinks of `result` (from this model's `run`): `{correct: true}`,
   * `{correct: false}`, `{label}` (what it really is) or `{correct: false, label}`. For a text
   * model, `{text, consent: true}` also shares the text: ask the user first. A result computed
   * here is reported to the host first (the telemetry is flushed, and its id sent even with
   * telemetry off), so the host knows its `request_id`. Resolves to the stored feedback;
   * rejects with the host's message (e.g. a label the model does not have).
   */
  async feedback(result: RunInfo, verdict: FeedbackVerdict, options: FeedbackOptions = {}): Promise<StoredFeedback> {
    if (typeof result?.request_id !== "string") {
      throw new InputError("this result has no request_id; pass a result of this model's run()");
    }
    if (result.backend !== "server") await this.reportPrediction(result as unknown as Record<string, unknown>);
    const body: Record<string, unknown> = {
      model: result.model,
      version: result.version,
      request_id: result.request_id,
      ...verdict,
    };
    if (options.text !== undefined && options.consent === true) Object.assign(body, { text: options.text, consent: true });
    let response: Response;
    try {
      response = await fetch(`${this.host}/api/v1/feedback`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      throw new Error(`the server cannot be reached (${String(err)}); you may be offline`);
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    return (await response.json()) as StoredFeedback;
  }

  /** Make sure the host has stored this browser result: flush the telemetry (a report of it may
   * be in flight) and send its own `predictions` event (the host keeps the first of duplicates). */
  private async reportPrediction(result: Record<string, unknown>): Promise<void> {
    const event = predictionsEvent(this.name, result);
    await Promise.all([
      this.telemetry?.flush(),
      event ? sendReport(`${this.host}${TELEMETRY_PATH}`, JSON.stringify({ events: [event] }), false) : undefined,
    ]);
  }

  private async runAny(input: ImageInput | TextInput, options: RunOptions): Promise<Record<string, unknown>> {
    const isImage = IMAGE_TASKS.has(this.manifest.task);
    if (this.backend !== "server" && this.remote && !options.server) {
      let handedOver = false; // the input itself went to the worker (`transfer`): nothing left to send the server
      try {
        const started = performance.now();
        const [local, transfers] = isImage ? await toWorkerImage(input as ImageInput, options.transfer === true) : [checkText(input), []];
        // Bitmaps, frames and owned pixel buffers are transferred (no copy); strings are cloned.
        const payload = transfers.length ? Comlink.transfer(local, transfers) : local;
        handedOver = options.transfer === true && transfers.length > 0;
        const posted = performance.now();
        const answer: RunResult = await this.remote.run(this.key, payload);
        const returned = performance.now();
        const { timings: t } = answer;
        this.lastTimings = {
          input: posted - started,
          toWorker: t.received - (performance.timeOrigin + posted),
          pixels: t.pixels,
          prepare: t.prepare,
          infer: t.infer,
          finish: t.finish,
          fromWorker: performance.timeOrigin + returned - t.done,
          total: returned - started,
        };
        return this.describe(answer.result, this.backend, this.variant, answer.latencyMs);
      } catch (err) {
        if (err instanceof InputError) throw err;
        // A backend that fails while running hands over to the server for good.
        this.fallbackReason = `${this.backend} failed while running (${String(err)}); the server answers`;
        const source = { host: this.host, model: this.name }; // telemetry
        this.telemetry?.recordFallback(source, this.backend, this.fallbackReason); // telemetry
        this.backend = "server";
        this.variant = this.manifest.recommended.server;
        this.backbone = null;
        this.reason = "server (fallback after a failure)";
        if (handedOver) throw new Error(`${this.fallbackReason}; this input was transferred, run it again`);
      }
    }
    return this.runOnServer(input, isImage);
  }

  private async runOnServer(input: ImageInput | TextInput, isImage: boolean): Promise<Record<string, unknown>> {
    const variant = this.backend === "server" && this.serverVariant ? `&variant=${encodeURIComponent(this.serverVariant)}` : "";
    const url = `${this.host}/api/v1/models/${this.manifest.name}/predict?version=${this.manifest.version}${variant}`;
    let response: Response;
    try {
      if (isImage) {
        // An image/* blob goes as the body itself: the host then reads it without parsing a multipart
        // form, which cost it more than the rest of its request path (bench/bench_predict.py). A blob of
        // no or another type goes in a form, where the host tells the format from the bytes.
        const blob = await toBlob(input as ImageInput);
        const headers: Record<string, string> = { "X-Client-ID": clientId() };
        let body: Blob | FormData = blob;
        if (blob.type.startsWith("image/")) headers["Content-Type"] = blob.type;
        else {
          body = new FormData();
          body.append("image", blob, "image");
        }
        response = await fetch(url, { method: "POST", body, headers });
      } else {
        const texts = checkText(input);
        response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Client-ID": clientId() },
          body: JSON.stringify(Array.isArray(texts) ? { texts } : { text: texts }),
        });
      }
    } catch (err) {
      throw new Error(`the server cannot be reached (${String(err)}); you may be offline`);
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    const body = (await response.json()) as Record<string, unknown>;
    return { ...body, backend: "server" };
  }

  private describe(
    result: Record<string, unknown>,
    backend: RuntimeBackend,
    variant: string | null,
    latencyMs: number,
  ): Record<string, unknown> {
    return {
      ...result,
      model: this.manifest.name,
      version: this.manifest.version,
      variant,
      backend,
      latency_ms: Math.round(latencyMs * 1000) / 1000,
      request_id: newRequestId(),
    };
  }

  /** Release the session (the worker stays for other models). */
  async dispose(): Promise<void> {
    await this.remote?.dispose(this.key);
    this.remote = null;
  }
}

/** The input was wrong (not the backend): no fallback, the caller must fix it. */
export class InputError extends Error {
  override name = "InputError";
}

function checkText(input: unknown): string | string[] {
  if (typeof input === "string" && input.trim()) return input;
  if (Array.isArray(input) && input.length > 0 && input.every((t) => typeof t === "string" && t.trim())) {
    return input as string[];
  }
  throw new InputError("text models take a non-empty string or a non-empty array of non-empty strings");
}

async function fetchImage(url: string | URL): Promise<Blob> {
  const response = await fetch(url);
  if (!response.ok) throw new InputError(`the image at ${String(url)} cannot be fetched (${response.status})`);
  return response.blob();
}

async function toBitmap(input: ImageInput): Promise<ImageBitmap> {
  try {
    if (typeof input === "string" || input instanceof URL) return await createImageBitmap(await fetchImage(input));
    if (input instanceof HTMLImageElement && !input.complete) await input.decode();
    return await createImageBitmap(input as ImageBitmapSource);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`this input cannot be decoded as an image (${String(err)}); use a JPEG, PNG or WebP`);
  }
}

/**
 * An image input as the worker takes it, with what to transfer: pixels are read once, in the
 * worker. An ImageData goes as it is (cloned by postMessage: one copy, or none with `transfer`),
 * a VideoFrame as a clone of its handle (or itself), an ImageBitmap as a copy (or itself);
 * anything else is decoded here to an ImageBitmap (off the main thread in Chromium).
 */
async function toWorkerImage(input: ImageInput, transfer: boolean): Promise<[WorkerInput, Transferable[]]> {
  if (typeof ImageData !== "undefined" && input instanceof ImageData) {
    if (!transfer) return [input, []];
    const pixels: PixelsLike = { data: input.data, width: input.width, height: input.height };
    return [pixels, [input.data.buffer]];
  }
  if (typeof VideoFrame !== "undefined" && input instanceof VideoFrame) {
    let frame: VideoFrame;
    try {
      frame = transfer ? input : input.clone();
    } catch (err) {
      throw new InputError(`this VideoFrame cannot be read (${String(err)}); is it closed?`);
    }
    return [frame, [frame]];
  }
  if (transfer && input instanceof ImageBitmap) return [input, [input]];
  const bitmap = await toBitmap(input);
  return [bitmap, [bitmap]];
}

async function toBlob(input: ImageInput): Promise<Blob> {
  if (input instanceof Blob) return input;
  if (typeof input === "string" || input instanceof URL) return fetchImage(input);
  const bitmap = await toBitmap(input);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}

function artifactRef(host: string, file: string, entry: { url: string | null; sha256: string; bytes: number }): ArtifactRef {
  if (!entry.url) throw new Error(`${file} is not served to clients`);
  return { file, url: host + entry.url, sha256: entry.sha256, bytes: entry.bytes };
}

/** The bytes of a variant's weight shards (a TF.js graph model's; 0 for an ONNX file). */
function shardBytes(variant: Variant): number {
  const shards = (variant as AnyVariant).shards as Shard[] | undefined;
  return (shards ?? []).reduce((sum, shard) => sum + shard.bytes, 0);
}

/** A TF.js variant's weight files, each with its sha256: served beside its model.json (same folder). */
function shardRefs(host: string, variant: Variant & { url: string | null }): ArtifactRef[] {
  const shards = (variant as AnyVariant).shards as Array<Shard & { url?: string | null }> | undefined;
  if (!shards?.length) throw new Error(`${variant.file}: the manifest lists no weight shards for this TF.js variant`);
  if (!variant.url) throw new Error(`${variant.file} is not served to clients`);
  const folder = new URL(host + variant.url);
  return shards.map((shard) => ({
    file: shard.file,
    url: shard.url ? host + shard.url : new URL(shard.file, folder).href,
    sha256: shard.sha256,
    bytes: shard.bytes,
  }));
}

const MANIFEST_CACHE = "browserml-manifests-v1";

/** The model's manifest from the host, or the copy kept for offline use (`fetchKept`). */
function fetchManifest(host: string, name: string): Promise<ManifestWithUrls> {
  return fetchKept<ManifestWithUrls>(`${host}/api/v1/models/${encodeURIComponent(name)}`, name, "model");
}

/**
 * JSON from the host; when the host cannot be reached, the copy kept from the
 * last successful visit (so cached models and pipelines work offline).
 */
async function fetchKept<T>(url: string, name: string, what: string): Promise<T> {
  const cache = typeof caches === "undefined" ? null : await caches.open(MANIFEST_CACHE).catch(() => null);
  let response: Response;
  try {
    response = await fetch(url, { headers: { "X-Client-ID": clientId() } });
  } catch (err) {
    const kept = await cache?.match(url);
    if (kept) return (await kept.json()) as T;
    throw new Error(`${name}: the host cannot be reached (${String(err)}) and this ${what} is not cached; you are offline`);
  }
  if (!response.ok) throw new Error(await errorMessage(response));
  await cache?.put(url, response.clone()).catch(() => undefined);
  return (await response.json()) as T;
}

/**
 * Load `name` on the best backend this device offers (see the module comment). With
 * `options.task` the model must be of that task (else an error says which it is), and
 * `run` is typed for it: `(await loadModel("imagenet", {task: "image-classification"})).run(img)`
 * resolves to an `ImageClassificationResult & RunInfo`.
 */
export async function loadModel<T extends TaskName = TaskName>(
  name: string,
  options: LoadOptions & { task?: T } = {},
): Promise<Model<T>> {
  checkOptions(options, LOAD_OPTION_CHECKS, `loadModel(${JSON.stringify(name)})`);
  const host = hostOf(options);
  // A WebGPU adapter request can take as long as the manifest: both at once (awaited below; if the
  // manifest fails first, its rejection is not left unhandled).
  const probing = probeDevice();
  probing.catch(() => undefined);
  const warming = engineWarmth(host); // never rejects
  const manifest = await fetchManifest(host, name);
  if (options.task !== undefined && manifest.task !== options.task) {
    throw new InputError(`${name} is a model for ${manifest.task}, not for ${options.task}`);
  }
  const switchedOff = killSwitch(manifest);
  const device = await probing;
  const plan = planBackends(manifest as Manifest, device, options.backend ?? "auto", options.variant, options.threads, await warming);
  const reasons = [...plan.skipped];
  const telemetry = telemetryFor(options.telemetry); // telemetry: null when off
  const source = { host, model: manifest.name }; // telemetry
  const made = (
    candidate: Candidate,
    remote: Comlink.Remote<WorkerApi> | null,
    loadMs = 0,
    fromCache = false,
    split?: SplitPlan,
  ) => {
    const model = new Model<T>({
      split,
      manifest,
      device,
      host,
      candidate,
      fallbackReason: reasons.length ? reasons.join("; ") : null,
      remote,
      loadMs,
      fromCache,
      telemetry,
    });
    // --- telemetry: the backends passed over before this one, and the load itself ---
    if (telemetry) {
      const planned = plan.candidates.map((c) => c.backend);
      for (const { from, text } of planFallbacks(options.backend ?? "auto", model.backend, planned, plan.skipped)) {
        telemetry.recordFallback(source, from, text);
      }
      const { backend, variant } = model;
      telemetry.recordLoad(source, { version: manifest.version, backend, variant, loadMs, fromCache });
    }
    return model;
  };
  if (switchedOff) return made(switchedOff, null);
  for (const candidate of plan.candidates) {
    if (candidate.backend === "server") return made(candidate, null);
    try {
      const variant = manifest.variants.find((v) => v.file === candidate.variant);
      if (!variant) throw new Error(`no variant ${candidate.variant}`);
      const assets: Partial<Record<AssetRole, ArtifactRef>> = {};
      for (const [role, file] of Object.entries(assetRoles(manifest))) {
        const asset = manifest.assets.find((a) => a.file === file);
        if (!asset) throw new Error(`the manifest names ${file} as its ${role} but lists no such asset`);
        assets[role as AssetRole] = artifactRef(host, asset.file, asset);
      }
      const remote = await workerFor(candidate, host);
      const request = {
        key: `${manifest.name}/${manifest.version}/${candidate.variant}`,
        manifest: manifest as unknown as Manifest,
        // A TF.js variant's `bytes` counts its shards too (the download); model.json's own size is the rest.
        model: artifactRef(host, variant.file, { ...variant, bytes: variant.bytes - shardBytes(variant) }),
        assets,
        shards: isTfjsBackend(candidate.backend) ? shardRefs(host, variant) : undefined,
      };
      const progress = options.onProgress ? Comlink.proxy(options.onProgress) : undefined;
      // A composed model whose backbone the host serves: that file + the head (one download shared with
      // the backbone model); else, or if that fails to load, the composed variant, and `reason` says why.
      let split: SplitPlan = isTfjsBackend(candidate.backend)
        ? { use: null, backbone: null, reason: null }
        : planSplit(manifest, variant.file, candidate.backend, host);
      if (split.use) {
        try {
          const loaded = await remote.load({ ...request, split: split.use }, progress);
          return made(candidate, remote, loaded.loadMs, loaded.fromCache, split);
        } catch (err) {
          split = { use: null, backbone: null, reason: `the composed ${variant.file} (backbone + head failed to load: ${String(err)})` };
        }
      }
      const loaded = await remote.load(request, progress);
      return made(candidate, remote, loaded.loadMs, loaded.fromCache, split);
    } catch (err) {
      reasons.push(`${candidate.backend} failed to load ${candidate.variant}: ${String(err)}`);
      telemetry?.recordFallback(source, candidate.backend, reasons[reasons.length - 1]!); // telemetry
    }
  }
  throw new Error(`no backend could load ${name}: ${reasons.join("; ")}`);
}

/**
 * The operator's kill switch (`browserml fallback NAME on`), as the catalog says: a model with a
 * non-ML fallback (sentiment: the lexicon) is answered by the host with it; any other model is
 * unavailable (ModelUnavailableError), rather than silently loaded.
 */
function killSwitch(manifest: ManifestWithUrls): Candidate | null {
  if (!manifest.lifecycle?.fallback) return null;
  if (manifest.task === "text-classification" && manifest.fallback?.lexicon) {
    return {
      backend: "server",
      variant: null,
      threads: 0,
      reason: "switched off by the operator: the host answers with the lexicon (the model's non-ML fallback)",
    };
  }
  throw new ModelUnavailableError(
    `${manifest.name} is switched off by the operator and has no non-ML fallback; try again later`,
  );
}

/** A pipeline manifest as `GET /api/v1/pipelines/<name>` returns it: the generated type, plus URLs. */
export type PipelineManifest = GeneratedPipelineManifest & {
  urls: { predict: string; detector: string; classifier: string };
};

export interface PipelineOptions extends Omit<LoadOptions, "variant"> {
  /** How to get each model (default: `loadModel(name, options)`); the demo passes its own to show status. */
  model?: (name: string) => Promise<Model>;
}

/** How each option of `loadPipeline` is checked: `loadModel`'s, but no `variant` (each model has its own), plus `model`. */
const PIPELINE_OPTION_CHECKS: { readonly [K in keyof Required<PipelineOptions>]: Check } = {
  backend: LOAD_OPTION_CHECKS.backend,
  threads: LOAD_OPTION_CHECKS.threads,
  onProgress: LOAD_OPTION_CHECKS.onProgress,
  host: LOAD_OPTION_CHECKS.host,
  telemetry: LOAD_OPTION_CHECKS.telemetry,
  model: callable,
};

/**
 * A chain of models run as one, as its manifest says: `detect-then-classify` finds
 * boxes with the detector, crops each one (widened by `crop.margin`) from the same
 * image and classifies the crop. The result has the detector's shape with the
 * classification on every detection under `attach_as`, exactly what the server's
 * `POST /api/v1/pipelines/<name>/predict` returns. Each model runs where `loadModel`
 * put it (its own backend and fallback).
 */
export class Pipeline {
  constructor(
    readonly manifest: PipelineManifest,
    readonly detector: Model<"face-detection">,
    readonly classifier: Model<"image-classification">,
  ) {}

  get name(): string {
    return this.manifest.name;
  }

  async run(input: ImageInput): Promise<Record<string, unknown>> {
    const source = await toBitmap(input); // read once; each model gets its own copy
    try {
      const found = await this.detector.run(source);
      const faces = [];
      for (const detection of found.faces) {
        const crop = await cropBox(source, detection.box, this.manifest.crop.margin);
        // The crop is this pipeline's own: handed to the worker, not copied again.
        faces.push({ ...detection, [this.manifest.attach_as]: await this.classifier.run(crop, { transfer: true }) });
      }
      return { ...found, faces, pipeline: this.manifest.name };
    } finally {
      source.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([this.detector.dispose(), this.classifier.dispose()]);
  }
}

/** Load the pipeline `name` (`GET /api/v1/pipelines/<name>`) and both of its models. */
export async function loadPipeline(name: string, options: PipelineOptions = {}): Promise<Pipeline> {
  checkOptions(options, PIPELINE_OPTION_CHECKS, `loadPipeline(${JSON.stringify(name)})`);
  const host = hostOf(options);
  const manifest = await fetchKept<PipelineManifest>(`${host}/api/v1/pipelines/${encodeURIComponent(name)}`, name, "pipeline");
  if (manifest.kind !== "detect-then-classify") {
    throw new Error(`${name} is a ${String(manifest.kind)} pipeline; this runtime runs detect-then-classify pipelines`);
  }
  const { model: get, ...loadOptions } = options;
  const load = get ?? ((model: string) => loadModel(model, loadOptions));
  const [detector, classifier] = await Promise.all([load(manifest.detector), load(manifest.classifier)]);
  return new Pipeline(manifest, ofTask(detector, "face-detection"), ofTask(classifier, "image-classification"));
}

/** `model` typed as a model of `task`, after checking that it is one. */
function ofTask<T extends TaskName>(model: Model, task: T): Model<T> {
  if (model.manifest.task !== task) throw new Error(`${model.name} is a model for ${model.manifest.task}, not for ${task}`);
  return model as unknown as Model<T>;
}
