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

export interface Coefficients {
  /** Per output pixel: first input pixel, number of input pixels. */
  readonly bounds: Int32Array;
  /** Per output pixel, `ksize` fixed-point weights. */
  readonly weights: Int32Array;
  readonly ksize: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis (box = the whole image). */
function computeCoefficients(inSize: number, outSize: number): Coefficients {
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

/** How many (in size, out size) pairs keep their coefficients: a camera or a page reuses a few sizes. */
const COEFFICIENT_CACHE_SIZE = 32;
const coefficientCache = new Map<number, Coefficients>();

/**
 * The coefficients of one axis, `inSize` -> `outSize` pixels, computed once per pair (the
 * filter is always BILINEAR) and kept in a small least-recently-used cache. Read-only.
 */
export function coefficients(inSize: number, outSize: number): Coefficients {
  const key = inSize * 0x100000 + outSize; // sizes are < 2^20 (MAX_IMAGE_PIXELS is far below)
  const hit = coefficientCache.get(key);
  if (hit) {
    coefficientCache.delete(key); // move to the young end
    coefficientCache.set(key, hit);
    return hit;
  }
  const made = computeCoefficients(inSize, outSize);
  coefficientCache.set(key, made);
  if (coefficientCache.size > COEFFICIENT_CACHE_SIZE) {
    coefficientCache.delete(coefficientCache.keys().next().value!);
  }
  return made;
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

// ---------------------------------------------------------------- the fast path

/**
 * 8-bit pixels as `resampleRows` reads them, in place: `channels` values (grey, or RGB) per
 * pixel, pixels `stride` bytes apart. An opaque RGBA buffer (an `ImageData`) is read as RGB
 * with stride 4, with no copy.
 */
export interface Plane {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly stride: 1 | 3 | 4;
}

/** A rectangle of the resized image: columns `left`.., rows `top`.. */
export interface Window {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Takes each row of the window, top to bottom (`y` from 0): `channels` bytes per pixel, packed.
 * The row buffer is reused for the next row: read it before returning.
 */
export type RowSink = (row: Uint8Array, y: number) => void;

// The sums stay below 2^31 (255 times weights that add up to about 2^22, plus HALF), so they
// are computed in int32 (Math.imul, | 0) as in Pillow's C: the same values, faster in V8.

// Working memory reused across calls (a worker prepares one input at a time): no per-call
// allocation of the intermediate image, the row or the accumulator.
let scratchBytes = new Uint8Array(0);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let scratchRow = new Uint8Array(0);
let scratchSums = new Int32Array(0);

function bytes(size: number): Uint8Array {
  if (scratchBytes.length < size) scratchBytes = new Uint8Array(Math.max(size, scratchBytes.length * 2));
  return scratchBytes;
}

/**
 * One output row of Pillow's horizontal pass: window columns `left`..`left + width` of the
 * source row starting at byte `rowStart`, into `out` (packed). `shift` is subtracted from every
 * first input pixel (the source holds columns from `shift` on). `words` is `data` seen as 32-bit
 * pixels, when the source is RGBA on a little-endian machine.
 */
function horizontalRow(
  data: Uint8Array | Uint8ClampedArray, words: Uint32Array | null, stride: number, channels: number, rowStart: number,
  h: Coefficients, left: number, width: number, shift: number, out: Uint8Array, outStart: number,
): void {
  const { bounds, weights, ksize } = h;
  if (stride === 4 && words !== null) {
    // RGB read from RGBA, one 32-bit load per pixel (little-endian: red is the low byte)
    for (let xx = 0, o = outStart; xx < width; xx++, o += 3) {
      const j = left + xx;
      const n = bounds[j * 2 + 1]!;
      const k = j * ksize;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let x = 0, q = (rowStart >> 2) + bounds[j * 2]! - shift; x < n; x++, q++) {
        const w = weights[k + x]!;
        const pixel = words[q]!;
        r = (r + Math.imul(pixel & 0xff, w)) | 0;
        g = (g + Math.imul((pixel >> 8) & 0xff, w)) | 0;
        b = (b + Math.imul((pixel >> 16) & 0xff, w)) | 0;
      }
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
    return;
  }
  if (channels === 3) {
    for (let xx = 0, o = outStart; xx < width; xx++, o += 3) {
      const j = left + xx;
      const n = bounds[j * 2 + 1]!;
      const k = j * ksize;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let x = 0, p = rowStart + (bounds[j * 2]! - shift) * stride; x < n; x++, p += stride) {
        const w = weights[k + x]!;
        r = (r + Math.imul(data[p]!, w)) | 0;
        g = (g + Math.imul(data[p + 1]!, w)) | 0;
        b = (b + Math.imul(data[p + 2]!, w)) | 0;
      }
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
    return;
  }
  for (let xx = 0; xx < width; xx++) {
    const j = left + xx;
    const n = bounds[j * 2 + 1]!;
    const k = j * ksize;
    let sum = HALF;
    for (let x = 0, p = rowStart + (bounds[j * 2]! - shift) * stride; x < n; x++, p += stride) {
      sum = (sum + Math.imul(data[p]!, weights[k + x]!)) | 0;
    }
    out[outStart + xx] = clip8(sum);
  }
}

/**
 * One output row `yy` of Pillow's vertical pass: columns `left`..`left + width` (pixels) of a
 * source whose rows are `rowBytes` long and start at row `firstRow`, into `out` (packed).
 * The weighted rows are summed into an accumulator row, so memory is read in order.
 */
function verticalRow(
  data: Uint8Array | Uint8ClampedArray, stride: number, channels: number, rowBytes: number, firstRow: number,
  v: Coefficients, yy: number, left: number, width: number, out: Uint8Array, outStart: number,
): void {
  const count = width * channels;
  if (scratchSums.length < count) scratchSums = new Int32Array(count);
  const sums = scratchSums;
  sums.fill(HALF, 0, count);
  const ymin = v.bounds[yy * 2]! - firstRow;
  const n = v.bounds[yy * 2 + 1]!;
  const k = yy * v.ksize;
  for (let y = 0; y < n; y++) {
    const w = v.weights[k + y]!;
    const base = (ymin + y) * rowBytes + left * stride;
    if (stride === channels) {
      for (let i = 0; i < count; i++) sums[i] = (sums[i]! + Math.imul(data[base + i]!, w)) | 0;
    } else {
      // RGB read from RGBA: skip every fourth byte
      for (let x = 0, i = 0, p = base; x < width; x++, i += 3, p += stride) {
        sums[i] = (sums[i]! + Math.imul(data[p]!, w)) | 0;
        sums[i + 1] = (sums[i + 1]! + Math.imul(data[p + 1]!, w)) | 0;
        sums[i + 2] = (sums[i + 2]! + Math.imul(data[p + 2]!, w)) | 0;
      }
    }
  }
  for (let i = 0; i < count; i++) out[outStart + i] = clip8(sums[i]!);
}

/**
 * `resample(image, width, height)` cropped to `window`, row by row into `sink`: the same bytes,
 * bit for bit (the same coefficients, sums and rounding, and the same pass order), but only the
 * window is computed (a centre crop resizes no pixel it drops), the source is read in place (no
 * RGB copy of an `ImageData`), the coefficients come from the cache, and the intermediate image
 * and the rows live in reused memory.
 */
export function resampleRows(src: Plane, width: number, height: number, window: Window, sink: RowSink): void {
  const { data, width: inW, height: inH, channels, stride } = src;
  const { left, top, width: outW, height: outH } = window;
  if (left < 0 || top < 0 || left + outW > width || top + outH > height || outW < 1 || outH < 1) {
    throw new RangeError(`window ${outW}x${outH} at ${left},${top} is outside the ${width}x${height} image`);
  }
  const rowLength = outW * channels;
  if (scratchRow.length < rowLength) scratchRow = new Uint8Array(rowLength);
  const row = scratchRow;
  const inRowBytes = inW * stride;
  const needHorizontal = width !== inW;
  const needVertical = height !== inH;
  if (!needHorizontal && !needVertical) {
    for (let y = 0; y < outH; y++) {
      const base = (top + y) * inRowBytes + left * stride;
      for (let x = 0; x < outW; x++) {
        for (let c = 0; c < channels; c++) row[x * channels + c] = data[base + x * stride + c]!;
      }
      sink(row, y);
    }
    return;
  }
  const h = needHorizontal ? coefficients(inW, width) : null;
  const words =
    stride === 4 && LITTLE_ENDIAN && data.byteOffset % 4 === 0
      ? new Uint32Array(data.buffer, data.byteOffset, inW * inH)
      : null;
  const v = needVertical ? coefficients(inH, height) : null;
  if (!v) {
    for (let y = 0; y < outH; y++) {
      horizontalRow(data, words, stride, channels, (top + y) * inRowBytes, h!, left, outW, 0, row, 0);
      sink(row, y);
    }
    return;
  }
  if (!h) {
    for (let y = 0; y < outH; y++) {
      verticalRow(data, stride, channels, inRowBytes, 0, v, top + y, left, outW, row, 0);
      sink(row, y);
    }
    return;
  }
  const horizontalFirst = !(inH - height > 0 && inH - height > (inW - width) * 2);
  if (horizontalFirst) {
    // The source rows the window's output rows read, narrowed to the window's columns.
    const firstRow = v.bounds[top * 2]!;
    const last = (top + outH - 1) * 2;
    const rows = v.bounds[last]! + v.bounds[last + 1]! - firstRow;
    const narrowed = bytes(rows * rowLength);
    for (let y = 0; y < rows; y++) {
      horizontalRow(data, words, stride, channels, (firstRow + y) * inRowBytes, h, left, outW, 0, narrowed, y * rowLength);
    }
    for (let y = 0; y < outH; y++) {
      verticalRow(narrowed, channels, channels, rowLength, firstRow, v, top + y, 0, outW, row, 0);
      sink(row, y);
    }
    return;
  }
  // Vertical first: the window's rows, over the source columns its output columns read.
  const firstColumn = h.bounds[left * 2]!;
  const last = (left + outW - 1) * 2;
  const columns = h.bounds[last]! + h.bounds[last + 1]! - firstColumn;
  const shortRow = columns * channels;
  const shortened = bytes(outH * shortRow);
  for (let y = 0; y < outH; y++) {
    verticalRow(data, stride, channels, inRowBytes, 0, v, top + y, firstColumn, columns, shortened, y * shortRow);
  }
  for (let y = 0; y < outH; y++) {
    horizontalRow(shortened, null, channels, channels, y * shortRow, h, left, outW, firstColumn, row, 0);
    sink(row, y);
  }
}
