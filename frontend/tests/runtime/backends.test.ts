/**
 * Backend planning: WebGPU only on a real adapter (or when forced), fp16 only
 * with shader-f16, WASM threads only when cross-origin isolated, the client
 * budget and device memory respected, the server always last.
 */

import { describe, expect, it } from "vitest";

import { planBackends } from "../../src/runtime/backends.js";
import type { Device } from "../../src/runtime/device.js";
import type { Manifest } from "../../src/tasks/types.js";
import { variant } from "./fixtures.js";


function manifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    name: "imagenet",
    version: 1,
    task: "image-classification",
    variants: [variant("model.onnx", "fp32", 25e6), variant("model.int8.onnx", "int8", 5e6), variant("model.fp16.onnx", "fp16", 9e6)],
    recommended: { webgpu: "model.fp16.onnx", wasm: "model.int8.onnx", server: "model.int8.onnx" },
    client: { max_client_bytes: 20e6, server_only: false },
    ...overrides,
  } as Manifest;
}

function device(overrides: Partial<Device> = {}, gpu: Partial<Device["webgpu"]> = {}): Device {
  return {
    webgpu: { available: true, fallbackAdapter: false, shaderF16: true, description: "test GPU", ...gpu },
    wasm: true,
    crossOriginIsolated: true,
    cores: 8,
    memoryGb: 8,
    ...overrides,
  };
}

const backends = (plan: ReturnType<typeof planBackends>) => plan.candidates.map((c) => c.backend);

describe("planBackends", () => {
  it("prefers a real WebGPU adapter with its fp16 variant, then WASM, then the server", () => {
    const plan = planBackends(manifest(), device());
    expect(backends(plan)).toEqual(["webgpu", "wasm", "server"]);
    expect(plan.candidates[0]?.variant).toBe("model.fp16.onnx");
    expect(plan.candidates[1]).toMatchObject({ variant: "model.int8.onnx", threads: 4 });
    expect(plan.skipped).toEqual([]);
  });

  it("never picks a fallback adapter on auto, but does when WebGPU is forced", () => {
    const swiftshader = device({}, { fallbackAdapter: true, shaderF16: false, description: "google swiftshader" });
    const auto = planBackends(manifest(), swiftshader);
    expect(backends(auto)).toEqual(["wasm", "server"]);
    expect(auto.skipped[0]).toContain("software fallback");
    const roomy = manifest({ client: { max_client_bytes: 50e6, server_only: false } });
    const forced = planBackends(roomy, swiftshader, "webgpu", "model.onnx");
    expect(forced.candidates[0]).toMatchObject({ backend: "webgpu", variant: "model.onnx" });
  });

  it("skips fp16 on an adapter without shader-f16 and says so", () => {
    const plan = planBackends(manifest(), device({}, { shaderF16: false }));
    expect(backends(plan)).toEqual(["wasm", "server"]);
    expect(plan.skipped[0]).toContain("shader-f16");
  });

  it("uses one thread without cross-origin isolation, and at most 4", () => {
    expect(planBackends(manifest(), device({ crossOriginIsolated: false })).candidates[1]?.threads).toBe(1);
    expect(planBackends(manifest(), device({ cores: 2 })).candidates[1]?.threads).toBe(2);
    expect(planBackends(manifest(), device({ cores: 64 })).candidates[1]?.threads).toBe(4);
  });

  it("sends variants over the client budget or the device memory to the server", () => {
    const big = planBackends(manifest(), device({ webgpu: { available: false, fallbackAdapter: false, shaderF16: false, description: "none" } }), "wasm", "model.onnx");
    expect(backends(big)).toEqual(["server"]);
    expect(big.skipped[0]).toContain("over the 20.0 MB client budget");
    const small = planBackends(manifest(), device({ memoryGb: 0.025 }), "wasm");
    expect(backends(small)).toEqual(["server"]);
    expect(small.skipped[0]).toContain("0.025 GB");
  });

  it("never offers a variant that failed its gates", () => {
    const m = manifest({
      variants: [variant("model.onnx", "fp32", 1e6), variant("model.int8.onnx", "int8", 5e5, false)],
      recommended: { webgpu: "model.onnx", wasm: "model.int8.onnx", server: "model.onnx" },
    });
    const plan = planBackends(m, device(), "wasm");
    expect(backends(plan)).toEqual(["server"]);
    expect(plan.skipped[0]).toContain("no variant that passed its gates");
  });

  it("judges each backend by its own verdict: a variant faithful on the server only is not run in WASM", () => {
    const int8 = variant("model.int8.onnx", "int8", 5e5);
    int8.gates = { wasm: { passed: false, reasons: ["top1_agreement 0.8 is under the floor 0.9"] }, server: { passed: true, reasons: [] } };
    const m = manifest({
      variants: [variant("model.onnx", "fp32", 1e6), int8],
      recommended: { webgpu: "model.onnx", wasm: "model.int8.onnx", server: "model.int8.onnx" },
    });
    expect(backends(planBackends(m, device(), "wasm"))).toEqual(["server"]);
    expect(planBackends(m, device(), "auto").candidates[0]).toMatchObject({ backend: "webgpu", variant: "model.onnx" });
  });

  it("answers server-only models and an explicit server choice from the server alone", () => {
    expect(backends(planBackends(manifest({ client: { max_client_bytes: 1e9, server_only: true } }), device()))).toEqual(["server"]);
    expect(backends(planBackends(manifest(), device(), "server"))).toEqual(["server"]);
  });

  it("falls to the server when neither WebGPU nor WebAssembly exists", () => {
    const bare = device({ wasm: false, webgpu: { available: false, fallbackAdapter: false, shaderF16: false, description: "no WebGPU" } });
    const plan = planBackends(manifest(), bare);
    expect(backends(plan)).toEqual(["server"]);
    expect(plan.skipped).toHaveLength(2);
  });
});
