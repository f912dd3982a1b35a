/**
 * Backend planning: WebGPU only on a real adapter (or when forced), fp16 only
 * with shader-f16, WASM threads only when cross-origin isolated, the client
 * budget and device memory respected, the server always last.
 */

import { describe, expect, it } from "vitest";

import { HEAVY_VARIANT_BYTES, planBackends, wasmThreads } from "../../src/runtime/backends.js";
import type { Device } from "../../src/runtime/device.js";
import { OptionError } from "../../src/runtime/options.js";
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

  it("gives a heavy variant (2 MB or more) half the cores but at least 2 when isolated, at most 4", () => {
    const threads = (d: Partial<Device>) => planBackends(manifest(), device(d)).candidates[1]?.threads; // int8, 5 MB
    expect(threads({ crossOriginIsolated: false })).toBe(1);
    expect(threads({ crossOriginIsolated: false, cores: 16 })).toBe(1);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 64].map((cores) => threads({ cores }))).toEqual([1, 2, 2, 2, 3, 3, 4, 4, 4]);
    expect(wasmThreads(device({ cores: 0 }), 5e6)).toBe(1); // hardwareConcurrency unknown: probeDevice reads 1
    expect(planBackends(manifest(), device({ cores: 2 })).candidates[1]?.reason).toBe(
      "WASM with 2 threads (cross-origin isolated; model.int8.onnx is 5.0 MB, big enough to share out)",
    );
    expect(planBackends(manifest(), device({ cores: 1 })).candidates[1]?.reason).toBe("WASM with 1 thread (1 core)");
  });

  it("gives a light variant (under 2 MB) one thread on every device, and says why", () => {
    const light = manifest({
      name: "face-detector",
      variants: [variant("model.onnx", "fp32", 412821)],
      recommended: { webgpu: "model.onnx", wasm: "model.onnx", server: "model.onnx" },
    });
    const threads = (cores: number) => planBackends(light, device({ cores })).candidates[1]?.threads;
    expect([1, 2, 4, 8, 64].map(threads)).toEqual([1, 1, 1, 1, 1]);
    expect(wasmThreads(device({ cores: 2 }), HEAVY_VARIANT_BYTES - 1)).toBe(1);
    expect(wasmThreads(device({ cores: 2 }), HEAVY_VARIANT_BYTES)).toBe(2);
    expect(planBackends(light, device({ cores: 2 })).candidates[1]?.reason).toBe(
      "WASM with 1 thread (model.onnx is 0.4 MB: a small model, which more threads do not speed up)",
    );
  });

  it("runs the threads asked for on WASM, and refuses what the page cannot give, listing what it can", () => {
    const wasm = (d: Partial<Device>, threads: number, choice: "auto" | "wasm" = "wasm") =>
      planBackends(manifest(), device(d, { available: false }), choice, undefined, threads).candidates[0];
    expect(wasm({ cores: 2 }, 1)).toMatchObject({ backend: "wasm", threads: 1, reason: "WASM with 1 thread (asked for)" });
    expect(wasm({ cores: 2 }, 4, "auto")).toMatchObject({ backend: "wasm", threads: 4, reason: "WASM with 4 threads (asked for)" });
    expect(wasm({ crossOriginIsolated: false }, 1)).toMatchObject({ threads: 1 });
    expect(() => wasm({ crossOriginIsolated: false }, 2)).toThrow(
      "imagenet: 2 WASM threads need a cross-origin isolated page (COOP/COEP headers, for SharedArrayBuffer) and " +
        "this one is not; ask instead for threads 1, or no threads (the runtime chooses)",
    );
    for (const choice of ["server", "webgpu"] as const) {
      expect(() => planBackends(manifest(), device(), choice, undefined, 2)).toThrow(OptionError);
      expect(() => planBackends(manifest(), device(), choice, undefined, 2)).toThrow(
        `imagenet: threads is the number of WASM threads; with backend "${choice}" there are none: ` +
          'ask instead for backend "wasm" or "auto" with threads, or no threads',
      );
    }
    const serverOnly = manifest({ client: { max_client_bytes: 20e6, server_only: true } });
    expect(() => planBackends(serverOnly, device(), "auto", undefined, 1)).toThrow(/is server-only/);
  });

  it("sends the recommended variant to the server when the device has too little memory, and says why", () => {
    const small = planBackends(manifest(), device({ memoryGb: 0.025 }), "wasm");
    expect(backends(small)).toEqual(["server"]);
    expect(small.skipped[0]).toContain("0.025 GB");
  });

  it("refuses a variant asked for over the client budget, naming the ones within it and the server", () => {
    for (const choice of ["auto", "webgpu", "wasm"] as const) {
      expect(() => planBackends(manifest(), device(), choice, "model.onnx")).toThrow(OptionError);
    }
    expect(() => planBackends(manifest(), device(), "wasm", "model.onnx")).toThrow(
      'imagenet: model.onnx is 25.0 MB, over the 20.0 MB client budget; ask instead for variant "model.int8.onnx", ' +
        '"model.fp16.onnx" (backend "wasm"), or backend "server" (runs model.onnx on the host), or no variant',
    );
    // The device never matters: the same call fails the same way without WebGPU or memory.
    const bare = device({ memoryGb: 0.025 }, { available: false });
    expect(() => planBackends(manifest(), bare, "auto", "model.onnx")).toThrow(
      /^imagenet: model.onnx is 25.0 MB, over the 20.0 MB client budget; ask instead for /,
    );
  });

  it("refuses a variant asked for that the device cannot hold, rather than running another on the server", () => {
    // fp16 (9 MB) needs about 0.07 GB; int8 (5 MB) about 0.04 GB, which this device has.
    const small = device({ memoryGb: 0.05 }, { available: false, description: "none" });
    expect(() => planBackends(manifest(), small, "auto", "model.fp16.onnx")).toThrow(
      'imagenet: the variant asked for, model.fp16.onnx, cannot run in this browser (WebGPU unavailable: none; ' +
        "the device reports 0.05 GB of memory; model.fp16.onnx needs about 0.07 GB); " +
        'ask instead for variant "model.int8.onnx", or backend "server" (runs model.fp16.onnx on the host), or no variant',
    );
    const noWasm = device({ wasm: false }, { available: false });
    expect(() => planBackends(manifest(), noWasm, "wasm", "model.int8.onnx")).toThrow("WebAssembly unavailable");
  });

  it("never offers a variant that failed its gates", () => {
    const m = manifest({
      variants: [variant("model.onnx", "fp32", 1e6), variant("model.int8.onnx", "int8", 5e5, false)],
      recommended: { webgpu: "model.onnx", wasm: "model.int8.onnx", server: "model.onnx" },
    });
    const plan = planBackends(m, device({}, { available: false }));
    expect(backends(plan)).toEqual(["server"]);
    expect(plan.skipped[1]).toContain("no variant that passed its gates on WASM");
    // Asked for by name, WASM is refused: the manifest rules it out on every device.
    expect(() => planBackends(m, device(), "wasm")).toThrow(/no variant that passed its gates on WASM; ask instead/);
    expect(() => planBackends(m, device(), "auto", "model.int8.onnx")).toThrow(
      /the variant asked for, model.int8.onnx, does not suit WASM: it did not pass its gates there/,
    );
  });

  it("judges each backend by its own verdict: a variant faithful on the server only is not run in WASM", () => {
    const int8 = variant("model.int8.onnx", "int8", 5e5);
    int8.gates = { wasm: { passed: false, reasons: ["top1_agreement 0.8 is under the floor 0.9"] }, server: { passed: true, reasons: [] } };
    const m = manifest({
      variants: [variant("model.onnx", "fp32", 1e6), int8],
      recommended: { webgpu: "model.onnx", wasm: "model.int8.onnx", server: "model.int8.onnx" },
    });
    expect(() => planBackends(m, device(), "wasm", "model.int8.onnx")).toThrow(
      'imagenet: the variant asked for, model.int8.onnx, does not suit WASM: it did not pass its gates there; ' +
        'ask instead for variant "model.onnx" (backend "wasm"), or backend "server" (runs model.int8.onnx on the host), or no variant',
    );
    expect(planBackends(m, device(), "auto").candidates[0]).toMatchObject({ backend: "webgpu", variant: "model.onnx" });
    // The server runs the variant asked for there, and refuses one that failed there.
    expect(planBackends(m, device(), "server", "model.int8.onnx").candidates).toEqual([
      expect.objectContaining({ backend: "server", variant: "model.int8.onnx" }),
    ]);
    const failedEverywhere = variant("model.int8.onnx", "int8", 5e5, false);
    const bad = manifest({ variants: [variant("model.onnx", "fp32", 1e6), failedEverywhere] });
    expect(() => planBackends(bad, device(), "server", "model.int8.onnx")).toThrow(
      'imagenet: the variant asked for, model.int8.onnx, did not pass its gates on the server; ask instead for variant "model.onnx", or no variant (the host chooses)',
    );
  });

  it("refuses a variant rejected on the backend asked for, even where another backend could run it", () => {
    // int8 suits WASM only: forced WebGPU says so and points at WASM or the WebGPU variants.
    expect(() => planBackends(manifest(), device(), "webgpu", "model.int8.onnx")).toThrow(
      'imagenet: the variant asked for, model.int8.onnx, does not suit WebGPU: it did not pass its gates there; ' +
        'ask instead for variant "model.fp16.onnx" (backend "webgpu"), or backend "wasm" (where model.int8.onnx passed), ' +
        'or backend "server" (runs model.int8.onnx on the host), or no variant',
    );
    // On "auto" WebGPU is passed over visibly and WASM runs the variant asked for.
    const auto = planBackends(manifest(), device(), "auto", "model.int8.onnx");
    expect(auto.candidates[0]).toMatchObject({ backend: "wasm", variant: "model.int8.onnx" });
    expect(auto.skipped[0]).toContain("model.int8.onnx, does not suit WebGPU");
  });

  it("moves a forced backend on only for what the device lacks, with the variant asked for, and says why", () => {
    const plan = planBackends(manifest(), device({}, { shaderF16: false }), "webgpu", "model.fp16.onnx");
    expect(plan.candidates[0]).toMatchObject({ backend: "wasm", variant: "model.fp16.onnx" });
    expect(plan.skipped).toEqual(["model.fp16.onnx needs fp16 shaders (shader-f16), which this adapter lacks"]);
    const noWasm = planBackends(manifest(), device({ wasm: false }, { available: false }), "wasm");
    expect(backends(noWasm)).toEqual(["server"]);
    expect(noWasm.skipped).toEqual(["WebAssembly unavailable"]);
  });

  it("refuses an unknown variant, listing the manifest's", () => {
    for (const choice of ["auto", "webgpu", "wasm", "server"] as const) {
      expect(() => planBackends(manifest(), device(), choice, "model.q4.onnx")).toThrow(
        'imagenet: unknown variant "model.q4.onnx"; its variants are "model.onnx", "model.int8.onnx", "model.fp16.onnx"',
      );
    }
  });

  it("answers server-only models and an explicit server choice from the server alone", () => {
    expect(backends(planBackends(manifest({ client: { max_client_bytes: 1e9, server_only: true } }), device()))).toEqual(["server"]);
    expect(backends(planBackends(manifest(), device(), "server"))).toEqual(["server"]);
    const serverOnly = manifest({ client: { max_client_bytes: 1e9, server_only: true } });
    expect(() => planBackends(serverOnly, device(), "wasm")).toThrow('imagenet is server-only: no variant of it is served to browsers; ask instead for backend "server"');
    expect(() => planBackends(serverOnly, device(), "auto", "model.int8.onnx")).toThrow(OptionError);
  });

  it("falls to the server when neither WebGPU nor WebAssembly exists", () => {
    const bare = device({ wasm: false, webgpu: { available: false, fallbackAdapter: false, shaderF16: false, description: "no WebGPU" } });
    const plan = planBackends(manifest(), bare);
    expect(backends(plan)).toEqual(["server"]);
    expect(plan.skipped).toHaveLength(2);
  });
});
