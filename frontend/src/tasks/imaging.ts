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
 * Every resize mode scales with Pillow 13's BILINEAR resampler (pillow_resample.ts), so the
 * browser's tensors equal the server's: `resize` runs the reference steps (`resample`, then the
 * crop or the padding), `toTensor` the same integers in one go (`resampleRows`).
 */

import { type Plane, resample, resampleRows } from "./pillow_resample.js";
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

/**
 * Where a `srcW` x `srcH` image goes in a model input of `size` = [height, width] with `mode`:
 * the size it is resampled to, the window of that kept (`left`, `top`: a centre crop), where
 * the window lands in the input (`padX`, `padY`: a letterbox) and the mapping back.
 */
export interface Placement {
  readonly resizedWidth: number;
  readonly resizedHeight: number;
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
  readonly padX: number;
  readonly padY: number;
  readonly letterbox: Letterbox;
}

export function placement(srcW: number, srcH: number, size: readonly [number, number], mode: string): Placement {
  const [height, width] = size;
  if (mode === "stretch") {
    // Non-uniform scale: a single Letterbox cannot describe it for boxes, so
    // stretch is only offered to classification tasks.
    return {
      resizedWidth: width, resizedHeight: height, left: 0, top: 0, width, height, padX: 0, padY: 0,
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
      resizedWidth: newW, resizedHeight: newH, left, top, width, height, padX: 0, padY: 0,
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
      resizedWidth: newW, resizedHeight: newH, left: 0, top: 0, width: newW, height: newH, padX, padY,
      letterbox: new Letterbox(srcW, srcH, scale, padX, padY),
    };
  }
  throw new Error(`preprocess.resize is ${JSON.stringify(mode)}; allowed: ${RESIZE_MODES.join(", ")}`);
}

/**
 * Resize `image` to `size` = [height, width] with `mode`; return it and its mapping. The
 * reference path, step by step as Python runs it (`toTensor` computes the same bytes in one go).
 */
export function resize(
  image: Raster,
  size: readonly [number, number],
  mode: string,
): { image: Raster; letterbox: Letterbox } {
  const [height, width] = size;
  const at = placement(image.width, image.height, size, mode);
  const resized = resample(image, at.resizedWidth, at.resizedHeight);
  if (mode === "center-crop") return { image: crop(resized, at.left, at.top, width, height), letterbox: at.letterbox };
  if (mode === "letterbox") {
    return { image: pasteOnBlack(resized, width, height, at.padX, at.padY), letterbox: at.letterbox };
  }
  return { image: resized, letterbox: at.letterbox };
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
  const count = pixelCount(pixels);
  const channels = colour === "RGB" ? 3 : 1;
  const out = new Uint8Array(count * channels);
  colourInto(pixels.data, count, colour, out);
  return { data: out, width: pixels.width, height: pixels.height, channels };
}

/** Width x height of RGBA `pixels`, after checking that their bytes are that many pixels. */
function pixelCount(pixels: PixelsLike): number {
  const { data, width, height } = pixels;
  if (data.length !== width * height * 4) {
    throw new Error(
      `pixels hold ${data.length} bytes; a ${width}x${height} RGBA image needs ${width * height * 4}`,
    );
  }
  return width * height;
}

/** `toColour`'s bytes for `count` RGBA pixels of `data`, written into `out`. */
function colourInto(data: Uint8ClampedArray | Uint8Array, count: number, colour: Colour, out: Uint8Array): void {
  if (colour === "RGB") {
    for (let i = 0; i < count; i++) {
      const a = data[i * 4 + 3]!;
      out[i * 3] = premultiply(data[i * 4]!, a);
      out[i * 3 + 1] = premultiply(data[i * 4 + 1]!, a);
      out[i * 3 + 2] = premultiply(data[i * 4 + 2]!, a);
    }
    return;
  }
  for (let i = 0; i < count; i++) {
    const a = data[i * 4 + 3]!;
    const r = premultiply(data[i * 4]!, a);
    const g = premultiply(data[i * 4 + 1]!, a);
    const b = premultiply(data[i * 4 + 2]!, a);
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
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

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Every alpha is 255 (then compositing over black changes nothing). */
function opaque(data: Uint8ClampedArray | Uint8Array, count: number): boolean {
  if (LITTLE_ENDIAN && data.byteOffset % 4 === 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset, count);
    for (let i = 0; i < count; i++) if (words[i]! < 0xff000000) return false;
    return true;
  }
  for (let i = 3; i < count * 4; i += 4) if (data[i] !== 255) return false;
  return true;
}

let planeScratch = new Uint8Array(0);

/**
 * `toColour` as a `Plane` for `resampleRows`, with the same bytes: an opaque RGBA image is read
 * in place as RGB (no copy); otherwise the composited pixels go to memory reused across calls.
 */
function toPlane(pixels: PixelsLike, colour: Colour): Plane {
  const { data, width, height } = pixels;
  const count = pixelCount(pixels);
  if (colour === "RGB" && opaque(data, count)) return { data, width, height, channels: 3, stride: 4 };
  const channels = colour === "RGB" ? 3 : 1;
  if (planeScratch.length < count * channels) planeScratch = new Uint8Array(count * channels);
  colourInto(data, count, colour, planeScratch);
  return { data: planeScratch, width, height, channels, stride: channels };
}

/**
 * Turn RGBA pixels (an `ImageData`) into a normalised float32 batch of one, as
 * `spec` (manifest.preprocess) says: colour, resize, (x - mean) / std, layout.
 *
 * The same float32 values as the reference steps (`toColour`, `resize`, then the normalisation
 * per value), computed in one go: the pixels are read in place, only the kept window is resized
 * (`resampleRows`), each row goes straight into the tensor through a 256-entry table per channel
 * (the normalisation of every byte value, computed as the reference computes it), and the
 * letterbox's padding is the table's value for 0.
 */
export function toTensor(
  pixels: PixelsLike,
  spec: Partial<ImagePreprocess>,
): { tensor: Feed & { type: "float32" }; letterbox: Letterbox } {
  const { size, resize: mode, colour, layout, mean, std } = imagePreprocess(spec);
  const at = placement(pixels.width, pixels.height, size, mode);
  const plane = toPlane(pixels, colour);
  const channels = plane.channels;
  const means = perChannel(mean, channels, "mean");
  const stds = perChannel(std, channels, "std");
  const table = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) {
      // float32 operands, as numpy computes it; float64 division then one
      // rounding to float32 gives the same correctly rounded quotient.
      table[c * 256 + v] = Math.fround(v - means[c]!) / stds[c]!;
    }
  }
  const [height, width] = size;
  const area = width * height;
  const out = new Float32Array(area * channels);
  const nchw = layout === "NCHW";
  if (at.width !== width || at.height !== height) {
    for (let c = 0; c < channels; c++) {
      const black = table[c * 256]!;
      if (nchw) out.fill(black, c * area, (c + 1) * area);
      else for (let i = c; i < out.length; i += channels) out[i] = black;
    }
  }
  const window = { left: at.left, top: at.top, width: at.width, height: at.height };
  const rowWidth = at.width;
  resampleRows(plane, at.resizedWidth, at.resizedHeight, window, (row, y) => {
    const start = (at.padY + y) * width + at.padX; // first pixel of this row in the input
    if (channels === 1) {
      for (let x = 0; x < rowWidth; x++) out[start + x] = table[row[x]!]!;
    } else if (nchw) {
      for (let x = 0, i = 0; x < rowWidth; x++, i += 3) {
        out[start + x] = table[row[i]!]!;
        out[area + start + x] = table[256 + row[i + 1]!]!;
        out[2 * area + start + x] = table[512 + row[i + 2]!]!;
      }
    } else {
      for (let i = 0, o = start * 3; i < rowWidth * 3; i += 3, o += 3) {
        out[o] = table[row[i]!]!;
        out[o + 1] = table[256 + row[i + 1]!]!;
        out[o + 2] = table[512 + row[i + 2]!]!;
      }
    }
  });
  const dims = nchw ? [1, channels, height, width] : [1, height, width, channels];
  return { tensor: { type: "float32", data: out, dims }, letterbox: at.letterbox };
}
