/**
 * Text classification results against tests/data/golden/text_classification.json
 * (Python's contract.tasks.text_classification.finish on the same probabilities).
 */

import { describe, expect, it } from "vitest";

import { finish } from "../../src/tasks/text_classification.js";
import type {
  ClassificationPostprocess,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "../../src/tasks/types.js";
import { readGolden } from "./golden.js";

interface TextClassificationGolden {
  cases: Array<{
    name: string;
    postprocess: ClassificationPostprocess;
    probabilities: number[][];
    single: boolean;
    expected: TextClassificationResult | TextClassificationBatchResult;
  }>;
}

const GOLDEN = readGolden<TextClassificationGolden>("text_classification.json");
const SCORE_TOLERANCE = 1e-4;

function expectSameResult(got: TextClassificationResult, want: TextClassificationResult): void {
  expect(got.labels.map((l) => l.label)).toEqual(want.labels.map((l) => l.label));
  got.labels.forEach((label, i) => {
    expect(Math.abs(label.score - want.labels[i]!.score)).toBeLessThanOrEqual(SCORE_TOLERANCE);
  });
  expect(got.uncertain).toBe(want.uncertain);
  expect(got.fallback).toBeNull();
  expect(Object.keys(got).sort()).toEqual(["fallback", "labels", "uncertain"]);
}

describe("golden text classification", () => {
  it.each(GOLDEN.cases.map((c) => [c.name, c] as const))("%s", (_name, golden) => {
    const rows = golden.probabilities;
    const outputs = [{ data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0]!.length] }];
    const got = finish(outputs, { single: golden.single, attentionMask: null }, { preprocess: {}, postprocess: golden.postprocess });
    if (golden.single) {
      expect("results" in got).toBe(false);
      expectSameResult(got as TextClassificationResult, golden.expected as TextClassificationResult);
    } else {
      const want = (golden.expected as TextClassificationBatchResult).results;
      expect(Object.keys(got)).toEqual(["results"]);
      const results = (got as TextClassificationBatchResult).results;
      expect(results).toHaveLength(want.length);
      results.forEach((result, i) => expectSameResult(result, want[i]!));
    }
    expect(got).toEqual(golden.expected); // Python's rounding: exactly equal
  });

  it("covers a single text, a list and an uncertain result", () => {
    expect(new Set(GOLDEN.cases.map((c) => c.single))).toEqual(new Set([true, false]));
    expect(JSON.stringify(GOLDEN.cases.map((c) => c.expected))).toContain('"uncertain":true');
  });
});
