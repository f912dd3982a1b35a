/**
 * Image geometry shared by the image tasks: resize modes, colour, layout,
 * normalisation. The port of contract/tasks/imaging.py.
 *
 * Resize modes (`preprocess.resize`):
 * - `stretch`: scale both axes to the target size (aspect ratio not kept);
 * - `center-crop`: scale the short side to the target, crop the centre;
 * - `letterbox`: scale the long side to the target, pad the rest with black,
 *   centred (keeps the aspect ratio; boxes map back through the `Letterbox`).
 *
 * Every resize mode scales with `resample` (pillow_resample.ts), a port of
 * Pillow 13's BILINEAR resampler, so the browser's tensors equal the server's.
 */

import { resample } from "./pillow_resample.js";
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
 * contract/tasks/imaging.py is the same arithmetic.
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
