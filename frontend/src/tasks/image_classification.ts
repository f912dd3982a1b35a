/**
 * Image classification: one image in, the top-k labels with scores out.
 * The port of contract/tasks/image_classification.py.
 */

import { Letterbox, toTensor } from "./imaging.js";
import { roundHalfEven } from "./rounding.js";
import { floatData, inputName } from "./tensors.js";
import type {
  Activation,
  ClassificationPostprocess,
  Feeds,
  ImageClassificationResult,
  PixelsLike,
  ScoredLabel,
  TaskManifest,
  TensorLike,
} from "./types.js";

export const ACTIVATIONS: readonly Activation[] = ["softmax", "sigmoid", "none"];

/** Preprocess `pixels` (an `ImageData`) into the model's single input. */
export function prepare(
  pixels: PixelsLike,
  manifest: TaskManifest,
): { feeds: Feeds; context: Letterbox } {
  const { tensor, letterbox } = toTensor(pixels, manifest.preprocess);
  return { feeds: { [inputName(manifest)]: tensor }, context: letterbox };
}

/** Turn raw outputs into scores, in float64 (a stable softmax). */
export function activate(logits: ArrayLike<number>, activation: string): Float64Array {
  const x = Float64Array.from(logits);
  if (activation === "softmax") {
    const max = x.reduce((a, b) => Math.max(a, b), -Infinity);
    let sum = 0;
    for (let i = 0; i < x.length; i++) {
      x[i] = Math.exp(x[i]! - max);
      sum += x[i]!;
    }
    return x.map((v) => v / sum);
  }
  if (activation === "sigmoid") return x.map((v) => 1 / (1 + Math.exp(-v)));
  if (activation === "none") return x;
  throw new Error(
    `postprocess.activation is ${JSON.stringify(activation)}; allowed: ${ACTIVATIONS.join(", ")}`,
  );
}

/** The `k` best labels, best first; ties keep the lower class index first. */
export function topK(scores: ArrayLike<number>, labels: readonly string[], k: number): ScoredLabel[] {
  if (labels.length < scores.length) {
    throw new Error(`postprocess.labels has ${labels.length} labels for ${scores.length} scores`);
  }
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order
    .slice(0, Math.max(0, k))
    .map((i) => ({ label: labels[i]!, score: roundHalfEven(scores[i]!, 6) }));
}

/** Scores of one sample -> `{labels: [...top_k], uncertain}`. */
export function classify(
  row: ArrayLike<number>,
  post: Partial<ClassificationPostprocess>,
): ImageClassificationResult {
  if (!Array.isArray(post.labels)) {
    throw new Error("postprocess.labels is missing: a classifier needs one label per class");
  }
  const scores = activate(row, post.activation ?? "softmax");
  const labels = topK(scores, post.labels, Math.trunc(post.top_k ?? 5));
  if (labels.length === 0) throw new Error("postprocess.top_k must be at least 1");
  const threshold = post.confidence_threshold ?? 0;
  return { labels, uncertain: labels[0]!.score < threshold };
}

/** First output of a batch of one -> the task result. */
export function finish(
  outputs: readonly TensorLike[],
  _context: unknown,
  manifest: TaskManifest,
): ImageClassificationResult {
  return classify(floatData(outputs[0], "scores"), manifest.postprocess);
}

