/**
 * Pillow's bilinear resampler, ported for imaging.ts: every resize mode
 * scales with `resample`.
 *
 * The server resizes with Pillow's `Image.resize(..., BILINEAR)`, which is not
 * a canvas's bilinear: it is a separable convolution with a triangle filter
 * whose support grows with the downscale factor (it antialiases when
 * shrinking), in 8-bit fixed point, in two passes with the intermediate
 * rounded to 8 bits. `resample` reproduces Pillow 13's ImagingResample
 * (src/libImaging/Resample.c) step for step, so the browser's tensors equal
 * the server's, not merely resemble them.
 */

import type { Raster } from "./imaging.js";

/** Pillow keeps filter weights in fixed point with this many fractional bits. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Pillow's bilinear_filter: a triangle of support 1. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

interface Coefficients {
  /** Per output pixel: first input pixel, number of input pixels. */
  readonly bounds: Int32Array;
  /** Per output pixel, `ksize` fixed-point weights. */
  readonly weights: Int32Array;
  readonly ksize: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis (box = the whole image). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const inverseScale = 1.0 / filterScale; // Pillow multiplies by the inverse; so must we, to the bit
  const support = filterScale; // BILINEAR support is 1, widened when shrinking
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts to int: truncation towards zero, then clamping.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = triangle((x + xmin - center + 0.5) * inverseScale);
      sum += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      weights[xx * ksize + x] = Math.trunc(0.5 + w * ONE); // weights are >= 0
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

/** Pillow's clip8: drop the fraction bits, clamp to 0..255. */
function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow's ImagingResampleHorizontal_8bpc: `rows` rows of `image` from row
 * `firstRow` on, resampled to `width` columns. RGB gets its own loop that
 * reads each pixel once, as Pillow's does: this pass does most of the work
 * when a photo is shrunk.
 */
function horizontalPass(image: Raster, width: number, firstRow: number, rows: number): Raster {
  const { bounds, weights, ksize } = coefficients(image.width, width);
  const { channels, data } = image;
  const out = new Uint8Array(width * rows * channels);
  for (let yy = 0; yy < rows; yy++) {
    const inRow = (yy + firstRow) * image.width * channels;
    const outRow = yy * width * channels;
    for (let xx = 0; xx < width; xx++) {
      const xmin = bounds[xx * 2]!;
      const xmax = bounds[xx * 2 + 1]!;
      const k = xx * ksize;
      if (channels === 3) {
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let x = 0, p = inRow + xmin * 3; x < xmax; x++, p += 3) {
          const w = weights[k + x]!;
          r += data[p]! * w;
          g += data[p + 1]! * w;
          b += data[p + 2]! * w;
        }
        out[outRow + xx * 3] = clip8(r);
        out[outRow + xx * 3 + 1] = clip8(g);
        out[outRow + xx * 3 + 2] = clip8(b);
      } else {
        let sum = HALF;
        for (let x = 0; x < xmax; x++) sum += data[inRow + xmin + x]! * weights[k + x]!;
        out[outRow + xx] = clip8(sum);
      }
    }
  }
  return { data: out, width, height: rows, channels };
}

/**
 * Pillow's ImagingResampleVertical_8bpc: `image` to `height` rows with the
 * `vertical` coefficients of the source height, where `image` holds the
 * source rows from `firstRow` on.
 */
function verticalPass(image: Raster, height: number, vertical: Coefficients, firstRow: number): Raster {
  const { bounds, weights, ksize } = vertical;
  const stride = image.width * image.channels;
  const out = new Uint8Array(stride * height);
  for (let yy = 0; yy < height; yy++) {
    const ymin = bounds[yy * 2]! - firstRow;
    const ymax = bounds[yy * 2 + 1]!;
    const k = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let sum = HALF;
      for (let y = 0; y < ymax; y++) {
        sum += image.data[(ymin + y) * stride + i]! * weights[k + y]!;
      }
      out[yy * stride + i] = clip8(sum);
    }
  }
  return { data: out, width: image.width, height, channels: image.channels };
}

/**
 * Resize with Pillow's BILINEAR filter, as `Image.resize((width, height), BILINEAR)`
 * in Pillow 13 (ImagingResampleInner): identical 8-bit output for grey and RGB.
 *
 * The two passes round to 8 bits in between, so their order matters: Pillow
 * runs the horizontal pass first (on just the rows the vertical pass reads)
 * unless the height shrinks by more than twice as many pixels as the width
 * (Pillow >= 13, python-pillow/Pillow#9549); then the vertical pass goes first.
 */
export function resample(image: Raster, width: number, height: number): Raster {
  const { width: inW, height: inH } = image;
  const needHorizontal = width !== inW;
  const needVertical = height !== inH;
  if (!needHorizontal && !needVertical) {
    return { ...image, data: image.data.slice() };
  }
  const horizontalFirst = !(inH - height > 0 && inH - height > (inW - width) * 2);
  const vertical = coefficients(inH, height);
  if (horizontalFirst) {
    let firstRow = 0;
    let rows = inH;
    if (needHorizontal) {
      firstRow = vertical.bounds[0]!;
      rows = vertical.bounds[(height - 1) * 2]! + vertical.bounds[(height - 1) * 2 + 1]! - firstRow;
    }
    const narrowed = needHorizontal ? horizontalPass(image, width, firstRow, rows) : image;
    return needVertical ? verticalPass(narrowed, height, vertical, firstRow) : narrowed;
  }
  const shortened = needVertical ? verticalPass(image, height, vertical, 0) : image;
  return needHorizontal ? horizontalPass(shortened, width, 0, height) : shortened;
}
