/**
 * Image geometry shared by the image tasks: resize modes, colour, layout,
 * normalisation. The port of app/tasks/imaging.py.
 *
 * Resize modes (`preprocess.resize`):
 * - `stretch`: scale both axes to the target size (aspect ratio not kept);
 * - `center-crop`: scale the short side to the target, crop the centre;
 * - `letterbox`: scale the long side to the target, pad the rest with black,
 *   centred (keeps the aspect ratio; boxes map back through the `Letterbox`).
 *
 * The server resizes with Pillow's `Image.resize(..., BILINEAR)`, which is not
 * a canvas's bilinear: it is a separable convolution with a triangle filter
 * whose support grows with the downscale factor (it antialiases when
 * shrinking), in 8-bit fixed point, in two passes with the intermediate
 * rounded to 8 bits. `resample` reproduces Pillow 13's ImagingResample
 * (src/libImaging/Resample.c) step for step, so the browser's tensors equal
 * the server's, not merely resemble them.
 */

import { roundHalfEven } from "./rounding.js";
import type { Colour, Feed, ImagePreprocess, Layout, PixelsLike, ResizeMode } from "./types.js";

export const RESIZE_MODES: readonly ResizeMode[] = ["stretch", "center-crop", "letterbox"];
export const COLOURS: readonly Colour[] = ["RGB", "L"];
export const LAYOUTS: readonly Layout[] = ["NHWC", "NCHW"];

/** Where the source image lies inside the model input, in model-input pixels. */
export class Letterbox {
  constructor(
    readonly sourceWidth: number,
    readonly sourceHeight: number,
    /** Model-input pixels per source pixel. */
    readonly scale: number,
    readonly padX: number,
    readonly padY: number,
  ) {}

  /** Map a point in model-input pixels back to source-image pixels. */
  toSource(x: number, y: number): [number, number] {
    return [(x - this.padX) / this.scale, (y - this.padY) / this.scale];
  }
}

/** An 8-bit image, channels interleaved row by row: grey (1) or RGB (3). */
export interface Raster {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

// ---------------------------------------------------------------- Pillow's bilinear resampling

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

// ---------------------------------------------------------------- resize modes

function crop(image: Raster, left: number, top: number, width: number, height: number): Raster {
  const { channels } = image;
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * channels;
    out.set(image.data.subarray(from, from + width * channels), y * width * channels);
  }
  return { data: out, width, height, channels };
}

function pasteOnBlack(image: Raster, width: number, height: number, x: number, y: number): Raster {
  const { channels } = image;
  const out = new Uint8Array(width * height * channels);
  for (let row = 0; row < image.height; row++) {
    const from = row * image.width * channels;
    out.set(image.data.subarray(from, from + image.width * channels), ((y + row) * width + x) * channels);
  }
  return { data: out, width, height, channels };
}

/** Resize `image` to `size` = [height, width] with `mode`; return it and its mapping. */
export function resize(
  image: Raster,
  size: readonly [number, number],
  mode: string,
): { image: Raster; letterbox: Letterbox } {
  const [height, width] = size;
  const { width: srcW, height: srcH } = image;
  if (mode === "stretch") {
    // Non-uniform scale: a single Letterbox cannot describe it for boxes, so
    // stretch is only offered to classification tasks.
    return {
      image: resample(image, width, height),
      letterbox: new Letterbox(srcW, srcH, width / srcW, 0, 0),
    };
  }
  if (mode === "center-crop") {
    const scale = Math.max(width / srcW, height / srcH);
    const newW = Math.max(width, roundHalfEven(srcW * scale));
    const newH = Math.max(height, roundHalfEven(srcH * scale));
    const left = Math.floor((newW - width) / 2);
    const top = Math.floor((newH - height) / 2);
    return {
      image: crop(resample(image, newW, newH), left, top, width, height),
      letterbox: new Letterbox(srcW, srcH, scale, -left, -top),
    };
  }
  if (mode === "letterbox") {
    const scale = Math.min(width / srcW, height / srcH);
    const newW = Math.max(1, roundHalfEven(srcW * scale));
    const newH = Math.max(1, roundHalfEven(srcH * scale));
    const padX = Math.floor((width - newW) / 2);
    const padY = Math.floor((height - newH) / 2);
    return {
      image: pasteOnBlack(resample(image, newW, newH), width, height, padX, padY),
      letterbox: new Letterbox(srcW, srcH, scale, padX, padY),
    };
  }
  throw new Error(`preprocess.resize is ${JSON.stringify(mode)}; allowed: ${RESIZE_MODES.join(", ")}`);
}

// ---------------------------------------------------------------- colour

/**
 * `colour * alpha / 255` rounded half up, in Skia's exact integers
 * (SkMulDiv255Round): the colour a canvas stores for a pixel, composited over
 * black. `colour` and `alpha` are 0..255. Python's `premultiply` in
 * app/tasks/imaging.py is the same arithmetic.
 */
export function premultiply(colour: number, alpha: number): number {
  const t = colour * alpha + 128;
  return (t + (t >> 8)) >> 8;
}

/**
 * RGBA pixels (an `ImageData`: unpremultiplied) -> an RGB or grey raster,
 * composited over black.
 *
 * Each colour channel becomes `premultiply(c, a)`, what Python's to_tensor
 * computes from the file (composite_on_black) before it resizes. A canvas
 * stores exactly these products; `getImageData` un-premultiplies them, and
 * premultiplying again gives them back (exactly, when the browser
 * un-premultiplies to the nearest integer: checked for every colour and alpha
 * in the tests), so browser and server see the same pixels. A fully
 * transparent pixel is black (the browser already hands it over as 0,0,0,0),
 * and an opaque one is unchanged. Grey is Pillow's ITU-R 601-2 luma in its
 * exact fixed point, (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, which
 * rounds where the documented R*299/1000 + G*587/1000 + B*114/1000 truncates.
 */
export function toColour(pixels: PixelsLike, colour: Colour): Raster {
  const { data, width, height } = pixels;
  if (data.length !== width * height * 4) {
    throw new Error(
      `pixels hold ${data.length} bytes; a ${width}x${height} RGBA image needs ${width * height * 4}`,
    );
  }
  const count = width * height;
  if (colour === "RGB") {
    const out = new Uint8Array(count * 3);
    for (let i = 0; i < count; i++) {
      const a = data[i * 4 + 3]!;
      out[i * 3] = premultiply(data[i * 4]!, a);
      out[i * 3 + 1] = premultiply(data[i * 4 + 1]!, a);
      out[i * 3 + 2] = premultiply(data[i * 4 + 2]!, a);
    }
    return { data: out, width, height, channels: 3 };
  }
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const a = data[i * 4 + 3]!;
    const r = premultiply(data[i * 4]!, a);
    const g = premultiply(data[i * 4 + 1]!, a);
    const b = premultiply(data[i * 4 + 2]!, a);
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return { data: out, width, height, channels: 1 };
}

// ---------------------------------------------------------------- tensor

function perChannel(values: readonly number[], channels: number, key: string): Float32Array {
  if (values.length === 1) return new Float32Array(channels).fill(values[0]!);
  if (values.length === channels) return Float32Array.from(values);
  throw new Error(
    `preprocess.${key} has ${values.length} values; give 1 or one per channel (${channels})`,
  );
}

/** Check the image part of `preprocess` and fill in the defaults Python uses. */
export function imagePreprocess(spec: Partial<ImagePreprocess>): Required<ImagePreprocess> {
  const size = spec.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`preprocess.size must be [height, width] in pixels, got ${JSON.stringify(size)}`);
  }
  const colour = spec.colour ?? "RGB";
  if (!COLOURS.includes(colour)) {
    throw new Error(`preprocess.colour is ${JSON.stringify(colour)}; allowed: ${COLOURS.join(", ")}`);
  }
  const layout = spec.layout ?? "NHWC";
  if (!LAYOUTS.includes(layout)) {
    throw new Error(`preprocess.layout is ${JSON.stringify(layout)}; allowed: ${LAYOUTS.join(", ")}`);
  }
  return {
    size: [size[0], size[1]],
    resize: spec.resize ?? "stretch",
    colour,
    layout,
    mean: spec.mean ?? [0],
    std: spec.std ?? [1],
  };
}

/**
 * Turn RGBA pixels (an `ImageData`) into a normalised float32 batch of one, as
 * `spec` (manifest.preprocess) says: colour, resize, (x - mean) / std, layout.
 */
export function toTensor(
  pixels: PixelsLike,
  spec: Partial<ImagePreprocess>,
): { tensor: Feed & { type: "float32" }; letterbox: Letterbox } {
  const { size, resize: mode, colour, layout, mean, std } = imagePreprocess(spec);
  const { image, letterbox } = resize(toColour(pixels, colour), size, mode);
  const { width, height, channels, data } = image;
  const means = perChannel(mean, channels, "mean");
  const stds = perChannel(std, channels, "std");
  const out = new Float32Array(width * height * channels);
  const plane = width * height;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      // float32 operands, as numpy computes it; float64 division then one
      // rounding to float32 gives the same correctly rounded quotient.
      const value = Math.fround(data[p * channels + c]! - means[c]!) / stds[c]!;
      out[layout === "NCHW" ? c * plane + p : p * channels + c] = value;
    }
  }
  const dims = layout === "NCHW" ? [1, channels, height, width] : [1, height, width, channels];
  return { tensor: { type: "float32", data: out, dims }, letterbox };
}
