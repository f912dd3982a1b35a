/**
 * BlazeFace post-processing against tests/data/golden/face_detection.json
 * (raw ONNX outputs of real photos; expected faces from Python's
 * contract.tasks.face_detection.finish), plus the behaviours tests/contract/test_face_detection.py checks.
 */

import { describe, expect, it } from "vitest";

import {
  decode,
  finish,
  generateAnchors,
  overlapSimilarity,
  prepare,
  weightedNms,
  type Detection,
} from "../../src/tasks/face_detection.js";
import { Letterbox } from "../../src/tasks/imaging.js";
import type {
  AnchorOptions,
  FaceDetectionPostprocess,
  FaceDetectionResult,
  ImagePreprocess,
  TaskManifest,
  TensorLike,
} from "../../src/tasks/types.js";
import { decodeFloat32, iou, readGolden, type EncodedTensor } from "./golden.js";

interface FaceGolden {
  anchors: Array<{ options: AnchorOptions; count: number; samples: Record<string, number[]> }>;
  cases: Array<{
    name: string;
    source_size: [number, number];
    preprocess: ImagePreprocess;
    postprocess: FaceDetectionPostprocess;
    letterbox: { source_width: number; source_height: number; scale: number; pad_x: number; pad_y: number };
    outputs: { regressors: EncodedTensor; classificators: EncodedTensor };
    expected: FaceDetectionResult;
  }>;
}

const GOLDEN = readGolden<FaceGolden>("face_detection.json");
/** The short-range settings, as the recipe writes them into a manifest (the goldens carry them). */
const SHORT_RANGE_POSTPROCESS: FaceDetectionPostprocess = GOLDEN.cases[0]!.postprocess;
const SHORT_RANGE_ANCHORS: AnchorOptions = SHORT_RANGE_POSTPROCESS.anchors as AnchorOptions;
const PREPROCESS: ImagePreprocess = {
  size: [128, 128], resize: "letterbox", colour: "RGB", layout: "NHWC",
  mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5],
};

function manifest(post: FaceDetectionPostprocess = SHORT_RANGE_POSTPROCESS, named = true): TaskManifest {
  return {
    inputs: [{ name: "input", dtype: "float32", shape: [1, 128, 128, 3] }],
    outputs: named
      ? [
          { name: "regressors", dtype: "float32", shape: [1, 896, 16] },
          { name: "classificators", dtype: "float32", shape: [1, 896, 1] },
        ]
      : [],
    preprocess: PREPROCESS,
    postprocess: post,
  };
}

function letterboxOf(lb: FaceGolden["cases"][number]["letterbox"]): Letterbox {
  return new Letterbox(lb.source_width, lb.source_height, lb.scale, lb.pad_x, lb.pad_y);
}

/** Raw outputs with every anchor at logit -20 except `hits` (anchor -> [values, logit]). */
function rawOutputs(hits: Record<number, [number[], number]>): [TensorLike, TensorLike] {
  const reg = new Float32Array(896 * 16);
  const cls = new Float32Array(896).fill(-20);
  for (const [anchor, [values, logit]] of Object.entries(hits)) {
    reg.set(values, Number(anchor) * 16);
    cls[Number(anchor)] = logit;
  }
  return [
    { data: reg, dims: [1, 896, 16] },
    { data: cls, dims: [1, 896, 1] },
  ];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function expectPointsClose(got: Detection, want: Detection): void {
  expect(got).toHaveLength(want.length);
  got.forEach(([x, y], p) => {
    expect(x).toBeCloseTo(want[p]![0], 12);
    expect(y).toBeCloseTo(want[p]![1], 12);
  });
}

describe("anchors", () => {
  it.each(GOLDEN.anchors.map((a) => [a.count, a] as const))("match the golden (%i anchors)", (_count, golden) => {
    const anchors = generateAnchors(golden.options);
    expect(anchors).toHaveLength(golden.count);
    for (const [index, expected] of Object.entries(golden.samples)) {
      anchors[Number(index)]!.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(1e-7));
    }
  });

  it("lay out the short-range model and are cached", () => {
    const anchors = generateAnchors(SHORT_RANGE_ANCHORS);
    expect(anchors).toHaveLength(896);
    // 16x16 cells x 2 anchors at stride 8, then 8x8 cells x 6 anchors at stride 16.
    expect(anchors[0]).toEqual([0.5 / 16, 0.5 / 16, 1, 1]);
    expect(anchors[1]).toEqual(anchors[0]);
    expect(anchors[511]).toEqual([15.5 / 16, 15.5 / 16, 1, 1]);
    expect(anchors[512]).toEqual([0.5 / 8, 0.5 / 8, 1, 1]);
    expect(anchors[895]).toEqual([7.5 / 8, 7.5 / 8, 1, 1]);
    expect(generateAnchors({ ...SHORT_RANGE_ANCHORS })).toBe(anchors); // cached
    expect(Object.isFrozen(anchors) && Object.isFrozen(anchors[0])).toBe(true);
  });

  it("have sizes without fixed_anchor_size", () => {
    const anchors = generateAnchors({ ...SHORT_RANGE_ANCHORS, fixed_anchor_size: false });
    const s0 = 0.1484375;
    const s1 = 0.1484375 + (0.75 - 0.1484375) / 3;
    expect(anchors[0]![2]).toBeCloseTo(s0, 12);
    expect(anchors[1]![2]).toBeCloseTo(Math.sqrt(s0 * s1), 12);
  });

  it("refuse strides that disagree with num_layers", () => {
    expect(() => generateAnchors({ ...SHORT_RANGE_ANCHORS, num_layers: 3 })).toThrow(/4 entries, num_layers is 3/);
  });

  it("names a setting the manifest lacks instead of assuming one", () => {
    const { strides: _, ...noStrides } = SHORT_RANGE_ANCHORS;
    expect(() => generateAnchors(noStrides)).toThrow(/postprocess\.anchors\.strides is missing/);
    const { score_threshold: __, ...noThreshold } = SHORT_RANGE_POSTPROCESS;
    const [reg, cls] = rawOutputs({ 0: [[0, 0, 10, 10], 5] });
    expect(() => decode(reg as never, cls as never, generateAnchors(SHORT_RANGE_ANCHORS), noThreshold)).toThrow(
      /postprocess\.score_threshold is missing/,
    );
  });
});

describe("golden cases", () => {
  it("include faces and a photo without one", () => {
    expect(GOLDEN.cases.map((c) => c.name)).toEqual(expect.arrayContaining(["astronaut", "coffee"]));
  });

  it.each(GOLDEN.cases.map((c) => [c.name, c] as const))("%s", (_name, golden) => {
    const outputs = [decodeFloat32(golden.outputs.regressors), decodeFloat32(golden.outputs.classificators)];
    const m = { ...manifest(golden.postprocess), preprocess: golden.preprocess };
    const { faces } = finish(outputs, letterboxOf(golden.letterbox), m);
    const want = golden.expected.faces;
    expect(faces).toHaveLength(want.length);
    faces.forEach((face, i) => {
      expect(iou(face.box, want[i]!.box)).toBeGreaterThanOrEqual(0.99);
      expect(Math.abs(face.score - want[i]!.score)).toBeLessThanOrEqual(1e-4);
      face.keypoints.forEach(([x, y], k) => {
        expect(Math.abs(x - want[i]!.keypoints[k]![0])).toBeLessThanOrEqual(0.5);
        expect(Math.abs(y - want[i]!.keypoints[k]![1])).toBeLessThanOrEqual(0.5);
      });
    });
    const scores = faces.map((f) => f.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it.each(GOLDEN.cases.map((c) => [c.name, c] as const))("%s: prepare gives the golden letterbox", (_name, golden) => {
    const [width, height] = golden.source_size;
    const pixels = { data: new Uint8ClampedArray(width * height * 4), width, height };
    const { feeds, context } = prepare(pixels, manifest());
    expect(feeds["input"]!.dims).toEqual([1, 128, 128, 3]);
    expect([context.sourceWidth, context.sourceHeight]).toEqual([width, height]);
    expect(context.scale).toBeCloseTo(golden.letterbox.scale, 12);
    expect(context.padX === golden.letterbox.pad_x && context.padY === golden.letterbox.pad_y).toBe(true);
  });

  it("finds the outputs by shape when the manifest does not name them", () => {
    const golden = GOLDEN.cases[0]!;
    const reg = decodeFloat32(golden.outputs.regressors);
    const cls = decodeFloat32(golden.outputs.classificators);
    const box = letterboxOf(golden.letterbox);
    const byName = finish([reg, cls], box, manifest());
    expect(finish([cls, reg], box, manifest(SHORT_RANGE_POSTPROCESS, false))).toEqual(byName);
    const reversed = { ...manifest(), outputs: [...manifest().outputs!].reverse() };
    expect(finish([cls, reg], box, reversed)).toEqual(byName);
    expect(() => finish([reg, reg], box, manifest(SHORT_RANGE_POSTPROCESS, false))).toThrow(/cannot tell/);
  });
});

describe("decoding and NMS", () => {
  it("decodes geometry and applies the score threshold", () => {
    const anchors = generateAnchors(SHORT_RANGE_ANCHORS);
    // Anchor 0 is centred at (4, 4) model pixels; shift by (+8, -2) px, size 32x16 px.
    const [reg, cls] = rawOutputs({
      0: [[8, -2, 32, 16, 1, 2], 3],
      1: [[0, 0, 10, 10], 0], // sigmoid(0) = 0.5: kept (score >= threshold)
      2: [[0, 0, -1, 10], 5], // negative width: dropped
      3: [[0, 0, 10, 10], -0.01], // just below 0.5: dropped
    });
    const { detections, scores } = decode(
      reg as { data: Float32Array; dims: number[] },
      cls as { data: Float32Array; dims: number[] },
      anchors,
      SHORT_RANGE_POSTPROCESS,
    );
    expect(detections).toHaveLength(2);
    expect(scores[0]).toBeCloseTo(sigmoid(3), 12);
    expect(scores[1]).toBe(0.5);
    const px = (p: [number, number]) => p.map((v) => v * 128);
    expect(px(detections[0]![0]!)).toEqual([12 - 16, 2 - 8]);
    expect(px(detections[0]![1]!)).toEqual([12 + 16, 2 + 8]);
    expect(px(detections[0]![2]!)).toEqual([4 + 1, 4 + 2]);
  });

  it("clips logits before the sigmoid", () => {
    const [reg, cls] = rawOutputs({ 0: [[0, 0, 10, 10], 1e6] });
    const { scores } = decode(
      reg as { data: Float32Array; dims: number[] },
      cls as { data: Float32Array; dims: number[] },
      generateAnchors(SHORT_RANGE_ANCHORS),
      SHORT_RANGE_POSTPROCESS,
    );
    expect(scores).toEqual([1]);
  });

  it("merges overlapping boxes by score", () => {
    const det = (x0: number, y0: number, x1: number, y1: number): Detection => [
      [x0, y0], [x1, y1], [(x0 + x1) / 2, (y0 + y1) / 2],
    ];
    const dets = [
      det(0.1, 0.1, 0.3, 0.3), // 0.6
      det(0.12, 0.12, 0.32, 0.32), // 0.9, best; IoU with the first ~0.68
      det(0.6, 0.6, 0.8, 0.8), // 0.7, apart
      det(0.2, 0.2, 0.4, 0.4), // 0.55, IoU with the best ~0.22: stays apart
    ];
    const out = weightedNms(dets, [0.6, 0.9, 0.7, 0.55], 0.3);
    expect(out.map((o) => o.score)).toEqual([0.9, 0.7, 0.55]);
    const merged = dets[0]!.map(([x, y], p): [number, number] => [
      (0.6 * x + 0.9 * dets[1]![p]![0]) / 1.5,
      (0.6 * y + 0.9 * dets[1]![p]![1]) / 1.5,
    ]);
    expectPointsClose(out[0]!.detection, merged);
    expectPointsClose(out[1]!.detection, dets[2]!); // merged with itself alone
    expectPointsClose(out[2]!.detection, dets[3]!);
  });

  it("merges two anchors of one cell into one face through finish", () => {
    const outputs = rawOutputs({
      0: [[0, 0, 20, 20, ...new Array(12).fill(0)], 2],
      1: [[2, 0, 20, 20, ...new Array(6).fill([2, 0]).flat()], 1],
    });
    const { faces } = finish(outputs, new Letterbox(128, 128, 1, 0, 0), manifest());
    expect(faces).toHaveLength(1);
    const shift = (2 * sigmoid(1)) / (sigmoid(2) + sigmoid(1));
    expect(faces[0]!.score).toBeCloseTo(sigmoid(2), 6);
    [-6 + shift, -6, 20, 20].forEach((v, i) => expect(faces[0]!.box[i]).toBeCloseTo(v, 2));
    expect(faces[0]!.keypoints[0]![0]).toBeCloseTo(4 + shift, 2);
  });

  it("measures IoU", () => {
    const a: Detection = [[0, 0], [1, 1]];
    expect(overlapSimilarity(a, [[2, 2], [3, 3]])).toBe(0);
    expect(overlapSimilarity(a, a)).toBe(1);
  });
});

describe("letterbox", () => {
  it("maps a non-square image back to source pixels", () => {
    const pixels = { data: new Uint8ClampedArray(400 * 200 * 4), width: 400, height: 200 };
    for (let i = 0; i < 400 * 200; i++) pixels.data.set([200, 10, 10, 255], i * 4);
    const { feeds, context } = prepare(pixels, manifest());
    // 400x200 -> 128x64 placed at y = 32.
    expect([context.scale, context.padX, context.padY]).toEqual([0.32, 0, 32]);
    const input = feeds["input"]!.data as Float32Array;
    expect([...input.subarray(0, 3)]).toEqual([-1, -1, -1]); // black padding -> -1
    expect(input[(64 * 128 + 64) * 3]).toBeCloseTo((200 - 127.5) / 127.5, 6);
    // A face centred at model (64, 64) px, 32 px wide, from anchor 512 + 6 * (3 * 8 + 3).
    const outputs = rawOutputs({ [512 + 6 * 27]: [[8, 8, 32, 32, 8, 8], 4] });
    const { faces } = finish(outputs, context, manifest());
    expect(faces).toHaveLength(1);
    // Model px (48, 48)-(80, 80) -> source (150, 50), 100 px wide.
    expect(faces[0]!.box).toEqual([150, 50, 100, 100]);
    expect(faces[0]!.keypoints[0]).toEqual([200, 100]);
  });

  it("prepare refuses stretch", () => {
    const stretched = { ...manifest(), preprocess: { ...PREPROCESS, resize: "stretch" as const } };
    const pixels = { data: new Uint8ClampedArray(10 * 10 * 4), width: 10, height: 10 };
    expect(() => prepare(pixels, stretched)).toThrow(/letterbox/);
  });
});
