/**
 * GENERATED FILE, do not edit: types from contract/schemas/manifest.schema.json
 * by frontend/scripts/manifest_types.mjs (json-schema-to-typescript).
 * Change the schema, then regenerate: cd frontend && npm run types
 * (`npm run types:check`, run by `make test`, fails when this file is out of date.)
 */

export type TaskName = "image-classification" | "face-detection" | "text-classification" | "embeddings";
export type SourceFormat = "tflite" | "keras" | "pytorch" | "sklearn" | "onnx" | "compose";
export type Sha256 = string;
export type TensorDtype = "float32" | "float16" | "int64" | "int32" | "uint8" | "bool";
/**
 * any task's preprocess: the keys of the tasks do not clash, so one object holds them all
 */
export type Preprocess = ImagePreprocess & TextPreprocess;
export type ResizeMode = "stretch" | "center-crop" | "letterbox";
export type Colour = "RGB" | "L";
export type Layout = "NHWC" | "NCHW";
/**
 * any task's postprocess: the keys of the tasks do not clash, so one object holds them all
 */
export type Postprocess = ClassificationPostprocess & FaceDetectionPostprocess & EmbeddingsPostprocess;
export type Activation = "softmax" | "sigmoid" | "none";
/**
 * int8: quantised ONNX; uint8: a TF.js graph model's weights stored as uint8 (computed in fp32)
 */
export type Precision = "fp32" | "int8" | "fp16" | "uint8";
export type Backend = "webgpu" | "wasm" | "server" | "tfjs-wasm" | "tfjs-webgl" | "tfjs-webgpu";
/**
 * numeric: right-closed bins (-inf, e1], (e1, e2], ..., (ek, +inf) named "0".."k"; categorical: the categories, then "other"
 */
export type DriftFeature = DriftFeature1 & DriftFeature2;
export type DriftFeature1 = {
  [k: string]: unknown;
};

/**
 * One per model version: the contract between the pipeline, the host and the browser runtime.
 */
export interface Manifest {
  schema_version: 2;
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
  /**
   * JSON Schema of what predict takes (contract/tasks/contracts.py)
   */
  request: {
    [k: string]: unknown;
  };
  /**
   * JSON Schema of what predict returns (contract/tasks/contracts.py)
   */
  response: {
    [k: string]: unknown;
  };
  preprocess: Preprocess;
  postprocess: Postprocess;
  variants: Variant[];
  recommended: Recommended;
  client: ClientPolicy;
  fallback: Fallback;
  assets: Asset[];
  evaluation: Evaluation;
  report?: string;
  backbone?: Backbone;
  drift?: Drift;
  self_check: SelfCheck;
}
export interface ModelSource {
  format: SourceFormat;
  framework: string;
  package?: string;
  package_version?: string;
  files: SourceFile[];
}
export interface SourceFile {
  file: string;
  sha256: Sha256;
}
/**
 * one model input or output; string dims are named dynamic axes ("batch", "sequence")
 */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: (number | string)[];
}
/**
 * preprocess of the image tasks (contract/tasks/imaging.py)
 */
export interface ImagePreprocess {
  /**
   * model input [height, width] in pixels
   *
   * @minItems 2
   * @maxItems 2
   */
  size?: [number, number];
  resize?: ResizeMode;
  colour?: Colour;
  layout?: Layout;
  /**
   * one value, or one per channel; pixels are 0..255 before (x - mean) / std
   */
  mean?: number[];
  std?: number[];
}
/**
 * preprocess of the text tasks (contract/tasks/tokenization.py)
 */
export interface TextPreprocess {
  /**
   * the tokenizer.json, relative to the model version directory
   */
  tokenizer?: string;
  max_length?: number;
}
/**
 * postprocess of image and text classification (contract/tasks/image_classification.py)
 */
export interface ClassificationPostprocess {
  labels?: string[];
  activation?: Activation;
  top_k?: number;
  confidence_threshold?: number;
}
/**
 * postprocess of face detection (contract/tasks/face_detection.py)
 */
export interface FaceDetectionPostprocess {
  anchors?: AnchorOptions;
  box_scale?: number;
  score_clipping?: number;
  score_threshold?: number;
  min_suppression_threshold?: number;
  num_keypoints?: number;
  keypoint_names?: string[];
}
/**
 * MediaPipe's SsdAnchorsCalculatorOptions
 */
export interface AnchorOptions {
  num_layers?: number;
  strides?: number[];
  input_size_height?: number;
  input_size_width?: number;
  anchor_offset_x?: number;
  anchor_offset_y?: number;
  min_scale?: number;
  max_scale?: number;
  aspect_ratios?: number[];
  interpolated_scale_aspect_ratio?: number;
  reduce_boxes_in_lowest_layer?: boolean;
  fixed_anchor_size?: boolean;
  feature_map_height?: number[];
  feature_map_width?: number[];
}
/**
 * postprocess of embeddings (contract/tasks/embeddings.py)
 */
export interface EmbeddingsPostprocess {
  pooling?: "mean";
  /**
   * L2-normalise the vectors (default true)
   */
  normalize?: boolean;
}
export interface Variant {
  file: string;
  /**
   * onnx when absent; tfjs-graph: a TF.js graph model (model.json, whose weightsManifest names the shards beside it)
   */
  format?: "onnx" | "tfjs-graph";
  /**
   * a TF.js graph model's weight files, each checked like the variant file
   */
  shards?: {
    file: string;
    bytes: number;
    sha256: Sha256;
  }[];
  precision: Precision;
  quantization?: string;
  /**
   * what a browser downloads: the file, and for a TF.js graph model its shards too
   */
  bytes: number;
  /**
   * of the file (a TF.js graph model: of model.json; each shard has its own)
   */
  sha256: string;
  /**
   * the backends this variant suits
   */
  backends: Backend[];
  operators: string[];
  browser_problems?: string[];
  /**
   * the verdict on each backend the variant suits; a backend missing here is not one the variant may run on
   */
  gates: {
    webgpu?: Verdict;
    wasm?: Verdict;
    server?: Verdict;
    "tfjs-wasm"?: Verdict;
    "tfjs-webgl"?: Verdict;
    "tfjs-webgpu"?: Verdict;
  };
  /**
   * the variant measured against the source model on the runtime of each backend: server = native ONNX Runtime, wasm = ONNX Runtime Web's WASM build, tfjs-wasm = TF.js's wasm backend
   */
  evaluations: {
    server?: RuntimeEvaluation;
    wasm?: RuntimeEvaluation;
    "tfjs-wasm"?: RuntimeEvaluation;
  };
}
/**
 * the verdict of a variant's gates on one backend's runtime
 */
export interface Verdict {
  passed: boolean;
  reasons: string[];
  /**
   * WebGPU has no runtime at conversion: its verdict is WASM's (TF.js's WebGL and WebGPU: TF.js wasm's)
   */
  judged_by?: "wasm" | "tfjs-wasm";
}
/**
 * a variant measured against the source model on one runtime
 */
export interface RuntimeEvaluation {
  /**
   * what ran it: native ONNX Runtime (server) or ONNX Runtime Web's WASM build (wasm)
   */
  runtime: string;
  /**
   * agreement with the source model and accuracy, by metric name
   */
  metrics: {
    [k: string]: number;
  };
  /**
   * median latency, batch of one, by thread count
   */
  latency_ms: {
    [k: string]: number | null;
  };
}
/**
 * the variant file to load per backend; null when no variant passed its gates for it
 */
export interface Recommended {
  webgpu: string | null;
  wasm: string | null;
  server: string | null;
  "tfjs-wasm"?: string | null;
  "tfjs-webgl"?: string | null;
  "tfjs-webgpu"?: string | null;
}
export interface ClientPolicy {
  max_client_bytes: number;
  /**
   * weights are never served: always answer through the server
   */
  server_only: boolean;
  min_device_memory_gb?: number;
}
/**
 * what happens under the threshold, in words; lexicon: the file (an asset) of the rule-based fallback
 */
export interface Fallback {
  uncertain?: string;
  lexicon?: string;
}
/**
 * a file besides the variants a client needs (the tokenizer, the lexicon)
 */
export interface Asset {
  file: string;
  bytes: number;
  sha256: Sha256;
}
export interface Evaluation {
  calibration: DatasetUse;
  evaluation: DatasetUse;
  source_metrics: {
    [k: string]: number;
  };
  host?: ConversionHost;
}
export interface DatasetUse {
  dataset: string;
  split?: string;
  samples: number;
  packages?: string[];
}
/**
 * the conversion machine: CPU model and the flags that decide native int8 kernels, and the ORT Web version
 */
export interface ConversionHost {
  model?: string;
  machine?: string;
  flags?: string[];
  onnxruntime_web?: string;
}
/**
 * a composed model whose first part is another catalog model (sentiment: the text-embedder): a browser may run that model's own variant file, then the small head, and so download the shared backbone once (convert/sources/compose.py). The server runs the composed variants.
 */
export interface Backbone {
  /**
   * the backbone's catalog name
   */
  model: string;
  /**
   * the backbone's version whose variant files the splits name (the one converted when this version was)
   */
  version: number;
  /**
   * the backbone output the head takes
   */
  output: string;
  head: BackboneHead;
  splits: BackboneSplit[];
}
/**
 * the head alone: the backbone's output in, this model's outputs out
 */
export interface BackboneHead {
  file: string;
  bytes: number;
  sha256: Sha256;
  input: string;
}
/**
 * one composed variant as the backbone's variant file + the head, measured against the source model on ORT Web's WASM build and gated like the variant
 */
export interface BackboneSplit {
  /**
   * this model's composed variant the split stands for
   */
  variant: string;
  backbone_file: string;
  backbone_sha256: Sha256;
  backbone_bytes: number;
  /**
   * the browser backends the split suits (the composed variant's)
   */
  backends: Backend[];
  evaluations: {
    wasm: RuntimeEvaluation;
  };
  gates: {
    webgpu?: Verdict;
    wasm?: Verdict;
  };
  /**
   * largest output difference between the split and the composed variant, both on ORT Web's WASM build, over the evaluation data
   */
  max_abs_diff_vs_composed: number;
}
/**
 * the drift monitor's reference (lifecycle/drift.py): per feature, its bins and the evaluation data's share in each (inputs; outputs of the source model); the host reports PSI of live traffic against it
 */
export interface Drift {
  /**
   * PSI from which the verdict is warn (recipe [drift], default 0.1)
   */
  psi_warn: number;
  /**
   * PSI from which the verdict is alert (recipe [drift], default 0.25)
   */
  psi_alert: number;
  /**
   * floor of a bin's share in PSI = sum (a - e) ln(a / e), so empty bins stay finite
   */
  epsilon: number;
  features: {
    [k: string]: DriftFeature;
  };
}
export interface DriftFeature2 {
  kind: "input" | "output";
  edges?: number[];
  categories?: string[];
  proportions: number[];
  /**
   * reference values (images, texts, or faces for face_score)
   */
  n: number;
}
/**
 * reference inputs and each variant's expected outputs (in file), re-run by the host when it loads a variant
 */
export interface SelfCheck {
  file: string;
  bytes: number;
  sha256: Sha256;
  samples: number;
  variants: {
    [k: string]: SelfCheckVariant;
  };
}
export interface SelfCheckVariant {
  reference: "wasm" | "server";
  atol: number[];
  measured_native_vs_wasm?: number[];
}

/** What each task takes (the schema's x-task-inputs). */
export const TASK_INPUTS = {"image-classification":"image","face-detection":"image","text-classification":"text","embeddings":"text"} as const satisfies Record<TaskName, "image" | "text">;
