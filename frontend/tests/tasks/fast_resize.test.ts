/**
 * The fast pre-processing path (`toTensor`: pixels read in place, `resampleRows` on the kept
 * window only, a normalisation table) against the reference steps it replaces (`toColour`,
 * `resize` with Pillow's `resample`, then (x - mean) / std value by value), which the goldens
 * pin to Python and Pillow. Equal means bit for bit: max abs diff 0, on random images that
 * cover both pass orders, shrinking and enlarging, one-axis resizes, no resize, transparency,
 * grey and RGB, every resize mode and both layouts.
 */

import { describe, expect, it } from "vitest";

import { imagePreprocess, resize, toColour, toTensor } from "../../src/tasks/imaging.js";
import { coefficients, resample, resampleRows } from "../../src/tasks/pillow_resample.js";
import type { ImagePreprocess, PixelsLike } from "../../src/tasks/types.js";

/** A small deterministic generator (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random RGBA pixels; `alpha` "opaque", "mixed" (alpha 0, 1, 128, 254, 255 and random) */
function image(width: number, height: number, seed: number, alpha: "opaque" | "mixed"): PixelsLike {
  const next = random(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  const levels = [0, 1, 128, 254, 255];
  for (let i = 0; i < data.length; i += 4) {
    // smooth-ish content plus noise, so the filters average real differences
    data[i] = (i / 4) % width * 7 + next() * 40;
    data[i + 1] = Math.floor(i / 4 / width) * 5 + next() * 40;
    data[i + 2] = next() * 256;
    data[i + 3] = alpha === "opaque" ? 255 : next() < 0.5 ? levels[Math.floor(next() * 5)]! : next() * 256;
  }
  return { data, width, height };
}

/** The reference: the steps Python runs, one after another. */
function reference(pixels: PixelsLike, spec: Partial<ImagePreprocess>): { data: Float32Array; dims: number[] } {
  const { size, resize: mode, colour, layout, mean, std } = imagePreprocess(spec);
  const { image: resized } = resize(toColour(pixels, colour), size, mode);
  const { width, height, channels, data } = resized;
  // float32 mean and std, as numpy holds them (imaging.ts perChannel)
  const means = Float32Array.from(mean.length === 1 ? Array(channels).fill(mean[0]) : mean);
  const stds = Float32Array.from(std.length === 1 ? Array(channels).fill(std[0]) : std);
  const out = new Float32Array(width * height * channels);
  const plane = width * height;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const value = Math.fround(data[p * channels + c]! - means[c]!) / stds[c]!;
      out[layout === "NCHW" ? c * plane + p : p * channels + c] = value;
    }
  }
  return { data: out, dims: layout === "NCHW" ? [1, channels, height, width] : [1, height, width, channels] };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

// Source sizes against targets: shrinking (horizontal pass first, and the tall image Pillow
// shrinks vertically first), enlarging, one axis only, odd factors, and the target size itself.
const SOURCES: Array<[number, number]> = [
  [97, 61], [61, 97], [40, 300], [300, 40], [64, 64], [13, 7], [1, 1], [128, 96], [200, 33],
];
const SPECS: Array<Partial<ImagePreprocess>> = [
  { size: [32, 32], resize: "stretch", colour: "RGB", layout: "NCHW", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  { size: [24, 40], resize: "center-crop", colour: "RGB", layout: "NHWC", mean: [127.5], std: [127.5] },
  { size: [64, 64], resize: "letterbox", colour: "RGB", layout: "NHWC", mean: [127.5], std: [127.5] },
  { size: [48, 48], resize: "stretch", colour: "L", layout: "NCHW", mean: [0], std: [255] },
  { size: [30, 20], resize: "letterbox", colour: "L", layout: "NHWC" },
  { size: [61, 97], resize: "center-crop", colour: "RGB", layout: "NCHW" },
  { size: [96, 128], resize: "stretch", colour: "RGB", layout: "NHWC", mean: [1, 2, 3], std: [3, 2, 1] },
];

describe("the fast path equals the reference steps", () => {
  const cases = SOURCES.flatMap(([w, h], i) =>
    SPECS.flatMap((spec, j) =>
      (["opaque", "mixed"] as const).map((alpha) => [`${w}x${h} ${alpha} -> ${JSON.stringify(spec)}`, w, h, i * 31 + j, alpha, spec] as const),
    ),
  );
  it.each(cases)("%s", (_name, w, h, seed, alpha, spec) => {
    const pixels = image(w, h, seed, alpha);
    const want = reference(pixels, spec);
    const got = toTensor(pixels, spec).tensor;
    expect(got.dims).toEqual(want.dims);
    expect(maxAbsDiff(got.data, want.data)).toBe(0);
  });

  it("reads an ImageData that is a view into a larger buffer, at an odd offset", () => {
    const pixels = image(33, 21, 5, "opaque");
    const holder = new Uint8ClampedArray(pixels.data.length + 3);
    holder.set(pixels.data, 3);
    const view = { ...pixels, data: holder.subarray(3) };
    for (const spec of SPECS) expect(maxAbsDiff(toTensor(view, spec).tensor.data, reference(pixels, spec).data)).toBe(0);
  });

  it("leaves the caller's pixels alone and is not changed by a later call", () => {
    const pixels = image(50, 40, 9, "mixed");
    const before = pixels.data.slice();
    const first = toTensor(pixels, SPECS[2]!).tensor.data.slice();
    const kept = toTensor(pixels, SPECS[2]!).tensor.data;
    toTensor(image(80, 20, 10, "mixed"), SPECS[2]!); // reuses the working memory
    expect(pixels.data).toEqual(before);
    expect(kept).toEqual(first);
  });
});

describe("resampleRows", () => {
  it("gives any window of `resample`'s output, row by row, in both pass orders", () => {
    const next = random(77);
    for (const [w, h, outW, outH] of [[90, 50, 31, 17], [20, 200, 15, 40], [16, 16, 50, 30], [40, 40, 40, 13]] as const) {
      const data = new Uint8Array(w * h * 3).map(() => next() * 256);
      const full = resample({ data, width: w, height: h, channels: 3 }, outW, outH);
      for (const [left, top, ww, wh] of [[0, 0, outW, outH], [3, 2, outW - 5, outH - 4], [outW - 1, outH - 1, 1, 1]] as const) {
        const rows: number[][] = [];
        resampleRows({ data, width: w, height: h, channels: 3, stride: 3 }, outW, outH, { left, top, width: ww, height: wh },
          (row, y) => { rows[y] = Array.from(row.subarray(0, ww * 3)); });
        for (let y = 0; y < wh; y++) {
          const from = ((top + y) * outW + left) * 3;
          expect(rows[y]).toEqual(Array.from(full.data.subarray(from, from + ww * 3)));
        }
      }
    }
  });

  it("refuses a window outside the resized image", () => {
    const plane = { data: new Uint8Array(12), width: 2, height: 2, channels: 3, stride: 3 } as const;
    expect(() => resampleRows(plane, 4, 4, { left: 2, top: 0, width: 3, height: 1 }, () => undefined)).toThrow(/outside/);
  });

  it("computes the coefficients of a size pair once", () => {
    expect(coefficients(512, 128)).toBe(coefficients(512, 128));
    expect(coefficients(512, 128)).not.toBe(coefficients(128, 512));
  });
});
