/**
 * Face detection: MediaPipe BlazeFace (short range) decoding, weighted NMS,
 * letterbox removal. The port of contract/tasks/face_detection.py, which documents
 * the model, the options (`manifest.postprocess`) and the arithmetic at length.
 *
 * One image in, `{faces: [{box: [x, y, w, h], score, keypoints: [[x, y], ...]}]}`
 * out, in SOURCE image pixels, best score first, following MediaPipe's graph:
 * SsdAnchorsCalculator -> TensorsToDetectionsCalculator ->
 * NonMaxSuppressionCalculator (WEIGHTED, INTERSECTION_OVER_UNION) ->
 * DetectionLetterboxRemovalCalculator.
 *
 * All arithmetic is in JS numbers (float64), as the Python reference computes;
 * boxes and keypoints are rounded to 2 decimals and scores to 6, the Python way.
 */

import { Letterbox, toTensor } from "./imaging.js";
import { roundHalfEven } from "./rounding.js";
import { floatData, inputName } from "./tensors.js";
import type {
  AnchorOptions,
  Face,
  FaceDetectionPostprocess,
  FaceDetectionResult,
  Feeds,
  PixelsLike,
  TaskManifest,
  TensorLike,
} from "./types.js";

/**
 * Every setting (anchors, scales, thresholds) comes from the manifest's postprocess,
 * written from the recipe (models/catalog/face-detector.toml): the code states none of
 * them again. `setting` says which one is missing (contract/tasks/face_detection.py).
 */
export const ANCHOR_KEYS = [
  "num_layers", "strides", "input_size_height", "input_size_width", "anchor_offset_x", "anchor_offset_y",
  "min_scale", "max_scale", "aspect_ratios", "interpolated_scale_aspect_ratio",
  "reduce_boxes_in_lowest_layer", "fixed_anchor_size",
] as const;

/** `block[key]`, or an error naming the missing recipe setting. */
export function setting<T extends object, K extends keyof T>(block: T, key: K, where = "postprocess"): NonNullable<T[K]> {
  const value = block[key];
  if (value === undefined || value === null) {
    throw new Error(`${where}.${String(key)} is missing: a face-detection recipe must set it (see models/catalog/face-detector.toml)`);
  }
  return value as NonNullable<T[K]>;
}

/** `[x, y]` relative to the model input. */
export type Point = [number, number];

/**
 * A decoded detection: `[xmin, ymin]`, `[xmax, ymax]`, then the K keypoints,
 * all relative to the model input (0..1 inside it).
 */
export type Detection = Point[];

/** One anchor: `[x_center, y_center, w, h]` relative to the model input. */
export type Anchor = readonly [number, number, number, number];

// ---------------------------------------------------------------- anchors

/** MediaPipe's CalculateScale: linear from min_scale to max_scale over the strides. */
function layerScale(minScale: number, maxScale: number, index: number, count: number): number {
  if (count === 1) return (minScale + maxScale) * 0.5;
  return minScale + ((maxScale - minScale) * index) / (count - 1.0);
}

function buildAnchors(options: Partial<AnchorOptions>): readonly Anchor[] {
  for (const key of ANCHOR_KEYS) setting(options, key, "postprocess.anchors");
  const opts = options as AnchorOptions;
  const strides = opts.strides.map((s) => Math.trunc(s));
  const numLayers = Math.trunc(opts.num_layers);
  if (strides.length !== numLayers) {
    throw new Error(`anchors.strides has ${strides.length} entries, num_layers is ${numLayers}`);
  }
  const fmHeights = opts.feature_map_height ?? [];
  const fmWidths = opts.feature_map_width ?? [];
  const interpolated = opts.interpolated_scale_aspect_ratio;
  const anchors: Anchor[] = [];
  let layer = 0;
  while (layer < numLayers) {
    const ratios: number[] = [];
    const scales: number[] = [];
    let last = layer;
    // Consecutive layers with the same stride share one feature map.
    while (last < strides.length && strides[last] === strides[layer]) {
      const scale = layerScale(opts.min_scale, opts.max_scale, last, strides.length);
      if (last === 0 && opts.reduce_boxes_in_lowest_layer) {
        ratios.push(1.0, 2.0, 0.5);
        scales.push(0.1, scale, scale);
      } else {
        for (const ratio of opts.aspect_ratios) {
          ratios.push(ratio);
          scales.push(scale);
        }
        if (interpolated > 0.0) {
          const following =
            last === strides.length - 1
              ? 1.0
              : layerScale(opts.min_scale, opts.max_scale, last + 1, strides.length);
          scales.push(Math.sqrt(scale * following));
          ratios.push(interpolated);
        }
      }
      last += 1;
    }
    const sizes = scales.map((s, i): [number, number] => {
      const r = Math.sqrt(ratios[i]!);
      return opts.fixed_anchor_size ? [1.0, 1.0] : [s * r, s / r]; // (w, h)
    });
    let fmH: number;
    let fmW: number;
    if (fmHeights.length > 0) {
      fmH = Math.trunc(fmHeights[layer]!);
      fmW = Math.trunc(fmWidths[layer]!);
    } else {
      fmH = Math.ceil(Math.trunc(opts.input_size_height) / strides[layer]!);
      fmW = Math.ceil(Math.trunc(opts.input_size_width) / strides[layer]!);
    }
    for (let y = 0; y < fmH; y++) {
      const yCenter = (y + opts.anchor_offset_y) / fmH;
      for (let x = 0; x < fmW; x++) {
        const xCenter = (x + opts.anchor_offset_x) / fmW;
        for (const [w, h] of sizes) anchors.push(Object.freeze([xCenter, yCenter, w, h] as const));
      }
    }
    layer = last;
  }
  return Object.freeze(anchors);
}

const ANCHOR_CACHE_SIZE = 16;
const anchorCache = new Map<string, readonly Anchor[]>();

/** JSON with sorted keys, so equal options give one cache key whatever their order. */
function canonicalKey(options: object): string {
  const entries = Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

/**
 * SSD anchors as MediaPipe's SsdAnchorsCalculator builds them.
 *
 * `options` are SsdAnchorsCalculatorOptions; missing keys take the short-range
 * values, and `feature_map_height` / `feature_map_width` lists may replace the
 * stride-derived map sizes. Returns frozen `[x_center, y_center, w, h]` rows
 * relative to the model input (896 for the short-range model), cached per
 * distinct options.
 */
export function generateAnchors(options: Partial<AnchorOptions>): readonly Anchor[] {
  const key = canonicalKey(options);
  let anchors = anchorCache.get(key);
  if (!anchors) {
    anchors = buildAnchors(options);
    if (anchorCache.size >= ANCHOR_CACHE_SIZE) {
      anchorCache.delete(anchorCache.keys().next().value!);
    }
    anchorCache.set(key, anchors);
  }
  return anchors;
}

// ---------------------------------------------------------------- decoding

/** A float model output with its shape. */
export interface FloatTensor {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
}

/**
 * Raw outputs -> detections and scores above the score threshold, in anchor order.
 *
 * `regressors` holds per anchor `[dx, dy, w, h, kx0, ky0, ...]` in model-input
 * pixels, `classificators` one raw face logit per anchor.
 */
export function decode(
  regressors: FloatTensor,
  classificators: FloatTensor,
  anchors: readonly Anchor[],
  post: FaceDetectionPostprocess,
): { detections: Detection[]; scores: number[] } {
  const numKeypoints = Math.trunc(setting(post, "num_keypoints"));
  const scale = setting(post, "box_scale");
  const clip = setting(post, "score_clipping");
  const threshold = setting(post, "score_threshold");
  const width = regressors.dims[regressors.dims.length - 1] ?? 0;
  const boxes = width > 0 ? regressors.data.length / width : 0;
  const logits = classificators.data;
  if (boxes !== anchors.length || logits.length !== anchors.length) {
    throw new Error(`${boxes} boxes and ${logits.length} scores for ${anchors.length} anchors`);
  }
  if (width < 4 + 2 * numKeypoints) {
    throw new Error(`regressors have ${width} values per box; need ${4 + 2 * numKeypoints}`);
  }
  const raw = regressors.data;
  const detections: Detection[] = [];
  const scores: number[] = [];
  for (let i = 0; i < anchors.length; i++) {
    const [ax, ay, aw, ah] = anchors[i]!;
    const logit = Math.min(clip, Math.max(-clip, logits[i]!));
    const score = 1.0 / (1.0 + Math.exp(-logit));
    const r = i * width;
    const xCenter = (raw[r]! / scale) * aw + ax;
    const yCenter = (raw[r + 1]! / scale) * ah + ay;
    const w = (raw[r + 2]! / scale) * aw;
    const h = (raw[r + 3]! / scale) * ah;
    // MediaPipe: skip score < threshold, and boxes with negative or NaN size
    // (NaN fails every comparison, so `>=` drops it).
    if (!(score >= threshold && w >= 0 && h >= 0)) continue;
    const detection: Detection = [
      [xCenter - w / 2, yCenter - h / 2],
      [xCenter + w / 2, yCenter + h / 2],
    ];
    for (let k = 0; k < numKeypoints; k++) {
      detection.push([
        (raw[r + 4 + 2 * k]! / scale) * aw + ax,
        (raw[r + 5 + 2 * k]! / scale) * ah + ay,
      ]);
    }
    detections.push(detection);
    scores.push(score);
  }
  return { detections, scores };
}

// ---------------------------------------------------------------- NMS

/** IoU of two detections (their first two points are the corners); 0 when disjoint. */
export function overlapSimilarity(a: Detection, b: Detection): number {
  const [[ax0, ay0], [ax1, ay1]] = a as [Point, Point];
  const [[bx0, by0], [bx1, by1]] = b as [Point, Point];
  const ix = Math.min(ax1, bx1) - Math.max(ax0, bx0);
  const iy = Math.min(ay1, by1) - Math.max(ay0, by0);
  if (ix < 0 || iy < 0) return 0.0;
  const intersection = ix * iy;
  const union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - intersection;
  return union > 0 ? intersection / union : 0.0;
}

/**
 * MediaPipe's WeightedNonMaxSuppression (overlap type INTERSECTION_OVER_UNION).
 *
 * Repeatedly takes the best remaining detection; every remaining detection
 * (itself included) whose IoU with it exceeds `minSuppressionThreshold` becomes
 * a candidate, and the output is the score-weighted mean of the candidates'
 * points, carrying the best detection's score. Candidates leave the pool; the
 * loop stops when the pool is empty or an iteration removes nothing. Ties in
 * score keep anchor order.
 */
export function weightedNms(
  detections: readonly Detection[],
  scores: readonly number[],
  minSuppressionThreshold: number,
): Array<{ detection: Detection; score: number }> {
  let order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const outputs: Array<{ detection: Detection; score: number }> = [];
  while (order.length > 0) {
    const top = detections[order[0]!]!;
    const candidates: number[] = [];
    const remaining: number[] = [];
    for (const index of order) {
      if (overlapSimilarity(detections[index]!, top) > minSuppressionThreshold) {
        candidates.push(index);
      } else {
        remaining.push(index);
      }
    }
    let merged: Detection = top.map(([x, y]): Point => [x, y]);
    if (candidates.length > 0) {
      let total = 0;
      merged = top.map((): Point => [0, 0]);
      for (const index of candidates) {
        const weight = scores[index]!;
        total += weight;
        detections[index]!.forEach(([x, y], p) => {
          merged[p]![0] += weight * x;
          merged[p]![1] += weight * y;
        });
      }
      merged = merged.map(([x, y]): Point => [x / total, y / total]);
    }
    outputs.push({ detection: merged, score: scores[order[0]!]! });
    if (remaining.length === order.length) break;
    order = remaining;
  }
  return outputs;
}

// ---------------------------------------------------------------- task contract

function floatTensor(output: TensorLike, what: string): FloatTensor {
  return { data: floatData(output, what), dims: output.dims };
}

/** Pick (regressors, classificators): by manifest output name, else by shape. */
function splitOutputs(
  outputs: readonly TensorLike[],
  manifest: TaskManifest,
): [FloatTensor, FloatTensor] {
  const names = (manifest.outputs ?? []).map((o) => String(o.name ?? ""));
  if (names.length === outputs.length && names.includes("regressors") && names.includes("classificators")) {
    return [
      floatTensor(outputs[names.indexOf("regressors")]!, "regressors"),
      floatTensor(outputs[names.indexOf("classificators")]!, "classificators"),
    ];
  }
  const last = (t: TensorLike) => t.dims[t.dims.length - 1];
  const scores = outputs.filter((t) => last(t) === 1);
  const boxes = outputs.filter((t) => (last(t) ?? 0) > 1);
  if (scores.length !== 1 || boxes.length !== 1) {
    const shapes = outputs.map((t) => `[${t.dims.join(", ")}]`).join(", ");
    throw new Error(`cannot tell regressors from classificators among outputs ${shapes}`);
  }
  return [floatTensor(boxes[0]!, "regressors"), floatTensor(scores[0]!, "classificators")];
}

/**
 * Raw outputs of one image -> `{faces: [...]}` in source pixels, best first.
 *
 * `inputSize` is the model input [height, width] in pixels; `letterbox` maps
 * model-input pixels back to the source image.
 */
export function detect(
  regressors: FloatTensor,
  classificators: FloatTensor,
  letterbox: Letterbox,
  inputSize: readonly number[],
  post: FaceDetectionPostprocess,
): FaceDetectionResult {
  const anchors = generateAnchors(setting(post, "anchors"));
  const { detections, scores } = decode(regressors, classificators, anchors, post);
  const merged = weightedNms(detections, scores, setting(post, "min_suppression_threshold"));
  const inH = inputSize[0]!;
  const inW = inputSize[1]!;
  const faces: Face[] = merged.map(({ detection, score }) => {
    const src = detection.map(([x, y]) => letterbox.toSource(x * inW, y * inH));
    const [[x0, y0], [x1, y1]] = src as [Point, Point];
    return {
      box: [roundHalfEven(x0, 2), roundHalfEven(y0, 2), roundHalfEven(x1 - x0, 2), roundHalfEven(y1 - y0, 2)],
      score: roundHalfEven(score, 6),
      keypoints: src.slice(2).map(([x, y]): [number, number] => [roundHalfEven(x, 2), roundHalfEven(y, 2)]),
    };
  });
  faces.sort((a, b) => b.score - a.score); // stable: NMS order breaks ties
  return { faces };
}

/** Letterbox `pixels` (an `ImageData`) into the model's single input; the context maps boxes back. */
export function prepare(
  pixels: PixelsLike,
  manifest: TaskManifest,
): { feeds: Feeds; context: Letterbox } {
  const spec = manifest.preprocess;
  if ((spec.resize ?? "stretch") === "stretch") {
    throw new Error(
      "face-detection needs preprocess.resize 'letterbox' (or 'center-crop'), not 'stretch'",
    );
  }
  const { tensor, letterbox } = toTensor(pixels, spec);
  return { feeds: { [inputName(manifest)]: tensor }, context: letterbox };
}

/** Model outputs (manifest order) + the letterbox from `prepare` -> the task result. */
export function finish(
  outputs: readonly TensorLike[],
  context: Letterbox,
  manifest: TaskManifest,
): FaceDetectionResult {
  const [regressors, classificators] = splitOutputs(outputs, manifest);
  const { size } = manifest.preprocess;
  if (!size) throw new Error("preprocess.size is missing: boxes cannot be mapped back");
  return detect(regressors, classificators, context, size, manifest.postprocess);
}
