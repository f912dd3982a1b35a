/**
 * Telemetry: what ran where, reported to the host (`POST /api/v1/telemetry`, schema
 * `contract/schemas/telemetry.schema.json`) so its `/metrics` shows the browsers'
 * side as `browserml_client_*` next to the server's own.
 *
 * Reported: loads (backend, variant, load time, cache hit), runs aggregated per model,
 * backend and variant (a latency histogram, result and uncertain counts, counts of
 * top-1 labels of classification results), fallbacks (a fixed reason kind, never
 * the message) and predictions (each browser result's random `request_id` and top-1
 * label, which the host stores so that feedback can name the result). Never inputs,
 * never scores, no free text.
 *
 * Batched: sent every 10 s or after 20 records, with `fetch(..., {keepalive: true})`,
 * and with `navigator.sendBeacon` when the page is hidden. Each batch stays under the
 * host's limits (16 kB, 50 events). Off with `loadModel(name, {telemetry: false})` or
 * for a whole page with `<meta name="browserml-telemetry" content="off">` (read once).
 * Telemetry never throws into the caller and never retries.
 *
 * The pure parts (`bucketOf`, `reasonKind`, `planFallbacks`, `summarize`, `batches`)
 * and the `Collector` (with an injected sender) are unit-tested in vitest.
 */

import type { BackendChoice, RuntimeBackend as Backend } from "./backends.js";

export const TELEMETRY_PATH = "/api/v1/telemetry";
/** Run-latency bucket upper bounds (ms, inclusive); "+Inf" above. The schema lists the same keys. */
export const LATENCY_BOUNDS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
export const MAX_BATCH_BYTES = 16_000;
export const MAX_BATCH_EVENTS = 50;
export const MAX_LABELS = 50;
export const MAX_LABEL_CHARS = 128;
export const MAX_COUNT = 1_000_000;
export const FLUSH_EVERY_MS = 10_000;
export const FLUSH_AT_RECORDS = 20;
/** Results per `predictions` event (the schema's bound). */
export const MAX_PREDICTIONS = 20;

export type BrowserBackend = Exclude<Backend, "server">;
export type FallbackReason =
  | "webgpu_unavailable"
  | "webgpu_software_adapter"
  | "webgpu_no_shader_f16"
  | "wasm_unavailable"
  | "no_variant"
  | "over_client_budget"
  | "low_device_memory"
  | "server_only"
  | "load_failed"
  | "run_failed"
  | "other";

export interface LoadEvent {
  type: "load";
  model: string;
  version: number;
  backend: Backend;
  variant: string | null;
  load_ms: number;
  from_cache: boolean;
}

export interface RunsEvent {
  type: "runs";
  model: string;
  version?: number;
  backend: Backend;
  variant: string | null;
  latency_buckets: Record<string, number>;
  uncertain: number;
  results: number;
  labels: Record<string, number>;
}

export interface FallbackEvent {
  type: "fallback";
  model: string;
  from: BrowserBackend;
  reason: FallbackReason;
}

/** Browser results, each with the id feedback names it by (`POST /api/v1/feedback`). */
export interface PredictionsEvent {
  type: "predictions";
  model: string;
  version: number;
  variant: string | null;
  predictions: Array<{ request_id: string; label: string | null }>;
}

export type TelemetryEvent = LoadEvent | RunsEvent | FallbackEvent | PredictionsEvent;

/** Whose report: the host that served the model (reports go back to it) and the model's name. */
export interface Source {
  host: string;
  model: string;
}

export interface LoadFacts {
  version: number;
  backend: Backend;
  variant: string | null;
  loadMs: number;
  fromCache: boolean;
}

/** The bucket key of a run that took `latencyMs`: the smallest bound at or above it, else "+Inf". */
export function bucketOf(latencyMs: number): string {
  for (const bound of LATENCY_BOUNDS_MS) if (latencyMs <= bound) return String(bound);
  return "+Inf";
}

// The runtime's reasons, in words (runtime/backends.ts, lib/browserml.ts), to their kinds.
// Failures first: their text ends with the error's, which may contain anything.
const REASONS: Array<[RegExp, FallbackReason]> = [
  [/^[\w-]+ failed while running/, "run_failed"],
  [/^[\w-]+ failed to load/, "load_failed"],
  [/server-only/, "server_only"],
  [/^(tfjs-webgpu: )?WebGPU unavailable/, "webgpu_unavailable"],
  [/software fallback/, "webgpu_software_adapter"],
  [/shader-f16/, "webgpu_no_shader_f16"],
  [/^(tfjs-wasm: )?WebAssembly unavailable/, "wasm_unavailable"],
  [/no variant that passed its gates|does not suit|did not pass its gates on/, "no_variant"],
  [/client budget/, "over_client_budget"],
  [/GB of memory/, "low_device_memory"],
];

/** The fixed kind of a fallback reason the runtime wrote in words ("other" if none fits). */
export function reasonKind(text: string): FallbackReason {
  for (const [pattern, kind] of REASONS) if (pattern.test(text)) return kind;
  return "other";
}

/** ONNX Runtime's and TF.js's backends never share a plan: their order between them does not matter. */
const PREFERENCE: readonly Backend[] = ["webgpu", "wasm", "tfjs-webgpu", "tfjs-wasm", "tfjs-webgl", "server"];

/**
 * Which browser backends the plan passed over before `used`, each with its reason in words.
 * `planBackends` writes one skipped reason per backend it considered and could not use, in
 * preference order (webgpu, then wasm; a TF.js plan: the tfjs backend asked for, or with a TF.js
 * variant on "auto" tfjs-webgpu, then tfjs-wasm; "auto" with TF.js WASM put first for its cost: the
 * ONNX plan's, webgpu then wasm); a server-only model passes over every one for the same reason.
 * Backends after `used` are not fallbacks and are left out.
 */
export function planFallbacks(
  choice: BackendChoice,
  used: Backend,
  candidates: readonly string[],
  skipped: readonly string[],
): Array<{ from: BrowserBackend; text: string }> {
  const all = [used, ...candidates];
  const tfjsPlan = all.some((b) => b.startsWith("tfjs-")) && !all.some((b) => b === "wasm" || b === "webgpu");
  const considered: BrowserBackend[] =
    choice === "wasm" || choice.startsWith("tfjs-")
      ? [choice as BrowserBackend]
      : choice === "server"
        ? []
        : tfjsPlan
          ? ["tfjs-webgpu", "tfjs-wasm"]
          : ["webgpu", "wasm"];
  const before = (b: Backend) => PREFERENCE.indexOf(b) < PREFERENCE.indexOf(used);
  if (skipped.length === 1 && reasonKind(skipped[0]!) === "server_only") {
    return considered.filter(before).map((from) => ({ from, text: skipped[0]! }));
  }
  const passed = considered.filter((b) => !candidates.includes(b));
  const out: Array<{ from: BrowserBackend; text: string }> = [];
  skipped.forEach((text, i) => {
    const from = passed[i] ?? (/WebGPU|shader-f16/.test(text) ? "webgpu" : "wasm");
    if (before(from)) out.push({ from, text });
  });
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * What one result adds: how many results it holds (a text list, faces, embeddings count each),
 * how many are uncertain, and the top-1 label of each classification-shaped one. No scores.
 */
export function summarize(result: Record<string, unknown>): { results: number; uncertain: number; labels: string[] } {
  const list = [result.results, result.faces, result.embeddings].find(Array.isArray) as unknown[] | undefined;
  const items: unknown[] = list ?? [result];
  let uncertain = 0;
  const labels: string[] = [];
  for (const item of items) {
    if (!isRecord(item)) continue;
    if (item.uncertain === true) uncertain += 1;
    const top = Array.isArray(item.labels) ? (item.labels[0] as unknown) : undefined;
    if (isRecord(top) && typeof top.label === "string" && top.label && top.label.length <= MAX_LABEL_CHARS) {
      labels.push(top.label);
    }
  }
  return { results: items.length, uncertain, labels };
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

const EMPTY_BATCH_BYTES = utf8Length(JSON.stringify({ events: [] }));

/** `events` split into batches of at most `maxEvents` whose JSON body is at most `maxBytes` (an
 * event too big to send alone, which the schema's bounds rule out, is dropped). */
export function batches(
  events: readonly TelemetryEvent[],
  maxBytes = MAX_BATCH_BYTES,
  maxEvents = MAX_BATCH_EVENTS,
): TelemetryEvent[][] {
  const out: TelemetryEvent[][] = [];
  let current: TelemetryEvent[] = [];
  let size = EMPTY_BATCH_BYTES;
  for (const event of events) {
    const bytes = utf8Length(JSON.stringify(event));
    if (EMPTY_BATCH_BYTES + bytes > maxBytes) continue;
    if (current.length >= maxEvents || size + bytes + (current.length ? 1 : 0) > maxBytes) {
      out.push(current);
      current = [];
      size = EMPTY_BATCH_BYTES;
    }
    size += bytes + (current.length ? 1 : 0);
    current.push(event);
  }
  if (current.length) out.push(current);
  return out;
}

/** Sends one batch body to `url`; `beacon` when the page is being hidden. Must not throw. */
export type Sender = (url: string, body: string, beacon: boolean) => Promise<void> | void;

export interface CollectorOptions {
  flushAtRecords?: number;
  flushEveryMs?: number;
}

const BACKENDS: readonly Backend[] = ["webgpu", "wasm", "tfjs-wasm", "tfjs-webgl", "tfjs-webgpu", "server"];

/** Collects records per host and sends them in batches (see the module comment). */
export class Collector {
  private readonly closed = new Map<string, TelemetryEvent[]>();
  private readonly open = new Map<string, { host: string; event: RunsEvent }>();
  private readonly predictions = new Map<string, { host: string; event: PredictionsEvent }>();
  private records = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly flushAtRecords: number;
  private readonly flushEveryMs: number;

  constructor(
    private readonly send: Sender,
    options: CollectorOptions = {},
  ) {
    this.flushAtRecords = options.flushAtRecords ?? FLUSH_AT_RECORDS;
    this.flushEveryMs = options.flushEveryMs ?? FLUSH_EVERY_MS;
  }

  recordLoad(source: Source, load: LoadFacts): void {
    if (!BACKENDS.includes(load.backend)) return;
    this.add(source.host, {
      type: "load",
      model: source.model,
      version: load.version,
      backend: load.backend,
      variant: load.variant,
      load_ms: Math.min(Math.max(0, Math.round(load.loadMs * 1000) / 1000 || 0), 3_600_000),
      from_cache: load.fromCache,
    });
  }

  /** One result of `Model.run`: its backend, variant and latency as the result says. */
  recordRun(source: Source, result: Record<string, unknown>): void {
    const backend = result.backend as Backend;
    const latency = Number(result.latency_ms);
    if (!BACKENDS.includes(backend) || !Number.isFinite(latency)) return;
    const variant = typeof result.variant === "string" ? result.variant : null;
    const version = Number.isInteger(result.version) && (result.version as number) >= 1 ? (result.version as number) : undefined;
    const facts = summarize(result);
    const key = [source.host, source.model, version ?? "", backend, variant].join("\n");
    let entry = this.open.get(key);
    if (entry && !fits(entry.event, facts)) {
      this.close(entry);
      this.open.delete(key);
      entry = undefined;
    }
    if (!entry) {
      entry = {
        host: source.host,
        event: {
          type: "runs",
          model: source.model,
          ...(version !== undefined ? { version } : {}),
          backend,
          variant,
          latency_buckets: {},
          uncertain: 0,
          results: 0,
          labels: {},
        },
      };
      this.open.set(key, entry);
    }
    const run = entry.event;
    const bucket = bucketOf(latency);
    run.latency_buckets[bucket] = (run.latency_buckets[bucket] ?? 0) + 1;
    run.results += facts.results;
    run.uncertain += facts.uncertain;
    for (const label of facts.labels) run.labels[label] = (run.labels[label] ?? 0) + 1;
    this.touched();
  }

  /** One browser result and its id (`result.request_id`), so the host can take feedback on it. */
  recordPrediction(source: Source, result: Record<string, unknown>): void {
    const event = predictionsEvent(source.model, result);
    if (!event) return;
    const key = [source.host, event.model, event.version, event.variant].join("\n");
    const entry = this.predictions.get(key);
    if (entry && entry.event.predictions.length < MAX_PREDICTIONS) {
      entry.event.predictions.push(...event.predictions);
    } else {
      if (entry) this.add(entry.host, entry.event, false);
      this.predictions.set(key, { host: source.host, event });
    }
    this.touched();
  }

  /** A browser backend passed over or given up; `reason` is the runtime's text (only its kind is sent). */
  recordFallback(source: Source, from: Backend, reason: string): void {
    if (from === "server") return;
    this.add(source.host, { type: "fallback", model: source.model, from, reason: reasonKind(reason) });
  }

  /** Send everything collected; `beacon` when the page is going away. */
  async flush(beacon = false): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.records = 0;
    for (const entry of this.open.values()) this.close(entry);
    this.open.clear();
    for (const entry of this.predictions.values()) this.add(entry.host, entry.event, false);
    this.predictions.clear();
    const sends: Array<Promise<void> | void> = [];
    for (const [host, events] of this.closed) {
      for (const batch of batches(events)) {
        try {
          sends.push(this.send(`${host}${TELEMETRY_PATH}`, JSON.stringify({ events: batch }), beacon));
        } catch {
          // telemetry never breaks the page
        }
      }
    }
    this.closed.clear();
    await Promise.allSettled(sends);
  }

  /** Records not sent yet (for tests). */
  get pending(): number {
    let count = this.open.size + this.predictions.size;
    for (const events of this.closed.values()) count += events.length;
    return count;
  }

  private add(host: string, event: TelemetryEvent, touch = true): void {
    const events = this.closed.get(host) ?? [];
    events.push(event);
    this.closed.set(host, events);
    if (touch) this.touched();
  }

  private close(entry: { host: string; event: RunsEvent }): void {
    const events = this.closed.get(entry.host) ?? [];
    events.push(entry.event);
    this.closed.set(entry.host, events);
  }

  private touched(): void {
    this.records += 1;
    if (this.records >= this.flushAtRecords) {
      void this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.flushEveryMs);
    }
  }
}

/** The `predictions` event of one result of `model` (null if it has no usable id, version or variant). */
export function predictionsEvent(model: string, result: Record<string, unknown>): PredictionsEvent | null {
  const id = result.request_id;
  const version = result.version;
  if (typeof id !== "string" || !REQUEST_ID.test(id) || typeof version !== "number" || !Number.isInteger(version)) {
    return null;
  }
  const variant = typeof result.variant === "string" ? result.variant : null;
  const label = topLabel(result);
  return { type: "predictions", model, version, variant, predictions: [{ request_id: id, label }] };
}

/** The ids the runtime gives browser results (and the schema allows). */
export const REQUEST_ID = /^[A-Za-z0-9-]{8,64}$/;

/** The top-1 label of a single classification result; null for anything else (lists, faces, embeddings). */
export function topLabel(result: Record<string, unknown>): string | null {
  const top = Array.isArray(result.labels) ? (result.labels[0] as unknown) : undefined;
  if (isRecord(top) && typeof top.label === "string" && top.label && top.label.length <= MAX_LABEL_CHARS) return top.label;
  return null;
}

/** Whether `facts` can join `run` within the schema's bounds (else the run event is closed first). */
function fits(run: RunsEvent, facts: { results: number; labels: string[] }): boolean {
  const labels = new Set([...Object.keys(run.labels), ...facts.labels]);
  const largestBucket = Math.max(0, ...Object.values(run.latency_buckets));
  return labels.size <= MAX_LABELS && run.results + facts.results <= MAX_COUNT && largestBucket < MAX_COUNT;
}

/** The browser's sender: `sendBeacon` (a JSON Blob) when hidden, else `fetch` with keepalive. */
export async function sendReport(url: string, body: string, beacon: boolean): Promise<void> {
  if (beacon && typeof navigator !== "undefined" && typeof navigator.sendBeacon === "function") {
    try {
      if (navigator.sendBeacon(url, new Blob([body], { type: "application/json" }))) return;
    } catch {
      // some browsers refuse a JSON Blob; fetch with keepalive also outlives the page
    }
  }
  try {
    await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      keepalive: true,
      credentials: "same-origin",
    });
  } catch {
    // offline or blocked: telemetry is best effort
  }
}

let pageSetting: boolean | null = null;

/** False when the page says `<meta name="browserml-telemetry" content="off">` (read once). */
export function pageAllowsTelemetry(): boolean {
  if (pageSetting === null) {
    const meta = typeof document === "undefined" ? null : document.querySelector('meta[name="browserml-telemetry"]');
    pageSetting = (meta?.getAttribute("content") ?? "").trim().toLowerCase() !== "off";
  }
  return pageSetting;
}

let shared: Collector | null = null;

/** The page's collector, or null when telemetry is off (`option === false` or the page config). */
export function telemetryFor(option: boolean | undefined): Collector | null {
  if (option === false || !pageAllowsTelemetry()) return null;
  if (!shared) {
    const collector = new Collector(sendReport);
    if (typeof document !== "undefined") {
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "hidden") void collector.flush(true);
      });
    }
    if (typeof window !== "undefined") window.addEventListener("pagehide", () => void collector.flush(true));
    shared = collector;
  }
  return shared;
}

/** Send what the page's collector holds now (nothing if telemetry never started). */
export async function flushShared(): Promise<void> {
  await shared?.flush();
}
