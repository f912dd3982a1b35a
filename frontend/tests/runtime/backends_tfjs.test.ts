/**
 * Planning a TF.js graph-model variant: a tfjs backend asked for runs the version's TF.js
 * variant (or the one asked for), or is an OptionError naming what exists; never a silent
 * swap for ONNX. ONNX planning never picks a TF.js variant.
 */

import { describe, expect, it } from "vitest";

import { isTfjsVariant, planBackends } from "../../src/runtime/backends.js";
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
