/**
 * Text classification: text in, the top-k labels with scores out.
 * The port of contract/tasks/text_classification.py.
 *
 * Scoring is shared with image classification (`classify`): `postprocess`
 * holds `labels`, `top_k`, `confidence_threshold` and `activation`. The
 * catalog's sentiment model already outputs probabilities, so its manifest
 * says `activation = "none"`.
 *
 * The lexicon fallback (the policy; the scorer is lexicon.ts): when the model is
 * unsure and the version ships a lexicon (`fallback.lexicon`, in `assets.lexicon`),
 * VADER scores the text; if it has an opinion (|compound| >= 0.05) its answer
 * replaces the labels and the result says `fallback: "lexicon"`, otherwise the
 * model's unsure answer stays with `fallback: null`.
 */

import { classify } from "./image_classification.js";
import { floatData } from "./tensors.js";
import { roundHalfEven } from "./rounding.js";
import type { LexiconScorer, TaskAssets } from "./assets.js";
import type { TextBatch } from "./tokenization.js";
import type {
  TaskManifest,
  TensorLike,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "./types.js";

/** Both text tasks tokenize the same way: a string or a list of strings -> feeds, context. */
export { prepareTexts as prepare } from "./tokenization.js";

/** Scores [batch, classes] -> one result for a string, `{results: [...]}` for a list. */
export function finish(
  outputs: readonly TensorLike[],
  context: TextBatch,
  manifest: TaskManifest,
  assets: TaskAssets = {},
): TextClassificationResult | TextClassificationBatchResult {
  const post = manifest.postprocess;
  const output = outputs[0];
  const scores = floatData(output, "scores");
  const dims = output!.dims;
  const rows = dims.length > 1 ? dims[0]! : 1;
  const width = scores.length / rows;
  const results: TextClassificationResult[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.prototype.slice.call(scores, r * width, (r + 1) * width) as number[];
    const result: TextClassificationResult = { ...classify(row, post), fallback: null };
    const text = context.texts?.[r];
    results.push(assets.lexicon && text !== undefined ? applyFallback(result, text, assets.lexicon, post) : result);
  }
  return context.single ? results[0]! : { results };
}

/** VADER's neutral band: a compound score closer to 0 than this has no opinion. */
export const NEUTRAL_BAND = 0.05;
const LEXICON_LABELS = ["negative", "positive"];

/** negative/positive labels from a compound score: positive = (1 + compound) / 2, best first. */
export function lexiconLabels(compound: number, labels: readonly string[]): Array<{ label: string; score: number }> {
  const positive = roundHalfEven((1 + compound) / 2, 6);
  const pairs = [
    { label: labels[0]!, score: roundHalfEven(1 - positive, 6) },
    { label: labels[1]!, score: positive },
  ];
  return pairs.sort((a, b) => b.score - a.score);
}

/** The lexicon's answer when the model was unsure and the lexicon is not neutral. */
export function applyFallback(
  result: TextClassificationResult,
  text: string,
  lexicon: LexiconScorer,
  post: TaskManifest["postprocess"],
): TextClassificationResult {
  const labels = (post as { labels?: string[] }).labels ?? [];
  if (!result.uncertain || labels.join() !== LEXICON_LABELS.join()) return result;
  const compound = lexicon.polarityScores(text).compound;
  if (Math.abs(compound) < NEUTRAL_BAND) return result;
  return { ...result, labels: lexiconLabels(compound, labels), fallback: "lexicon" };
}
