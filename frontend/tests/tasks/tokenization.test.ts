/**
 * Tokenization against tests/data/golden/tokenization.json (Python's
 * `tokenizers` on the all-MiniLM-L6-v2 tokenizer.json): token ids identical.
 */

import { readFileSync } from "node:fs";

import { beforeAll, describe, expect, it } from "vitest";

import {
  asTexts,
  encode,
  loadTokenizer,
  maxLength,
  prepareTexts,
  type TextTokenizer,
  type TokenizerJson,
} from "../../src/tasks/tokenization.js";
import type { TaskManifest } from "../../src/tasks/types.js";
import { latestTokenizerPath, readGolden } from "./golden.js";

interface TokenizationGolden {
  max_length: number;
  cases: Array<{ text: string; input_ids: number[]; attention_mask: number[] }>;
  batch: { texts: string[]; input_ids: number[][]; attention_mask: number[][] };
}

const GOLDEN = readGolden<TokenizationGolden>("tokenization.json");

let json: TokenizerJson;
let tokenizer: TextTokenizer;

beforeAll(() => {
  json = JSON.parse(readFileSync(latestTokenizerPath(), "utf8")) as TokenizerJson;
  tokenizer = loadTokenizer(json, GOLDEN.max_length);
});

/** Rows of a [batch, seq] int64 array as plain numbers. */
function rows(data: BigInt64Array, [batch, seq]: [number, number]): number[][] {
  return Array.from({ length: batch }, (_, b) => Array.from(data.subarray(b * seq, (b + 1) * seq), Number));
}

const MANIFEST: TaskManifest = {
  inputs: [
    { name: "input_ids", dtype: "int64", shape: ["batch", "sequence"] },
    { name: "attention_mask", dtype: "int64", shape: ["batch", "sequence"] },
  ],
  preprocess: { tokenizer: "tokenizer.json", max_length: 8 },
  postprocess: {},
};

describe("golden tokenization", () => {
  it.each(GOLDEN.cases.map((c) => [c.text.slice(0, 24), c] as const))("%s", (_name, golden) => {
    const { inputIds, attentionMask, dims } = encode([golden.text], tokenizer);
    expect(rows(inputIds, dims)).toEqual([golden.input_ids]);
    expect(rows(attentionMask, dims)).toEqual([golden.attention_mask]);
  });

  it("pads a batch with id 0 to its longest text", () => {
    const { inputIds, attentionMask, dims } = encode(GOLDEN.batch.texts, tokenizer);
    expect(rows(inputIds, dims)).toEqual(GOLDEN.batch.input_ids);
    expect(rows(attentionMask, dims)).toEqual(GOLDEN.batch.attention_mask);
  });
});

describe("encode", () => {
  it("returns int64 arrays, padded to the longest", () => {
    const { inputIds, attentionMask, dims } = encode(["short", "a somewhat longer sentence than the first"], tokenizer);
    expect(inputIds).toBeInstanceOf(BigInt64Array);
    expect(attentionMask).toBeInstanceOf(BigInt64Array);
    const [first, second] = rows(attentionMask, dims).map((r) => r.reduce((a, b) => a + b, 0));
    expect(dims[1]).toBe(Math.max(first!, second!));
    expect(first!).toBeLessThan(second!);
    const ids = rows(inputIds, dims)[0]!;
    expect(ids.slice(first!).every((id) => id === 0)).toBe(true);
    expect([ids[0], ids[first! - 1]]).toEqual([101, 102]);
  });

  it("truncates to max_length, keeping [CLS] and [SEP]", () => {
    const { inputIds, dims } = encode(["word ".repeat(500)], loadTokenizer(json, 32));
    expect(dims).toEqual([1, 32]);
    expect([inputIds[0], inputIds[31]]).toEqual([101n, 102n]);
  });

  it("does not pad a single text (the file pins 128)", () => {
    expect(encode(["hi"], tokenizer).dims).toEqual([1, 3]);
    expect(loadTokenizer(json, GOLDEN.max_length)).toBe(tokenizer); // cached
  });

  it("refuses a bare string, an empty batch and a max_length under 2", () => {
    expect(() => encode("hi" as unknown as string[], tokenizer)).toThrow(/wrap a single string/);
    expect(() => encode([], tokenizer)).toThrow(/at least one text/);
    expect(() => loadTokenizer(json, 1)).toThrow(/at least 2/);
  });
});

describe("prepareTexts", () => {
  it("feeds the manifest's inputs and tells a string from a list", () => {
    const assets = { tokenizer: loadTokenizer(json, 8) };
    const many = prepareTexts(["one", "two three"], MANIFEST, assets);
    expect(Object.keys(many.feeds)).toEqual(["input_ids", "attention_mask"]);
    expect(many.feeds["input_ids"]!.type).toBe("int64");
    expect(many.context.single).toBe(false);
    expect(many.context.attentionMask).toBe(many.feeds["attention_mask"]);
    const one = prepareTexts("one", MANIFEST, assets);
    expect(one.context.single).toBe(true);
    expect(one.feeds["input_ids"]!.dims).toEqual([1, 3]);
  });

  it("explains what is missing", () => {
    const assets = { tokenizer: loadTokenizer(json, 8) };
    expect(() => prepareTexts([], MANIFEST, assets)).toThrow(/non-empty list of strings/);
    expect(() => prepareTexts("x", { ...MANIFEST, inputs: [{ name: "token_type_ids", dtype: "int64", shape: [] }] }, assets)).toThrow(
      /token_type_ids/,
    );
    expect(() => prepareTexts("x", MANIFEST)).toThrow(/loadAssets/);
    expect(() => asTexts(["a", 1])).toThrow(/list of strings/);
    expect(() => maxLength({})).toThrow(/max_length is missing/);
  });
});
