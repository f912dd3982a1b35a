/**
 * Pre- and post-processing, one module per task: the browser side of
 * contract/tasks/ (same module names, same functions in camelCase, held to the same
 * golden files under tests/data/golden/).
 *
 * Every task module exposes the same two pure functions, driven by a manifest
 * and the version's loaded assets (assets.ts: the tokenizer, the lexicon):
 *
 * `prepare(input, manifest, assets) -> {feeds, context}`
 *     turns a user input (an `ImageData`, or a string / list of strings) into
 *     the ONNX feeds `{inputName: {type, data, dims}}` plus whatever `finish`
 *     needs (for example the letterbox that maps boxes back to source pixels);
 * `finish(outputs, context, manifest, assets) -> result`
 *     turns the ONNX outputs (in the manifest's output order) into the task
 *     result shape (docs/architecture.md, "Task results").
 *
 * They do no I/O and know nothing of ONNX Runtime, so they run the same in a
 * worker, on the page and under vitest.
 */

import * as embeddings from "./embeddings.js";
import { TASK_INPUTS } from "./manifest.generated.js";
import * as faceDetection from "./face_detection.js";
import * as imageClassification from "./image_classification.js";
import type { Letterbox } from "./imaging.js";
import * as textClassification from "./text_classification.js";
import type { TaskAssets } from "./assets.js";
import type { TextBatch } from "./tokenization.js";
import type {
  EmbeddingsResult,
  FaceDetectionResult,
  Feeds,
  ImageClassificationResult,
  PixelsLike,
  TaskManifest,
  TaskName,
  TensorLike,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "./types.js";


/** The contract every task module meets. */
export interface TaskModule<Input, Context, Result> {
  prepare(input: Input, manifest: TaskManifest, assets: TaskAssets): { feeds: Feeds; context: Context };
  finish(outputs: readonly TensorLike[], context: Context, manifest: TaskManifest, assets: TaskAssets): Result;
}

export interface TaskModules {
  "image-classification": TaskModule<PixelsLike, Letterbox, ImageClassificationResult>;
  "face-detection": TaskModule<PixelsLike, Letterbox, FaceDetectionResult>;
  "text-classification": TaskModule<
    string | string[],
    TextBatch,
    TextClassificationResult | TextClassificationBatchResult
  >;
  embeddings: TaskModule<string | string[], TextBatch, EmbeddingsResult>;
}

export const TASKS: Readonly<TaskModules> = Object.freeze({
  "image-classification": imageClassification,
  "face-detection": faceDetection,
  "text-classification": textClassification,
  embeddings,
});

const tasksTaking = (kind: "image" | "text"): ReadonlySet<TaskName> =>
  new Set((Object.keys(TASK_INPUTS) as TaskName[]).filter((task) => TASK_INPUTS[task] === kind));
/** Tasks by what they take: from the schema (x-task-inputs), as contract/tasks/__init__.py reads it. */
export const IMAGE_TASKS = tasksTaking("image");
export const TEXT_TASKS = tasksTaking("text");

/** The module implementing `task`; throws naming the known tasks. */
export function taskModule<T extends TaskName>(task: T): TaskModules[T];
export function taskModule(task: string): TaskModules[TaskName];
export function taskModule(task: string): TaskModules[TaskName] {
  if (!Object.hasOwn(TASKS, task)) {
    throw new Error(
      `unknown task ${JSON.stringify(task)}; known tasks: ${Object.keys(TASKS).sort().join(", ")}`,
    );
  }
  return TASKS[task as TaskName];
}

export * from "./types.js";
export { Letterbox, toTensor, resize } from "./imaging.js";
export { resample } from "./pillow_resample.js";
export { loadTokenizer, maxLength, TextTokenizer } from "./tokenization.js";
export { assetRoles, loadAssets } from "./assets.js";
export type { AssetRole, LexiconScorer, TaskAssets } from "./assets.js";
export type { TextBatch } from "./tokenization.js";
export { cosineSimilarity } from "./embeddings.js";
export { embeddings, faceDetection, imageClassification, textClassification };
