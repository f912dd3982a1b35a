/**
 * WordPiece tokenization for the text tasks, driven by a `tokenizer.json`.
 * The port of contract/tasks/tokenization.py.
 *
 * The text models take two int64 inputs of shape [batch, sequence]:
 * `input_ids` and `attention_mask`. A batch is truncated to `max_length`
 * tokens ([CLS] and [SEP] included) and padded to its longest member, so a
 * single string is never padded at all.
 *
 * The tokenizer.json is an asset (`preprocess.tokenizer`): the runtime fetches it
 * next to the model and `loadAssets` (assets.ts) parses it with `loadTokenizer`;
 * the task modules receive the result. `preprocess.max_length` says how many
 * tokens the model reads.
 *
 * `@huggingface/tokenizers` reproduces the Rust tokenizer's normalisation,
 * pre-tokenisation and WordPiece, but ignores the file's `truncation` and
 * `padding` blocks. That suits us: Python overrides both (the all-MiniLM file
 * pads to a fixed 128), and the overrides are applied here the same way:
 * truncate the word pieces, leaving room for the special tokens, then let the
 * file's post-processor add [CLS] / [SEP], then pad the batch.
 */

import { Tokenizer } from "@huggingface/tokenizers";

import type { TaskAssets } from "./assets.js";
import type { Feed, Feeds, TaskManifest, TextPreprocess } from "./types.js";

export const MODEL_INPUTS = ["input_ids", "attention_mask"] as const;

export type Int64Feed = Extract<Feed, { type: "int64" }>;

/** The `context` of the text tasks: whether one string came in, and the padding mask. */
export interface TextBatch {
  single: boolean;
  attentionMask: Int64Feed | null;
  /** The inputs, for a rule-based fallback that reads the words (the lexicon). */
  texts?: string[];
}

/** A batch of token ids and its mask, row-major [batch, sequence]. */
export interface Encoded {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  dims: [number, number];
}

/** The parsed content of a tokenizer.json. */
export type TokenizerJson = Record<string, unknown>;

/** A tokenizer.json, truncating to `maxLength` and padding to the longest of a batch. */
export class TextTokenizer {
  readonly padId: number;
  /** Special tokens the post-processor adds around a single sequence ([CLS], [SEP]). */
  private readonly added: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    padding: { pad_id?: number } | null,
  ) {
    this.padId = padding?.pad_id ?? tokenizer.token_to_id("[PAD]") ?? 0;
    this.added = tokenizer.post_processor?.post_process([]).tokens.length ?? 0;
    if (maxLength < this.added) {
      throw new Error(
        `max_length ${maxLength} leaves no room for the ${this.added} special tokens`,
      );
    }
  }

  /** Token ids of one text: truncated, special tokens added, not padded. */
  ids(text: string): number[] {
    const pieces = this.tokenizer
      .tokenize(text, { add_special_tokens: false })
      .slice(0, this.maxLength - this.added);
    const tokens = this.tokenizer.post_processor?.post_process(pieces).tokens ?? pieces;
    const unknown = this.tokenizer.model?.unk_token_id;
    return tokens.map((token) => {
      const id = this.tokenizer.token_to_id(token) ?? unknown;
      if (id === undefined) throw new Error(`token ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    });
  }
}

const loaded = new WeakMap<TokenizerJson, Map<number, TextTokenizer>>();

/**
 * The tokenizer of a parsed tokenizer.json, truncating to `maxLength` and
 * padding to the longest. Cached per (json object, maxLength).
 */
export function loadTokenizer(json: TokenizerJson, maxLength: number): TextTokenizer {
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new Error(
      `max_length must be at least 2 (room for [CLS] and [SEP]), got ${maxLength}`,
    );
  }
  let byLength = loaded.get(json);
  if (!byLength) {
    byLength = new Map();
    loaded.set(json, byLength);
  }
  let tokenizer = byLength.get(maxLength);
  if (!tokenizer) {
    const padding = (json["padding"] ?? null) as { pad_id?: number } | null;
    tokenizer = new TextTokenizer(new Tokenizer(json, {}), maxLength, padding);
    byLength.set(maxLength, tokenizer);
  }
  return tokenizer;
}

/** Tokenize a batch -> int64 ids and mask [batch, seq], padded to the longest. */
export function encode(texts: readonly string[], tokenizer: TextTokenizer): Encoded {
  if (typeof texts === "string") {
    throw new TypeError("encode takes a list of strings; wrap a single string in a list");
  }
  if (texts.length === 0) throw new Error("encode needs at least one text");
  const rows = texts.map((text) => tokenizer.ids(text));
  const length = Math.max(...rows.map((row) => row.length));
  const inputIds = new BigInt64Array(rows.length * length).fill(BigInt(tokenizer.padId));
  const attentionMask = new BigInt64Array(rows.length * length); // zeros: padding
  rows.forEach((row, b) => {
    row.forEach((id, s) => {
      inputIds[b * length + s] = BigInt(id);
      attentionMask[b * length + s] = 1n;
    });
  });
  return { inputIds, attentionMask, dims: [rows.length, length] };
}

/** A string or a list of strings -> [the list, whether it was a single string]. */
export function asTexts(sample: unknown): [string[], boolean] {
  if (typeof sample === "string") return [[sample], true];
  if (!Array.isArray(sample) || sample.length === 0 || !sample.every((t) => typeof t === "string")) {
    throw new Error("text input must be a string or a non-empty list of strings");
  }
  return [[...sample], false];
}

/** How many tokens the model reads (`preprocess.max_length`, [CLS] and [SEP] included). */
export function maxLength(preprocess: TextPreprocess): number {
  if (preprocess.max_length === undefined) {
    throw new Error("preprocess.max_length is missing: a text model's recipe must say how many tokens it reads");
  }
  return Math.trunc(preprocess.max_length);
}

/** Encode `texts` into the feeds the manifest's inputs ask for, by name. */
export function textFeeds(
  texts: readonly string[],
  manifest: TaskManifest,
  tokenizer: TextTokenizer,
): Feeds {
  const { inputIds, attentionMask, dims } = encode(texts, tokenizer);
  const encoded: Record<(typeof MODEL_INPUTS)[number], Int64Feed> = {
    input_ids: { type: "int64", data: inputIds, dims: [...dims] },
    attention_mask: { type: "int64", data: attentionMask, dims: [...dims] },
  };
  if (!manifest.inputs?.length) throw new Error("manifest.inputs is empty; the model's inputs are unknown");
  const feeds: Feeds = {};
  for (const spec of manifest.inputs) {
    if (!(MODEL_INPUTS as readonly string[]).includes(spec.name)) {
      throw new Error(
        `text model input ${JSON.stringify(spec.name)} is not produced by the tokenizer; ` +
          `allowed: ${MODEL_INPUTS.join(", ")}`,
      );
    }
    feeds[spec.name] = encoded[spec.name as (typeof MODEL_INPUTS)[number]];
  }
  return feeds;
}

/**
 * The shared `prepare` of the text tasks: a string or a list of strings ->
 * feeds, context. `assets.tokenizer` comes from `loadAssets` (assets.ts).
 */
export function prepareTexts(
  sample: unknown,
  manifest: TaskManifest,
  assets: TaskAssets = {},
): { feeds: Feeds; context: TextBatch } {
  const { tokenizer } = assets;
  if (!tokenizer) {
    throw new Error(
      "text tasks need the tokenizer: fetch the assets assetRoles(manifest) names, " +
        "load them with loadAssets and pass them to prepare",
    );
  }
  const [texts, single] = asTexts(sample);
  const feeds = textFeeds(texts, manifest, tokenizer);
  const mask = feeds["attention_mask"];
  return {
    feeds,
    context: { single, attentionMask: mask?.type === "int64" ? mask : null, texts },
  };
}
