/**
 * The manifest (contract/schemas/manifest.schema.json) and the task result shapes
 * (DESIGN.md, "Task results"), as the browser sees them.
 *
 * The manifest is written by `browserml convert` and read here as JSON; these
 * types describe it, they do not restate its values. The pre/post-processing
 * blocks are open objects in the schema (each task documents its own keys), so
 * they are typed per task and checked at run time by the task modules.
 */

// ---------------------------------------------------------------- manifest

export type TaskName = "image-classification" | "face-detection" | "text-classification" | "embeddings";
export type Backend = "webgpu" | "wasm" | "server";
export type Precision = "fp32" | "int8" | "fp16";
export type TensorDtype = "float32" | "float16" | "int64" | "int32" | "uint8" | "bool";

/** One model input or output; string dims are named dynamic axes ("batch", "sequence"). */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: Array<number | string>;
}

export interface SourceFile {
  file: string;
  sha256: string;
}

export interface ModelSource {
  format: "tflite" | "keras" | "pytorch" | "sklearn" | "onnx" | "compose";
  framework: string;
  package?: string;
  package_version?: string;
  files: SourceFile[];
}

/** The verdict of a variant's gates on one backend's runtime. */
export interface Verdict {
  passed: boolean;
  reasons: string[];
  /** WebGPU has no runtime at conversion: its verdict is WASM's. */
  judged_by?: "wasm";
}

/** A variant measured against the source model on one runtime. */
export interface RuntimeEvaluation {
  /** What ran it: native ONNX Runtime (server) or ONNX Runtime Web's WASM build (wasm). */
  runtime: string;
  /** Agreement with the source model and accuracy, by metric name. */
  metrics: Record<string, number>;
  /** Median latency, batch of one, by thread count ("threads_1"). */
  latency_ms: Record<string, number | null>;
}

export interface Variant {
  file: string;
  precision: Precision;
  quantization?: string;
  bytes: number;
  sha256: string;
  /** Backends this variant suits. */
  backends: Backend[];
  operators: string[];
  browser_problems?: string[];
  /** Measured on the runtime of each backend: server = native ONNX Runtime, wasm = ORT Web. */
  evaluations: { server: RuntimeEvaluation; wasm?: RuntimeEvaluation };
  /** The verdict per backend the variant suits; a missing backend is not one it may run on. */
  gates: Partial<Record<Backend, Verdict>>;
}

/** The variant file to load per backend; null when no variant passed its gates for it. */
export type Recommended = Record<Backend, string | null>;

export interface ClientPolicy {
  max_client_bytes: number;
  /** Weights are never served: always answer through the server. */
  server_only: boolean;
  min_device_memory_gb?: number;
}

/** Files besides the variants a client needs (the tokenizer). */
export interface Asset {
  file: string;
  bytes: number;
  sha256: string;
}

export interface DatasetUse {
  dataset: string;
  split?: string;
  samples: number;
  packages?: string[];
}

export interface Evaluation {
  calibration: DatasetUse;
  evaluation: DatasetUse;
  source_metrics: Record<string, number>;
}

export type ResizeMode = "stretch" | "center-crop" | "letterbox";
export type Colour = "RGB" | "L";
export type Layout = "NHWC" | "NCHW";

/** `preprocess` of the image tasks (contract/tasks/imaging.py). */
export interface ImagePreprocess {
  /** Model input [height, width] in pixels. */
  size: readonly [number, number];
  resize?: ResizeMode;
  colour?: Colour;
  layout?: Layout;
  /** One value, or one per channel; pixels are 0..255 before (x - mean) / std. */
  mean?: readonly number[];
  std?: readonly number[];
}

/** `preprocess` of the text tasks (contract/tasks/tokenization.py). */
export interface TextPreprocess {
  /** The tokenizer.json, relative to the model version directory. */
  tokenizer?: string;
  max_length?: number;
}

export type Activation = "softmax" | "sigmoid" | "none";

/** `postprocess` of image and text classification (contract/tasks/image_classification.py). */
export interface ClassificationPostprocess {
  labels: string[];
  activation?: Activation;
  top_k?: number;
  confidence_threshold?: number;
}

/** MediaPipe's SsdAnchorsCalculatorOptions; missing keys take the short-range values. */
export interface AnchorOptions {
  num_layers: number;
  strides: number[];
  input_size_height: number;
  input_size_width: number;
  anchor_offset_x: number;
  anchor_offset_y: number;
  min_scale: number;
  max_scale: number;
  aspect_ratios: number[];
  interpolated_scale_aspect_ratio: number;
  reduce_boxes_in_lowest_layer: boolean;
  fixed_anchor_size: boolean;
  feature_map_height?: number[];
  feature_map_width?: number[];
}

/** `postprocess` of face detection (contract/tasks/face_detection.py); every key is optional. */
export interface FaceDetectionPostprocess {
  anchors?: Partial<AnchorOptions>;
  box_scale?: number;
  score_clipping?: number;
  score_threshold?: number;
  min_suppression_threshold?: number;
  num_keypoints?: number;
  keypoint_names?: string[];
}

/** `postprocess` of embeddings (contract/tasks/embeddings.py). */
export interface EmbeddingsPostprocess {
  pooling?: "mean";
  /** L2-normalise the vectors (default true). */
  normalize?: boolean;
}

/**
 * Any task's `preprocess` / `postprocess`: the schema leaves them open and the
 * key names of the tasks do not clash, so one type holds them all; each task
 * module checks, at run time, the keys it needs.
 */
export type Preprocess = Partial<ImagePreprocess> & TextPreprocess;
export type Postprocess = Partial<ClassificationPostprocess> &
  FaceDetectionPostprocess &
  EmbeddingsPostprocess;

/** One model version's manifest.json. */
export interface Manifest {
  schema_version: 1;
  name: string;
  version: number;
  task: TaskName;
  description?: string;
  created: string;
  licence: string;
  fingerprint: string;
  source: ModelSource;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** JSON Schemas of what `predict` takes and returns (contract/tasks/contracts.py). */
  request: Record<string, unknown>;
  response: Record<string, unknown>;
  preprocess: Preprocess;
  postprocess: Postprocess;
  variants: Variant[];
  recommended: Recommended;
  client: ClientPolicy;
  /** What happens under the threshold, in words (e.g. {uncertain: "...", lexicon: "..."}). */
  fallback: Record<string, string>;
  assets: Asset[];
  evaluation: Evaluation;
  report?: string;
}

/**
 * What the task functions read from a manifest. The tests and the server's
 * golden files pass just these parts, so the functions ask for no more.
 */
export type TaskManifest = Pick<Manifest, "preprocess" | "postprocess"> &
  Partial<Pick<Manifest, "inputs" | "outputs">>;

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
