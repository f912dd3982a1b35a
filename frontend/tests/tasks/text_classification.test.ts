/**
 * Text classification results against tests/data/golden/text_classification.json
 * (Python's contract.tasks.text_classification.finish on the same probabilities).
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { Lexicon } from "../../src/tasks/lexicon.js";
import { finish } from "../../src/tasks/text_classification.js";
import type {
  ClassificationPostprocess,
  TaskManifest,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "../../src/tasks/types.js";
import { readGolden, REPO_ROOT } from "./golden.js";

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

describe("the lexicon fallback (assets.lexicon), as contract/tasks/text_classification.py", () => {
  const lexiconFile = join(REPO_ROOT, ".venv/lib/python3.11/site-packages/vaderSentiment/vader_lexicon.txt");
  const post = { labels: ["negative", "positive"], top_k: 2, confidence_threshold: 0.6, activation: "none" } as const;
  const manifest = { postprocess: post, preprocess: {}, inputs: [], outputs: [] } as unknown as TaskManifest;
  const texts = ["I absolutely love this wonderful, great place!", "It is a table.", "Awful, terrible, hateful."];
  const unsure = [{ type: "float32", data: new Float32Array([0.55, 0.45, 0.48, 0.52, 0.1, 0.9]), dims: [3, 2] }];

  it("answers from the lexicon only when the model is unsure and the lexicon has an opinion", () => {
    const lexicon = Lexicon.parse(readFileSync(lexiconFile, "utf8"));
    const context = { single: false, attentionMask: null, texts };
    const got = (finish(unsure as never, context, manifest, { lexicon }) as TextClassificationBatchResult).results;
    expect(got[0]).toMatchObject({ fallback: "lexicon", uncertain: true });
    expect(got[0]!.labels[0]!.label).toBe("positive");
    expect(got[0]!.labels[0]!.score).toBeGreaterThan(0.9);
    expect(got[1]).toMatchObject({ fallback: null }); // unsure, but the lexicon is neutral
    expect(got[2]).toMatchObject({ fallback: null }); // confident: the model answers
    expect(got[2]!.labels[0]!.label).toBe("positive");
  });

  it("without a lexicon asset, the unsure answer stays", () => {
    const context = { single: false, attentionMask: null, texts };
    const got = (finish(unsure as never, context, manifest, {}) as TextClassificationBatchResult).results;
    expect(got.map((r) => r.fallback)).toEqual([null, null, null]);
  });
});
