/**
 * One backbone download: which files a composed model loads (backbone + head, or the composed
 * variant and why), and the shared, counted sessions of the worker.
 */

import { describe, expect, it } from "vitest";

import { type BackboneWithUrls, planSplit, SharedPool } from "../../src/runtime/backbone.js";

const BACKBONE_SHA = "b".repeat(64);
const HEAD_SHA = "h".repeat(64);

function section(overrides: Partial<BackboneWithUrls["splits"][number]> = {}): BackboneWithUrls {
  return {
    model: "text-embedder",
    version: 2,
    output: "embedding",
    head: { file: "head.onnx", bytes: 3200, sha256: HEAD_SHA, input: "embedding", url: "/models/sentiment/4/head.onnx" },
    splits: [
      {
        variant: "model.int8.onnx",
        backbone_file: "model.int8.onnx",
        backbone_sha256: BACKBONE_SHA,
        backbone_bytes: 22_814_462,
        backends: ["wasm"],
        evaluations: { wasm: { runtime: "ort-web", metrics: {}, latency_ms: {} } },
        gates: { wasm: { passed: true, reasons: [] } },
        max_abs_diff_vs_composed: 0.01,
        backbone_url: "/models/text-embedder/2/model.int8.onnx",
        ...overrides,
      },
    ],
  };
}

describe("planSplit", () => {
  it("loads the backbone model's own file, by its sha256, and the head", () => {
    const plan = planSplit({ name: "sentiment", backbone: section() }, "model.int8.onnx", "wasm", "http://h");
    expect(plan.use?.backbone).toEqual({
      file: "text-embedder/model.int8.onnx",
      url: "http://h/models/text-embedder/2/model.int8.onnx",
      sha256: BACKBONE_SHA,
      bytes: 22_814_462,
    });
    expect(plan.use?.head.url).toBe("http://h/models/sentiment/4/head.onnx");
    expect(plan.use?.output).toBe("embedding");
    expect(plan.backbone).toEqual({ model: "text-embedder", version: 2, file: "model.int8.onnx", sha256: BACKBONE_SHA });
    expect(plan.reason).toContain("text-embedder v2 model.int8.onnx + head.onnx");
  });

  it("says nothing for a model without a backbone", () => {
    expect(planSplit({ name: "imagenet" }, "model.onnx", "wasm", "")).toEqual({ use: null, backbone: null, reason: null });
  });

  it("falls back to the composed variant, saying why, when the host does not serve the backbone", () => {
    const plan = planSplit(
      { name: "sentiment", backbone: section({ backbone_url: null, unavailable: "text-embedder v2 is not served by this host" }) },
      "model.int8.onnx",
      "wasm",
      "",
    );
    expect(plan.use).toBeNull();
    expect(plan.reason).toBe(
      "the composed model.int8.onnx (sentiment's backbone text-embedder v2 is not used: text-embedder v2 is not served by this host)",
    );
  });

  it("falls back when the split failed its gates, or does not suit the backend, or has no split for the variant", () => {
    const failed = section({ gates: { wasm: { passed: false, reasons: ["top1_agreement 0.9 is under the floor 0.97"] } } });
    expect(planSplit({ name: "sentiment", backbone: failed }, "model.int8.onnx", "wasm", "").reason).toContain(
      "did not pass its gates on wasm: top1_agreement 0.9",
    );
    expect(planSplit({ name: "sentiment", backbone: section() }, "model.int8.onnx", "webgpu", "").reason).toContain(
      "does not suit webgpu",
    );
    expect(planSplit({ name: "sentiment", backbone: section() }, "model.onnx", "wasm", "").reason).toContain(
      "no split is listed for model.onnx",
    );
  });
});

describe("SharedPool", () => {
  it("makes a shared value once and frees it when its last user releases it", async () => {
    const freed: string[] = [];
    let made = 0;
    const pool = new SharedPool<string>(async (v) => void freed.push(v));
    const make = async () => `session ${++made}`;
    const a = pool.acquire("sha", make);
    const b = pool.acquire("sha", make);
    expect([a.shared, b.shared]).toEqual([false, true]);
    expect(await a.value).toBe("session 1");
    expect(await b.value).toBe("session 1");
    expect(made).toBe(1);
    await pool.release("sha");
    expect(freed).toEqual([]); // the other user still runs it
    expect(pool.refs("sha")).toBe(1);
    await pool.release("sha");
    expect(freed).toEqual(["session 1"]);
    expect(pool.refs("sha")).toBe(0);
    expect(await pool.acquire("sha", make).value).toBe("session 2");
  });

  it("forgets a value whose creation failed, so the next user tries again", async () => {
    const pool = new SharedPool<string>(async () => undefined);
    const failed = pool.acquire("sha", async () => {
      throw new Error("download failed");
    });
    await expect(failed.value).rejects.toThrow("download failed");
    const again = pool.acquire("sha", async () => "ok");
    expect(again.shared).toBe(false);
    expect(await again.value).toBe("ok");
  });
});
