/**
 * The manifest and the task result shapes (DESIGN.md, "Task results"), as the
 * browser sees them.
 *
 * The manifest types are generated from contract/schemas/manifest.schema.json
 * (manifest.generated.ts: `npm run types`, checked by `npm run types:check`):
 * change the schema, not these names. The pre/post-processing blocks name every
 * task's keys, all optional (the schema leaves the objects open), so each task
 * module checks at run time the keys it needs.
 */

import type * as Schema from "./manifest.generated.js";

// ---------------------------------------------------------------- manifest

export type {
  Activation,
  Asset,
  Backbone,
  BackboneHead,
  BackboneSplit,
  Backend,
  ClassificationPostprocess,
  ClientPolicy,
  Colour,
  ConversionHost,
  DatasetUse,
  EmbeddingsPostprocess,
  Evaluation,
  FaceDetectionPostprocess,
  Fallback,
  Layout,
  Manifest,
  ModelSource,
  Postprocess,
  Precision,
  Recommended,
  ResizeMode,
  RuntimeEvaluation,
  SelfCheck,
  SelfCheckVariant,
  Sha256,
  SourceFile,
  SourceFormat,
  TaskName,
  TensorDtype,
  TensorSpec,
  TextPreprocess,
  Variant,
  Verdict,
} from "./manifest.generated.js";

/**
 * The schema's `ImagePreprocess` as the image functions take it: its arrays may be
 * readonly (`size` a readonly pair, `mean` / `std` constants).
 */
export type ImagePreprocess = { [K in keyof Schema.ImagePreprocess]: Readonly<Schema.ImagePreprocess[K]> };

/** The schema's `Preprocess` (any task's keys), its image arrays possibly readonly. */
export type Preprocess = ImagePreprocess & Schema.TextPreprocess;

/**
 * MediaPipe's SsdAnchorsCalculatorOptions with every setting the anchor generation
 * reads: the schema's `AnchorOptions` (`postprocess.anchors`, whose keys the schema
 * leaves optional) once complete.
 */
export type AnchorOptions = Required<Omit<Schema.AnchorOptions, "feature_map_height" | "feature_map_width">> &
  Pick<Schema.AnchorOptions, "feature_map_height" | "feature_map_width">;

/**
 * What the task functions read from a manifest. The tests and the server's
 * golden files pass just these parts, so the functions ask for no more.
 */
export type TaskManifest = { preprocess: Preprocess; postprocess: Schema.Postprocess } &
  Partial<Pick<Schema.Manifest, "inputs" | "outputs">>;

// ---------------------------------------------------------------- tensors

/** A model output as ONNX Runtime Web hands it over (an `ort.Tensor` satisfies this). */
export interface TensorLike {
  readonly data: ArrayLike<number> | ArrayLike<bigint>;
  readonly dims: readonly number[];
}

/** A model input, ready for `new ort.Tensor(type, data, dims)`. */
export type Feed =
  | { type: "float32"; data: Float32Array; dims: number[] }
  | { type: "int64"; data: BigInt64Array; dims: number[] };

export type Feeds = Record<string, Feed>;

/** RGBA pixels as a canvas gives them (`ImageData` satisfies this). */
export interface PixelsLike {
  readonly data: Uint8ClampedArray | Uint8Array;
  readonly width: number;
  readonly height: number;
}

// ---------------------------------------------------------------- task results

export interface ScoredLabel {
  label: string;
  score: number;
}

export interface ImageClassificationResult {
  labels: ScoredLabel[];
  uncertain: boolean;
}

export interface Face {
  /** [x, y, width, height] in source-image pixels. */
  box: [number, number, number, number];
  score: number;
  /** [x, y] per keypoint, in source-image pixels, in MediaPipe's FaceKeypoint order. */
  keypoints: Array<[number, number]>;
}

export interface FaceDetectionResult {
  faces: Face[];
}

export interface TextClassificationResult {
  labels: ScoredLabel[];
  uncertain: boolean;
  /** Set by the host when it answered with the rule-based fallback. */
  fallback: null | "lexicon";
}

/** A list of texts gives one result per text. */
export interface TextClassificationBatchResult {
  results: TextClassificationResult[];
}

export type EmbeddingsResult = { embedding: number[] } | { embeddings: number[][] };

export type TaskResult =
  | ImageClassificationResult
  | FaceDetectionResult
  | TextClassificationResult
  | TextClassificationBatchResult
  | EmbeddingsResult;
