/**
 * Telemetry's pure parts: latency buckets (the schema's keys), the runtime's fallback
 * reasons mapped to their kinds, what a result adds (never scores), batches under the
 * host's limits, and the collector's batching (20 records or 10 s, sendBeacon when hidden).
 */

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { planBackends } from "../../src/runtime/backends.js";
import type { Device } from "../../src/runtime/device.js";
import {
  batches,
  bucketOf,
  Collector,
  LATENCY_BOUNDS_MS,
  MAX_BATCH_BYTES,
  MAX_PREDICTIONS,
  planFallbacks,
  type PredictionsEvent,
  predictionsEvent,
  reasonKind,
  REQUEST_ID,
  type RunsEvent,
  summarize,
  type TelemetryEvent,
} from "../../src/runtime/telemetry.js";
import type { Manifest } from "../../src/tasks/types.js";
import { variant } from "./fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(readFileSync(resolve(here, "../../../contract/schemas/telemetry.schema.json"), "utf8"));

describe("latency buckets", () => {
  it("are the schema's keys", () => {
    const keys = Object.keys(schema.$defs.runs.properties.latency_buckets.properties);
    const byBound = (a: string, b: string) => Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity"));
    expect(keys.sort(byBound)).toEqual([...LATENCY_BOUNDS_MS.map(String), "+Inf"]);
  });

  it("put a latency in the smallest bound at or above it", () => {
    expect(bucketOf(0)).toBe("1");
    expect(bucketOf(1)).toBe("1");
    expect(bucketOf(1.0001)).toBe("2.5");
    expect(bucketOf(2.5)).toBe("2.5");
    expect(bucketOf(37)).toBe("50");
    expect(bucketOf(10000)).toBe("10000");
    expect(bucketOf(10000.5)).toBe("+Inf");
  });
});


function manifest(client: Partial<Manifest["client"]> = {}): Manifest {
  return {
    name: "imagenet",
    version: 1,
    task: "image-classification",
    variants: [variant("model.onnx", "fp32", 25e6), variant("model.fp16.onnx", "fp16", 9e6)],
    recommended: { webgpu: "model.fp16.onnx", wasm: "model.onnx", server: "model.onnx" },
    client: { max_client_bytes: 40e6, server_only: false, ...client },
  } as Manifest;
}

function device(gpu: Partial<Device["webgpu"]> = {}, overrides: Partial<Device> = {}): Device {
  return {
    webgpu: { available: true, fallbackAdapter: false, shaderF16: true, description: "a GPU", ...gpu },
    wasm: true,
    crossOriginIsolated: true,
    cores: 4,
    memoryGb: 8,
    ...overrides,
  } as Device;
}

describe("fallback reasons", () => {
  const schemaReasons: string[] = schema.$defs.fallback.properties.reason.enum;

  it("map every reason the planner writes to its kind", () => {
    const cases: Array<[Device, Manifest, string]> = [
      [device({ available: false, description: "navigator.gpu is missing" }), manifest(), "webgpu_unavailable"],
      [device({ fallbackAdapter: true, description: "SwiftShader" }), manifest(), "webgpu_software_adapter"],
      [device({ shaderF16: false }), manifest(), "webgpu_no_shader_f16"],
      [device({}, { memoryGb: 0.1 }), manifest(), "low_device_memory"],
      [device(), manifest({ max_client_bytes: 1e6 }), "over_client_budget"],
      [device(), manifest({ server_only: true }), "server_only"],
    ];
    for (const [dev, man, kind] of cases) {
      const plan = planBackends(man, dev, "auto");
      expect(plan.skipped.length, kind).toBeGreaterThan(0);
      expect(reasonKind(plan.skipped[0]!), plan.skipped[0]).toBe(kind);
      expect(schemaReasons).toContain(kind);
    }
    const noGpuVariant = manifest();
    noGpuVariant.recommended.webgpu = null as unknown as string;
    expect(reasonKind(planBackends(noGpuVariant, device(), "auto").skipped[0]!)).toBe("no_variant");
    expect(reasonKind(planBackends(manifest(), device({}, { wasm: false }), "wasm").skipped[0]!)).toBe("wasm_unavailable");
  });

  it("map load and run failures whatever the error says", () => {
    expect(reasonKind("webgpu failed to load model.fp16.onnx: Error: WebGPU unavailable shader-f16")).toBe("load_failed");
    expect(reasonKind("wasm failed while running (Error: out of memory, client budget); the server answers")).toBe(
      "run_failed",
    );
    expect(reasonKind("something new")).toBe("other");
    for (const kind of ["load_failed", "run_failed", "other"]) expect(schemaReasons).toContain(kind);
  });

  it("attribute the planner's reasons to the backends passed over before the one used", () => {
    const swiftshader = planBackends(manifest(), device({ fallbackAdapter: true, description: "SwiftShader" }), "auto");
    const planned = swiftshader.candidates.map((c) => c.backend);
    expect(planFallbacks("auto", "wasm", planned, swiftshader.skipped).map((f) => f.from)).toEqual(["webgpu"]);
    // Budget reasons do not say which backend: the plan's order does.
    const tight = planBackends(manifest({ max_client_bytes: 1e6 }), device(), "auto");
    const both = planFallbacks("auto", "server", tight.candidates.map((c) => c.backend), tight.skipped);
    expect(both).toEqual([
      { from: "webgpu", text: tight.skipped[0] },
      { from: "wasm", text: tight.skipped[1] },
    ]);
    // A server-only model passes over every browser backend for that one reason.
    const serverOnly = planBackends(manifest({ server_only: true }), device(), "auto");
    expect(planFallbacks("auto", "server", ["server"], serverOnly.skipped).map((f) => f.from)).toEqual(["webgpu", "wasm"]);
    // Nothing passed over: the first choice ran; asking for the server is no fallback.
    expect(planFallbacks("auto", "webgpu", ["webgpu", "wasm", "server"], [])).toEqual([]);
    expect(planFallbacks("server", "server", ["server"], [])).toEqual([]);
  });
});

describe("what a result adds", () => {
  it("counts results, uncertain ones and top-1 labels, never scores", () => {
    const one = { labels: [{ label: "tabby", score: 0.61 }, { label: "tiger cat", score: 0.2 }], uncertain: false };
    expect(summarize(one)).toEqual({ results: 1, uncertain: 0, labels: ["tabby"] });
    const texts = {
      results: [
        { labels: [{ label: "positive", score: 0.9 }], uncertain: false, fallback: null },
        { labels: [{ label: "negative", score: 0.57 }], uncertain: true, fallback: "lexicon" },
        { labels: [{ label: "positive", score: 0.99 }], uncertain: false, fallback: null },
      ],
    };
    expect(summarize(texts)).toEqual({ results: 3, uncertain: 1, labels: ["positive", "negative", "positive"] });
    expect(summarize({ faces: [{ box: [1, 2, 3, 4], score: 0.9 }, { box: [5, 6, 7, 8], score: 0.8 }] })).toEqual({
      results: 2,
      uncertain: 0,
      labels: [],
    });
    expect(summarize({ embeddings: [[0.1], [0.2]] })).toEqual({ results: 2, uncertain: 0, labels: [] });
    expect(summarize({ embedding: [0.1, 0.2] })).toEqual({ results: 1, uncertain: 0, labels: [] });
  });
});

function runsEvent(labels: number, model = "imagenet"): RunsEvent {
  return {
    type: "runs",
    model,
    backend: "wasm",
    variant: "model.onnx",
    latency_buckets: { "10": 1 },
    uncertain: 0,
    results: labels,
    labels: Object.fromEntries(Array.from({ length: labels }, (_, i) => [`label number ${i} `.padEnd(120, "x"), 1])),
  };
}

describe("batches", () => {
  it("keep each body under 16 kB and 50 events, in order, dropping nothing that fits", () => {
    const events: TelemetryEvent[] = [];
    for (let i = 0; i < 12; i++) events.push(runsEvent(50));
    for (let i = 0; i < 70; i++) events.push({ type: "fallback", model: "imagenet", from: "webgpu", reason: "other" });
    const out = batches(events);
    expect(out.flat()).toEqual(events);
    for (const batch of out) {
      expect(batch.length).toBeLessThanOrEqual(50);
      expect(new TextEncoder().encode(JSON.stringify({ events: batch })).length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expect(out.length).toBeGreaterThan(5);
  });

  it("are empty for no events", () => {
    expect(batches([])).toEqual([]);
  });
});

describe("the collector", () => {
  const source = { host: "https://host.example", model: "sentiment" };
  let sent: Array<{ url: string; body: { events: TelemetryEvent[] }; beacon: boolean }>;
  let collector: Collector;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    collector = new Collector((url, body, beacon) => {
      sent.push({ url, body: JSON.parse(body), beacon });
    });
  });
  afterEach(() => vi.useRealTimers());

  const result = (label: string, latency: number, uncertain = false) => ({
    model: "sentiment",
    backend: "wasm",
    variant: "model.int8.onnx",
    latency_ms: latency,
    labels: [{ label, score: 0.75 }],
    uncertain,
  });

  it("aggregates runs per backend and variant and sends after 10 s", () => {
    collector.recordLoad(source, { version: 1, backend: "wasm", variant: "model.int8.onnx", loadMs: 812.25, fromCache: true });
    collector.recordRun(source, result("positive", 3.2));
    collector.recordRun(source, result("negative", 40, true));
    collector.recordRun(source, result("positive", 12000));
    collector.recordFallback(source, "webgpu", "WebGPU adapter is a software fallback (SwiftShader), slower than WASM");
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(9_999);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe("https://host.example/api/v1/telemetry");
    expect(sent[0]!.beacon).toBe(false);
    expect(sent[0]!.body.events).toEqual([
      { type: "load", model: "sentiment", version: 1, backend: "wasm", variant: "model.int8.onnx", load_ms: 812.25, from_cache: true },
      { type: "fallback", model: "sentiment", from: "webgpu", reason: "webgpu_software_adapter" },
      {
        type: "runs",
        model: "sentiment",
        backend: "wasm",
        variant: "model.int8.onnx",
        latency_buckets: { "5": 1, "50": 1, "+Inf": 1 },
        uncertain: 1,
        results: 3,
        labels: { positive: 2, negative: 1 },
      },
    ]);
    expect(JSON.stringify(sent)).not.toContain("0.75");
    expect(collector.pending).toBe(0);
  });

  it("names the version that ran, one runs event per version", () => {
    collector.recordRun(source, { ...result("positive", 3.2), version: 2 });
    collector.recordRun(source, { ...result("negative", 3.2), version: 3 });
    collector.recordRun(source, { ...result("negative", 3.2), version: 3 });
    vi.advanceTimersByTime(10_000);
    const runs = sent[0]!.body.events.filter((e) => e.type === "runs") as RunsEvent[];
    expect(runs.map((e) => [e.version, e.results, e.labels])).toEqual([
      [2, 1, { positive: 1 }],
      [3, 2, { negative: 2 }],
    ]);
  });

  it("sends at 20 records without waiting", () => {
    for (let i = 0; i < 19; i++) collector.recordRun(source, result("positive", 5));
    expect(sent).toEqual([]);
    collector.recordRun(source, result("positive", 5));
    expect(sent).toHaveLength(1);
    const runs = sent[0]!.body.events[0] as RunsEvent;
    expect(runs.results).toBe(20);
    expect(runs.latency_buckets).toEqual({ "5": 20 });
    vi.advanceTimersByTime(20_000);
    expect(sent).toHaveLength(1); // the timer went with the flush
  });

  it("uses the beacon when flushed for a hidden page, and sends nothing when empty", async () => {
    await collector.flush(true);
    expect(sent).toEqual([]);
    collector.recordRun(source, result("positive", 5));
    await collector.flush(true);
    expect(sent.map((s) => s.beacon)).toEqual([true]);
  });

  it("starts a new runs event before a 51st label", () => {
    const imagenet = { host: source.host, model: "imagenet" };
    for (let i = 0; i < 51; i++) collector.recordRun(imagenet, { ...result(`label${i}`, 5), model: "imagenet" });
    void collector.flush();
    const events = sent.flatMap((s) => s.body.events) as RunsEvent[];
    expect(events.map((e) => Object.keys(e.labels).length)).toEqual([20, 20, 11]); // flushed at 20 records too
    const send = (url: string, body: string, beacon: boolean) => void sent.push({ url, body: JSON.parse(body), beacon });
    collector = new Collector(send, { flushAtRecords: 1000 });
    sent = [];
    for (let i = 0; i < 51; i++) collector.recordRun(imagenet, { ...result(`label${i}`, 5), model: "imagenet" });
    void collector.flush();
    const split = sent.flatMap((s) => s.body.events) as RunsEvent[];
    expect(split.map((e) => Object.keys(e.labels).length)).toEqual([50, 1]);
    expect(split.map((e) => e.results)).toEqual([50, 1]);
  });

  it("ignores results without a backend or latency and fallbacks from the server", () => {
    collector.recordRun(source, { labels: [] });
    collector.recordRun(source, { backend: "gpu", latency_ms: 1 });
    collector.recordFallback(source, "server", "anything");
    expect(collector.pending).toBe(0);
  });

  it("keeps hosts apart", async () => {
    collector.recordRun(source, result("positive", 5));
    collector.recordRun({ host: "https://other.example", model: "sentiment" }, result("positive", 5));
    await collector.flush();
    expect(sent.map((s) => s.url).sort()).toEqual([
      "https://host.example/api/v1/telemetry",
      "https://other.example/api/v1/telemetry",
    ]);
  });
});

describe("predictions, for feedback", () => {
  const source = { host: "https://host.example", model: "sentiment" };
  const result = (id: string, label: string | null) => ({
    model: "sentiment",
    version: 1,
    backend: "wasm",
    variant: "model.int8.onnx",
    latency_ms: 3,
    request_id: id,
    ...(label ? { labels: [{ label, score: 0.9 }], uncertain: false } : { embedding: [0.1] }),
  });

  it("send each result's id and top-1 label (never a score), at most 20 per event", async () => {
    const sent: Array<{ events: TelemetryEvent[] }> = [];
    const collector = new Collector((_url, body) => void sent.push(JSON.parse(body)), { flushAtRecords: 1000 });
    const ids = Array.from({ length: 21 }, (_, i) => `0000000${i}-aaaa-4bbb-8ccc-dddddddddddd`);
    ids.forEach((id, i) => collector.recordPrediction(source, result(id, i === 0 ? null : "positive")));
    await collector.flush();
    const events = sent.flatMap((b) => b.events).filter((e): e is PredictionsEvent => e.type === "predictions");
    expect(events.map((e) => e.predictions.length)).toEqual([20, 1]);
    expect(events[0]!.predictions[0]).toEqual({ request_id: ids[0], label: null });
    expect(events[1]).toEqual({
      type: "predictions", model: "sentiment", version: 1, variant: "model.int8.onnx",
      predictions: [{ request_id: ids[20], label: "positive" }],
    });
    expect(JSON.stringify(sent)).not.toContain("0.9");
    expect(schema.$defs.predictions.properties.predictions.maxItems).toBe(MAX_PREDICTIONS);
  });

  it("skip results without an id the schema allows", () => {
    expect(predictionsEvent("sentiment", result("short", "positive"))).toBeNull();
    expect(predictionsEvent("sentiment", { ...result("12345678-abcd", "positive"), version: "1" })).toBeNull();
    expect(new RegExp(schema.$defs.request_id.pattern).source).toBe(REQUEST_ID.source);
  });
});
