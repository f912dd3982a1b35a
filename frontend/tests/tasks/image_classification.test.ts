/**
 * Classification scoring against tests/data/golden/image_classification.json
 * (Python's contract.tasks.image_classification.classify on the same logits).
 */

import { describe, expect, it } from "vitest";

import { activate, classify, finish, prepare, topK } from "../../src/tasks/image_classification.js";
import type { ClassificationPostprocess, ImageClassificationResult } from "../../src/tasks/types.js";
import { readGolden } from "./golden.js";

interface ClassificationGolden {
  cases: Array<{
    name: string;
    postprocess: ClassificationPostprocess;
    logits: number[];
    expected: ImageClassificationResult;
  }>;
}

const GOLDEN = readGolden<ClassificationGolden>("image_classification.json");
const SCORE_TOLERANCE = 1e-4;

/** Same labels in the same order, scores within the tolerance, same uncertain flag. */
function expectSameClassification(got: ImageClassificationResult, want: ImageClassificationResult): void {
  expect(got.labels.map((l) => l.label)).toEqual(want.labels.map((l) => l.label));
  got.labels.forEach((label, i) => {
    expect(Math.abs(label.score - want.labels[i]!.score)).toBeLessThanOrEqual(SCORE_TOLERANCE);
  });
  expect(got.uncertain).toBe(want.uncertain);
}

describe("golden classification", () => {
  it("covers ties, sigmoid, none and an uncertain result", () => {
    const activations = new Set(GOLDEN.cases.map((c) => c.postprocess.activation ?? "softmax"));
    expect(activations).toEqual(new Set(["softmax", "sigmoid", "none"]));
    expect(GOLDEN.cases.some((c) => c.expected.uncertain)).toBe(true);
    expect(GOLDEN.cases.some((c) => c.name.includes("ties"))).toBe(true);
  });

  it.each(GOLDEN.cases.map((c) => [c.name, c] as const))("%s", (_name, golden) => {
    const logits = Float32Array.from(golden.logits); // the model's float32 output
    const got = classify(logits, golden.postprocess);
    expectSameClassification(got, golden.expected);
    // Rounding follows Python's round(x, 6), so the scores agree exactly, too.
    expect(got).toEqual(golden.expected);
  });
});

describe("scoring", () => {
  it("softmax sums to one and survives huge logits", () => {
    const scores = activate([1000, 999, -1000], "softmax");
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(Number.isFinite(scores[0])).toBe(true);
  });

  it("keeps the lower index first on ties", () => {
    expect(topK([0.2, 0.5, 0.5, 0.1], ["a", "b", "c", "d"], 3).map((l) => l.label)).toEqual(["b", "c", "a"]);
  });

  it("explains bad postprocess blocks", () => {
    expect(() => activate([1], "relu")).toThrow(/allowed: softmax, sigmoid, none/);
    expect(() => topK([1, 2, 3], ["a", "b"], 1)).toThrow(/2 labels for 3 scores/);
    expect(() => classify([1, 2], { labels: ["a", "b"], top_k: 0 })).toThrow(/top_k/);
  });

  it("finish reads the first output of a batch of one", () => {
    const manifest = {
      preprocess: { size: [2, 2] as [number, number] },
      postprocess: { labels: ["cat", "dog"], activation: "none" as const, top_k: 1, confidence_threshold: 0.7 },
    };
    const result = finish([{ data: new Float32Array([0.25, 0.75]), dims: [1, 2] }], null, manifest);
    expect(result).toEqual({ labels: [{ label: "dog", score: 0.75 }], uncertain: false });
  });

  it("prepare feeds the manifest's input name", () => {
    const manifest = {
      inputs: [{ name: "face", dtype: "float32" as const, shape: ["batch", 64, 64, 1] }],
      preprocess: { size: [64, 64] as [number, number], resize: "stretch" as const, colour: "L" as const },
      postprocess: { labels: [] },
    };
    const pixels = { data: new Uint8ClampedArray(10 * 10 * 4).fill(255), width: 10, height: 10 };
    const { feeds } = prepare(pixels, manifest);
    expect(Object.keys(feeds)).toEqual(["face"]);
    expect(feeds["face"]!.dims).toEqual([1, 64, 64, 1]);
  });
});
