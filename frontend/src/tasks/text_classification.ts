/**
 * Text classification: text in, the top-k labels with scores out.
 * The port of app/tasks/text_classification.py.
 *
 * Scoring is shared with image classification (`classify`): `postprocess`
 * holds `labels`, `top_k`, `confidence_threshold` and `activation`. The
 * catalog's sentiment model already outputs probabilities, so its manifest
 * says `activation = "none"`. `fallback` is null here; the host fills it in
 * when it answers for a client that could not run the model.
 */

import { classify } from "./image_classification.js";
import { floatData } from "./tensors.js";
import { prepareTexts, type TextAssets, type TextBatch } from "./tokenization.js";
import type {
  Feeds,
  TaskManifest,
  TensorLike,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "./types.js";

/** Tokenize a string or a list of strings into the model's feeds. */
export function prepare(
  sample: unknown,
  manifest: TaskManifest,
  assets: TextAssets = {},
): { feeds: Feeds; context: TextBatch } {
  return prepareTexts(sample, manifest, assets);
}

/** Scores [batch, classes] -> one result for a string, `{results: [...]}` for a list. */
export function finish(
  outputs: readonly TensorLike[],
  context: TextBatch,
  manifest: TaskManifest,
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
    results.push({ ...classify(row, post), fallback: null });
  }
  return context.single ? results[0]! : { results };
}
