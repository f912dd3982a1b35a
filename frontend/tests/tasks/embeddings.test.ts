/** Embedding pooling math and result shapes (tests/contract/test_text_tasks.py, mirrored). */

import { describe, expect, it } from "vitest";

import { cosineSimilarity, finish, l2Normalize, meanPool } from "../../src/tasks/embeddings.js";

/** A deterministic pseudo-random float32 array (no dependence on Math.random). */
function noise(length: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 30 - 1;
  });
}

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

describe("pooling and similarity", () => {
  it("mean-pools over real tokens only", () => {
    const hidden = { data: new Float32Array([1, 2, 3, 4, 100, 100]), dims: [1, 3, 2] };
    const mask = { type: "int64" as const, data: new BigInt64Array([1n, 1n, 0n]), dims: [1, 3] };
    expect([...meanPool(hidden, mask).data]).toEqual([2, 3]);
    const all = meanPool(hidden, null).data;
    expect(all[0]).toBeCloseTo(104 / 3, 5);
    expect(all[1]).toBeCloseTo(106 / 3, 5);
  });

  it("normalises rows and keeps zero rows zero", () => {
    const v = l2Normalize({ data: new Float32Array([3, 4, 0, 0]), dims: [2, 2] });
    expect([...v.data].map((x) => Math.round(x * 1e6) / 1e6)).toEqual([0.6, 0.8, 0, 0]);
  });

  it("computes cosine similarity of vectors and of batches", () => {
    expect(cosineSimilarity([1, 0], [2, 0])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 0], [0, 3])).toBeCloseTo(0, 12);
    const eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    expect(cosineSimilarity(eye, eye.slice(0, 2))).toEqual([[1, 0], [0, 1], [0, 0]]);
  });
});

describe("finish", () => {
  it("gives one embedding for a string and a list for a list", () => {
    const out = noise(2 * 384, 1);
    const many = finish([{ data: out, dims: [2, 384] }], { single: false, attentionMask: null }, {});
    if (!("embeddings" in many)) throw new Error("expected embeddings");
    expect(many.embeddings).toHaveLength(2);
    expect(many.embeddings[0]).toHaveLength(384);
    many.embeddings.forEach((row) => expect(norm(row)).toBeCloseTo(1, 6));
    const one = finish([{ data: out.subarray(0, 384), dims: [1, 384] }], { single: true, attentionMask: null }, {});
    expect(Object.keys(one)).toEqual(["embedding"]);
    if (!("embedding" in one)) throw new Error("expected embedding");
    one.embedding.forEach((v, i) => expect(v).toBeCloseTo(many.embeddings[0]![i]!, 6));
  });

  it("pools token states with the attention mask", () => {
    const hidden = noise(4 * 8, 2);
    const mask = { type: "int64" as const, data: new BigInt64Array([1n, 1n, 1n, 0n]), dims: [1, 4] };
    const got = finish([{ data: hidden, dims: [1, 4, 8] }], { single: true, attentionMask: mask }, {});
    if (!("embedding" in got)) throw new Error("expected embedding");
    const mean = Array.from({ length: 8 }, (_, h) => (hidden[h]! + hidden[8 + h]! + hidden[16 + h]!) / 3);
    const unit = mean.map((v) => v / norm(mean));
    got.embedding.forEach((v, i) => expect(v).toBeCloseTo(unit[i]!, 6));
  });

  it("leaves vectors alone when postprocess.normalize is false", () => {
    const got = finish(
      [{ data: new Float32Array([3, 4]), dims: [1, 2] }],
      { single: true, attentionMask: null },
      { postprocess: { normalize: false } },
    );
    expect(got).toEqual({ embedding: [3, 4] });
  });
});
