/**
 * Planning a TF.js graph-model variant: a tfjs backend asked for runs the version's TF.js
 * variant (or the one asked for), or is an OptionError naming what exists; never a silent
 * swap for ONNX. ONNX planning never picks a TF.js variant.
 */

import { describe, expect, it } from "vitest";

import {
  BANDWIDTH_BYTES_PER_MS,
  COST_RUNS,
  isTfjsVariant,
  ORT_WASM_RUNTIME_BYTES,
  planBackends,
  TFJS_WASM_RUNTIME_BYTES,
} from "../../src/runtime/backends.js";
import type { Device } from "../../src/runtime/device.js";
import { OptionError } from "../../src/runtime/options.js";
import { planFallbacks, reasonKind } from "../../src/runtime/telemetry.js";
import type { Manifest, Variant } from "../../src/tasks/types.js";
import { variant } from "./fixtures.js";

/** A TF.js variant: `passed` on tfjs-wasm (and WebGL/WebGPU, judged by it) unless said otherwise. */
function tfjs(file: string, precision: Variant["precision"], passed: Partial<Record<"tfjs-wasm" | "tfjs-webgl" | "tfjs-webgpu", boolean>> = {}): Variant {
  const on = { "tfjs-wasm": true, "tfjs-webgl": true, "tfjs-webgpu": true, ...passed };
  const backends = ["tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"] as const;
  return {
    file,
    format: "tfjs-graph",
    precision,
    bytes: 120_000,
    sha256: "1".repeat(64),
    shards: [{ file: file.replace(/\.json$/, ".1of1.bin"), bytes: 110_000, sha256: "2".repeat(64) }],
    backends: [...backends],
    operators: ["_FusedConv2D"],
    evaluations: { "tfjs-wasm": { runtime: "tfjs", metrics: {}, latency_ms: {} } },
    gates: Object.fromEntries(backends.map((b) => [b, { passed: on[b], reasons: on[b] ? [] : ["too far from the source"] }])),
  } as Variant;
}

function manifest(variants: Variant[], recommended: Record<string, string | null> = {}): Manifest {
  return {
    name: "emotion",
    version: 4,
    task: "image-classification",
    variants: [variant("model.onnx", "fp32", 230_000), variant("model.fp16.onnx", "fp16", 120_000), ...variants],
    recommended: { webgpu: "model.fp16.onnx", wasm: "model.onnx", server: "model.onnx", ...recommended },
    client: { max_client_bytes: 20e6, server_only: false },
  } as Manifest;
}

const WITH_TFJS = manifest(
  [tfjs("model.tfjs.json", "fp32"), tfjs("model.tfjs-fp16.json", "fp16"), tfjs("model.tfjs-uint8.json", "uint8", { "tfjs-wasm": false, "tfjs-webgl": false, "tfjs-webgpu": false })],
  { "tfjs-wasm": "model.tfjs-fp16.json", "tfjs-webgl": "model.tfjs.json", "tfjs-webgpu": "model.tfjs.json" },
);
const ONNX_ONLY = manifest([]);

function device(overrides: Partial<Device> = {}, gpu: Partial<Device["webgpu"]> = {}): Device {
  return {
    webgpu: { available: false, fallbackAdapter: false, shaderF16: false, description: "no adapter", ...gpu },
    wasm: true,
    crossOriginIsolated: true,
    cores: 2,
    memoryGb: 8,
    ...overrides,
  };
}

function refusal(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(OptionError);
    return (err as Error).message;
  }
  throw new Error("no OptionError");
}

describe("planBackends with a tfjs backend", () => {
  it("runs the recommended TF.js variant on the backend asked for, 1 WASM thread, then the server", () => {
    const plan = planBackends(WITH_TFJS, device(), "tfjs-wasm");
    expect(plan.candidates.map((c) => [c.backend, c.variant, c.threads])).toEqual([
      ["tfjs-wasm", "model.tfjs-fp16.json", 1],
      ["server", null, 0],
    ]);
    expect(plan.candidates[0]?.reason).toContain("tfjs#8513");
    expect(planBackends(WITH_TFJS, device(), "tfjs-webgl").candidates[0]).toMatchObject({ backend: "tfjs-webgl", variant: "model.tfjs.json", threads: 0 });
  });

  it("takes a TF.js variant asked for, on the tfjs backend asked for or (auto) TF.js WASM", () => {
    const forced = planBackends(WITH_TFJS, device(), "tfjs-wasm", "model.tfjs.json");
    expect(forced.candidates[0]).toMatchObject({ backend: "tfjs-wasm", variant: "model.tfjs.json" });
    const auto = planBackends(WITH_TFJS, device(), "auto", "model.tfjs.json");
    expect(auto.candidates.map((c) => c.backend)).toEqual(["tfjs-wasm", "server"]);
    expect(auto.skipped).toEqual(["tfjs-webgpu: WebGPU unavailable: no adapter"]);
    // With a real adapter, auto tries TF.js WebGPU first; a software one is passed over.
    const gpu = planBackends(WITH_TFJS, device({}, { available: true, description: "test GPU" }), "auto", "model.tfjs.json");
    expect(gpu.candidates.map((c) => c.backend)).toEqual(["tfjs-webgpu", "tfjs-wasm", "server"]);
    const soft = planBackends(WITH_TFJS, device({}, { available: true, fallbackAdapter: true }), "auto", "model.tfjs.json");
    expect(soft.candidates.map((c) => c.backend)).toEqual(["tfjs-wasm", "server"]);
  });

  it("refuses a version without a TF.js variant, naming what it has, before anything loads", () => {
    const message = refusal(() => planBackends(ONNX_ONLY, device(), "tfjs-wasm"));
    expect(message).toBe(
      'emotion: no TF.js variant passed its gates on tfjs-wasm (version 4 has no TF.js variant (its variants are ' +
        '"model.onnx", "model.fp16.onnx")); ask instead for another backend: "auto", "wasm", "webgpu" or "server" (ONNX Runtime)',
    );
  });

  it("refuses a backend no TF.js variant passed on, naming each variant and where it passed", () => {
    const webglFailed = manifest([tfjs("model.tfjs.json", "fp32", { "tfjs-webgl": false })], { "tfjs-wasm": "model.tfjs.json", "tfjs-webgl": null });
    const message = refusal(() => planBackends(webglFailed, device(), "tfjs-webgl"));
    expect(message).toContain("no TF.js variant passed its gates on tfjs-webgl");
    expect(message).toContain("its TF.js variants: model.tfjs.json (passed on tfjs-wasm, tfjs-webgpu)");
  });

  it("refuses a TF.js variant that did not pass, or an ONNX variant, on a tfjs backend", () => {
    const failed = refusal(() => planBackends(WITH_TFJS, device(), "tfjs-wasm", "model.tfjs-uint8.json"));
    expect(failed).toContain("model.tfjs-uint8.json, does not suit TF.js WASM: it did not pass its gates there");
    expect(failed).toContain('ask instead for variant "model.tfjs.json", "model.tfjs-fp16.json", or no variant');
    const onnx = refusal(() => planBackends(WITH_TFJS, device(), "tfjs-wasm", "model.onnx"));
    expect(onnx).toContain("model.onnx, is not a TF.js graph model");
  });

  it("refuses a TF.js variant on an ONNX backend, saying where it passed", () => {
    const message = refusal(() => planBackends(WITH_TFJS, device(), "wasm", "model.tfjs.json"));
    expect(message).toContain("model.tfjs.json, is a TF.js graph model: ONNX Runtime on WASM cannot run it");
    expect(message).toContain('backend "tfjs-wasm", "tfjs-webgl", "tfjs-webgpu"');
  });

  it("allows threads 1 on tfjs-wasm only", () => {
    expect(planBackends(WITH_TFJS, device(), "tfjs-wasm", undefined, 1).candidates[0]?.threads).toBe(1);
    expect(refusal(() => planBackends(WITH_TFJS, device(), "tfjs-wasm", undefined, 2))).toContain("tfjs#8513");
    expect(refusal(() => planBackends(WITH_TFJS, device(), "auto", "model.tfjs.json", 2))).toContain("tfjs#8513");
    expect(planBackends(WITH_TFJS, device(), "auto", "model.tfjs.json", 1).candidates[0]).toMatchObject({ backend: "tfjs-wasm", threads: 1 });
    expect(refusal(() => planBackends(WITH_TFJS, device(), "tfjs-webgl", undefined, 1))).toContain('with backend "tfjs-webgl" there are none');
  });

  it("skips a device without the backend visibly, and refuses a variant asked for that nothing here can run", () => {
    const noWasm = planBackends(WITH_TFJS, device({ wasm: false }), "tfjs-wasm");
    expect(noWasm.candidates.map((c) => c.backend)).toEqual(["server"]);
    expect(noWasm.skipped).toEqual(["tfjs-wasm: WebAssembly unavailable"]);
    const message = refusal(() => planBackends(WITH_TFJS, device(), "tfjs-webgpu", "model.tfjs.json"));
    expect(message).toContain("cannot run in this browser (tfjs-webgpu: WebGPU unavailable: no adapter)");
  });

  it("leaves TF.js variants out of ONNX plans", () => {
    expect(WITH_TFJS.variants.filter(isTfjsVariant).length).toBe(3);
    const plan = planBackends(WITH_TFJS, device({}, { available: true, shaderF16: true }));
    expect(plan.candidates.map((c) => [c.backend, c.variant])).toEqual([
      ["webgpu", "model.fp16.onnx"],
      ["wasm", "model.onnx"],
      ["server", null],
    ]);
    // And a server asked for a TF.js file is refused: the host runs ONNX.
    expect(refusal(() => planBackends(WITH_TFJS, device(), "server", "model.tfjs.json"))).toContain("did not pass its gates on the server");
  });
});

describe("telemetry of a TF.js plan", () => {
  it("reports the tfjs backends passed over, with their reason kinds", () => {
    const noWasm = planBackends(WITH_TFJS, device({ wasm: false }), "tfjs-wasm");
    const passed = planFallbacks("tfjs-wasm", "server", noWasm.candidates.map((c) => c.backend), noWasm.skipped);
    expect(passed).toEqual([{ from: "tfjs-wasm", text: "tfjs-wasm: WebAssembly unavailable" }]);
    expect(reasonKind(passed[0]!.text)).toBe("wasm_unavailable");
    const auto = planBackends(WITH_TFJS, device(), "auto", "model.tfjs.json");
    const used = planFallbacks("auto", "tfjs-wasm", auto.candidates.map((c) => c.backend), auto.skipped);
    expect(used).toEqual([{ from: "tfjs-webgpu", text: "tfjs-webgpu: WebGPU unavailable: no adapter" }]);
    expect(reasonKind(used[0]!.text)).toBe("webgpu_unavailable");
    expect(reasonKind("tfjs-wasm failed to load model.tfjs.json: IntegrityError: ...")).toBe("load_failed");
    expect(reasonKind("tfjs-webgl failed while running (Error: lost context); the server answers")).toBe("run_failed");
    // The first choice ran: nothing passed over.
    expect(planFallbacks("tfjs-wasm", "tfjs-wasm", ["tfjs-wasm", "server"], [])).toEqual([]);
  });
});

/**
 * "auto" prices both engines (`preferCheaperEngine`): emotion's numbers of version 5 (model.onnx,
 * 229,401 bytes, 2.41 ms on ORT Web's WASM in Node; model.tfjs-uint8.json, 94,583 bytes, 1.562 ms
 * on TF.js's WASM in Node).
 */
describe("auto: the cheaper engine first", () => {
  function priced(ortMs = 2.41, tfjsMs = 1.562, over: Partial<Manifest["client"]> = {}): Manifest {
    const onnx = variant("model.onnx", "fp32", 229_401);
    onnx.evaluations = { ...onnx.evaluations, wasm: { runtime: "ort", metrics: {}, latency_ms: { threads_1: ortMs } } };
    const uint8 = tfjs("model.tfjs-uint8.json", "uint8");
    uint8.bytes = 94_583;
    uint8.evaluations = { "tfjs-wasm": { runtime: "tfjs", metrics: {}, latency_ms: { threads_1: tfjsMs } } };
    const m = manifest([tfjs("model.tfjs.json", "fp32"), uint8], { "tfjs-wasm": "model.tfjs-uint8.json" });
    m.variants[0] = onnx;
    m.client = { ...m.client, ...over };
    return m;
  }
  const cost = (bytes: number, ms: number) => Math.round(bytes / BANDWIDTH_BYTES_PER_MS + COST_RUNS * ms).toLocaleString("en-US");
  const order = (plan: { candidates: Array<{ backend: string; variant: string | null }> }) =>
    plan.candidates.map((c) => [c.backend, c.variant]);

  it("puts TF.js WASM first on a first visit, ORT and the server after it, and says why with both costs", () => {
    const plan = planBackends(priced(), device(), "auto");
    expect(order(plan)).toEqual([["tfjs-wasm", "model.tfjs-uint8.json"], ["wasm", "model.onnx"], ["server", null]]);
    expect(plan.candidates[0]!.threads).toBe(1);
    const tfjsMs = cost(TFJS_WASM_RUNTIME_BYTES + 94_583, 1.562);
    const ortMs = cost(ORT_WASM_RUNTIME_BYTES + 229_401, 2.41);
    expect(tfjsMs).toBe("405");
    expect(ortMs).toBe("2,326");
    expect(plan.candidates[0]!.reason).toBe(
      "TensorFlow.js WASM with 1 thread: cheaper here (first visit, 10 Mbit/s): " +
        `TensorFlow.js WASM (model.tfjs-uint8.json) 0.31 MB + 100 runs × 1.562 ms ≈ ${tfjsMs} ms vs ` +
        `ONNX Runtime Web (model.onnx) 2.61 MB + 100 runs × 2.41 ms ≈ ${ortMs} ms`,
    );
    expect(plan.skipped).toEqual(["WebGPU unavailable: no adapter"]);
    // Its telemetry: WebGPU passed over (the ONNX plan's), nothing else; TF.js failing, ORT took over.
    const backends = plan.candidates.map((c) => c.backend);
    expect(planFallbacks("auto", "tfjs-wasm", backends, plan.skipped)).toEqual([{ from: "webgpu", text: "WebGPU unavailable: no adapter" }]);
    expect(planFallbacks("auto", "wasm", backends, plan.skipped)).toEqual([{ from: "webgpu", text: "WebGPU unavailable: no adapter" }]);
  });

  it("follows the cost when an engine is already here", () => {
    // ORT warm: its 2.4 MB runtime is free; with emotion's numbers TF.js costs 405 vs 424 ms, a 4%
    // saving, under the 20% it takes to switch engines (Node's latencies are that uncertain): ORT.
    const ortWarm = planBackends(priced(), device(), "auto", undefined, undefined, { ort: true, tfjs: false });
    expect(order(ortWarm)).toEqual([["wasm", "model.onnx"], ["server", null]]);
    expect(ortWarm.candidates[0]!.reason).toContain(
      "; TF.js would save only 4%, under the 20% it takes to switch engines (ONNX Runtime Web already here, 10 Mbit/s): ",
    );
    expect(ortWarm.candidates[0]!.reason).toContain(`≈ ${cost(229_401, 2.41)} ms`);
    // A saving of 20% or more switches: ORT warm but slower per run (3.5 ms: 424 -> 534 ms; TF.js 405).
    expect(planBackends(priced(3.5), device(), "auto", undefined, undefined, { ort: true, tfjs: false }).candidates[0]!.backend)
      .toBe("tfjs-wasm");
    // ORT warm and faster per run (1 ms): ORT first, and its reason says TF.js was priced too.
    const cheaper = planBackends(priced(1), device(), "auto", undefined, undefined, { ort: true, tfjs: false });
    expect(order(cheaper)).toEqual([["wasm", "model.onnx"], ["server", null]]);
    expect(cheaper.candidates[0]!.reason).toBe(
      "WASM with 1 thread (model.onnx is 0.2 MB: a small model, which more threads do not speed up); " +
        "cheaper here than TF.js (ONNX Runtime Web already here, 10 Mbit/s): " +
        `ONNX Runtime Web (model.onnx) 0.23 MB + 100 runs × 1 ms ≈ ${cost(229_401, 1)} ms vs ` +
        `TensorFlow.js WASM (model.tfjs-uint8.json) 0.31 MB + 100 runs × 1.562 ms ≈ ${cost(TFJS_WASM_RUNTIME_BYTES + 94_583, 1.562)} ms`,
    );
    // The same numbers cold: ORT's download outweighs its faster runs.
    expect(planBackends(priced(1), device(), "auto").candidates[0]!.backend).toBe("tfjs-wasm");
    // Both here: only the variants and the runs count (0.09 MB + 156 ms = 232 against 0.23 MB + 241 ms = 424).
    const both = planBackends(priced(), device(), "auto", undefined, undefined, { ort: true, tfjs: true });
    expect(both.candidates[0]!.backend).toBe("tfjs-wasm");
    expect(both.candidates[0]!.reason).toContain("(both runtimes already here, 10 Mbit/s)");
    // ... and with ORT at 1 ms (284 ms), TF.js (232 ms) saves 18%: not enough to switch.
    expect(planBackends(priced(1), device(), "auto", undefined, undefined, { ort: true, tfjs: true }).candidates[0]!.backend)
      .toBe("wasm");
    expect(planBackends(priced(0.3), device(), "auto", undefined, undefined, { ort: true, tfjs: true }).candidates[0]!.backend).toBe("wasm");
  });

  it("never applies when a backend, a variant or threads are asked for", () => {
    const m = priced();
    expect(order(planBackends(m, device(), "wasm"))).toEqual([["wasm", "model.onnx"], ["server", null]]);
    expect(order(planBackends(m, device(), "auto", "model.onnx"))).toEqual([["wasm", "model.onnx"], ["server", null]]);
    expect(planBackends(m, device(), "auto", undefined, 1).candidates[0]!.backend).toBe("wasm");
    expect(planBackends(m, device(), "webgpu").candidates.map((c) => c.backend)).toEqual(["wasm", "server"]);
    expect(planBackends(m, device(), "server").candidates.map((c) => c.backend)).toEqual(["server"]);
  });

  it("never puts TF.js before WebGPU, nor plans it for a server-only model or without WebAssembly", () => {
    const gpu = planBackends(priced(), device({}, { available: true, shaderF16: true, description: "test GPU" }), "auto");
    expect(gpu.candidates.map((c) => c.backend)).toEqual(["webgpu", "wasm", "server"]);
    expect(gpu.candidates[0]!.reason).toBe("WebGPU on test GPU");
    const serverOnly = planBackends(priced(2.41, 1.562, { server_only: true }), device(), "auto");
    expect(serverOnly.candidates.map((c) => c.backend)).toEqual(["server"]);
    expect(planBackends(priced(), device({ wasm: false }), "auto").candidates.map((c) => c.backend)).toEqual(["server"]);
  });

  it("never plans a TF.js variant that did not pass, is over the budget, or was not measured", () => {
    const failed = priced();
    const uint8 = failed.variants.find((v) => v.file === "model.tfjs-uint8.json")!;
    uint8.gates = { ...uint8.gates, "tfjs-wasm": { passed: false, reasons: ["too far from the source"] } } as Variant["gates"];
    expect(planBackends(failed, device(), "auto").candidates[0]!.backend).toBe("wasm");
    const none = priced();
    (none.recommended as unknown as Record<string, string | null>)["tfjs-wasm"] = null;
    expect(planBackends(none, device(), "auto").candidates[0]!.backend).toBe("wasm");
    expect(planBackends(ONNX_ONLY, device(), "auto").candidates[0]!.backend).toBe("wasm");
    const tight = priced(2.41, 1.562, { max_client_bytes: 94_000 });
    tight.variants[0]!.bytes = 90_000; // the ONNX variant fits, the TF.js one does not
    expect(planBackends(tight, device(), "auto").candidates[0]!.backend).toBe("wasm");
    const unmeasured = priced();
    unmeasured.variants.find((v) => v.file === "model.tfjs-uint8.json")!.evaluations = {
      "tfjs-wasm": { runtime: "tfjs", metrics: {}, latency_ms: {} },
    } as Variant["evaluations"];
    expect(planBackends(unmeasured, device(), "auto").candidates[0]!.backend).toBe("wasm");
  });
});
