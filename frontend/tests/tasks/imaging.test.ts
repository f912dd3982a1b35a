/**
 * Image preprocessing against tests/data/golden/image_preprocessing.json:
 * Python's contract.tasks.imaging.to_tensor (Pillow 13 BILINEAR) on synthetic
 * images (upscaled gradients, an RGBA checkerboard, RGBA bands of alpha 0, 1,
 * 127, 128, 254 and 255 hiding vivid colour under alpha 0, a downscaled
 * texture, a tall image Pillow shrinks vertically first), through the
 * preprocess block of every image model in the catalog. Transparency is
 * composited over black (premultiplied) on both sides before resizing.
 */

import { describe, expect, it } from "vitest";

import { Letterbox, premultiply, resize, toColour, toTensor } from "../../src/tasks/imaging.js";
import { resample } from "../../src/tasks/pillow_resample.js";
import type { ImagePreprocess, PixelsLike } from "../../src/tasks/types.js";
import { decodeFloat32, readGolden, type EncodedTensor } from "./golden.js";

interface GoldenImage {
  mode: "RGB" | "RGBA";
  width: number;
  height: number;
  base64: string;
}

interface PreprocessingGolden {
  images: Record<string, GoldenImage>;
  cases: Array<{
    name: string;
    image: string;
    model: string;
    preprocess: ImagePreprocess;
    letterbox: { source_width: number; source_height: number; scale: number; pad_x: number; pad_y: number };
    expected: EncodedTensor;
  }>;
}

const GOLDEN = readGolden<PreprocessingGolden>("image_preprocessing.json");

/**
 * Every case matches Python bit for bit (max abs diff 0), because `resample`
 * is Pillow's fixed-point arithmetic and `premultiply` the same integers as
 * Python's compositing, not approximations of them; everything before the
 * final float32 (x - mean) / std is integer, so nothing is left to tolerate.
 */
const MAX_ABS_DIFF = 0;

/**
 * An ImageData-like RGBA buffer from a golden image (RGB gets opaque alpha).
 * RGBA goes in unpremultiplied, hidden colour under alpha 0 included, as the
 * file holds it: toColour must composite it exactly as Python does.
 */
function pixelsOf(image: GoldenImage): PixelsLike {
  const raw = Buffer.from(image.base64, "base64");
  if (image.mode === "RGBA") return { data: new Uint8ClampedArray(raw), width: image.width, height: image.height };
  const data = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0; i < image.width * image.height; i++) {
    data.set(raw.subarray(i * 3, i * 3 + 3), i * 4);
    data[i * 4 + 3] = 255;
  }
  return { data, width: image.width, height: image.height };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe("golden preprocessing", () => {
  it("covers every resize mode, colour and layout of the catalog, on every image", () => {
    const modes = new Set(GOLDEN.cases.map((c) => `${c.preprocess.resize} ${c.preprocess.colour} ${c.preprocess.layout}`));
    expect(modes).toEqual(new Set(["center-crop RGB NCHW", "stretch L NHWC", "letterbox RGB NHWC"]));
    const models = new Set(GOLDEN.cases.map((c) => c.model));
    const images = Object.keys(GOLDEN.images);
    expect(GOLDEN.cases).toHaveLength(models.size * images.length);
    expect(new Set(GOLDEN.cases.map((c) => c.image))).toEqual(new Set(images));
  });

  it("includes transparency: the alpha levels where rounding matters, colour hidden under alpha 0", () => {
    const alphas = new Set<number>();
    let hidden = 0;
    for (const image of Object.values(GOLDEN.images)) {
      if (image.mode !== "RGBA") continue;
      const { data } = pixelsOf(image);
      for (let i = 0; i < data.length; i += 4) {
        alphas.add(data[i + 3]!);
        if (data[i + 3] === 0 && (data[i]! | data[i + 1]! | data[i + 2]!) !== 0) hidden++;
      }
    }
    for (const a of [0, 1, 127, 128, 254, 255]) expect(alphas.has(a)).toBe(true);
    expect(hidden).toBeGreaterThan(0);
  });

  it.each(GOLDEN.cases.map((c) => [c.name, c] as const))("%s", (_name, golden) => {
    const expected = decodeFloat32(golden.expected);
    const { tensor, letterbox } = toTensor(pixelsOf(GOLDEN.images[golden.image]!), golden.preprocess);
    expect(tensor.type).toBe("float32");
    expect(tensor.dims).toEqual(expected.dims);
    expect(maxAbsDiff(tensor.data, expected.data)).toBeLessThanOrEqual(MAX_ABS_DIFF);
    const want = golden.letterbox;
    expect([letterbox.sourceWidth, letterbox.sourceHeight]).toEqual([want.source_width, want.source_height]);
    expect(letterbox.scale).toBeCloseTo(want.scale, 12);
    expect(letterbox.padX === want.pad_x && letterbox.padY === want.pad_y).toBe(true);
  });
});

describe("resize geometry", () => {
  const grey = (width: number, height: number) =>
    ({ data: new Uint8Array(width * height).fill(200), width, height, channels: 1 }) as const;

  it("letterboxes the long side and centres the rest", () => {
    // 400x200 -> 128x64 placed at y = 32 (app test_letterbox_mapping_non_square).
    const { image, letterbox } = resize(grey(400, 200), [128, 128], "letterbox");
    expect([image.width, image.height]).toEqual([128, 128]);
    expect([letterbox.scale, letterbox.padX, letterbox.padY]).toEqual([0.32, 0, 32]);
    expect(image.data[0]).toBe(0); // black padding
    expect(image.data[64 * 128 + 64]).toBe(200);
    expect(letterbox.toSource(48, 48)).toEqual([150, 50]);
  });

  it("center-crops the short side", () => {
    const { image, letterbox } = resize(grey(300, 200), [100, 100], "center-crop");
    expect([image.width, image.height]).toEqual([100, 100]);
    expect(letterbox.scale).toBe(0.5);
    expect(letterbox.padX).toBe(-25); // 150 wide, 25 cut on the left
    expect(letterbox.toSource(0, 0)).toEqual([50, 0]);
  });

  it("rounds sizes half to even, like Python", () => {
    // 5 * (64 / 10) = 32.5 would be 33 with Math.round; Python's round gives 32.
    const { letterbox, image } = resize(grey(10, 5), [64, 64], "letterbox");
    expect(letterbox.padY).toBe(16); // (64 - 32) // 2
    expect(image.data[15 * 64 + 32]).toBe(0);
    expect(image.data[16 * 64 + 32]).toBe(200);
  });

  it("stretches with a horizontal-only scale in the letterbox", () => {
    const { image, letterbox } = resize(grey(10, 40), [20, 30], "stretch");
    expect([image.width, image.height]).toEqual([30, 20]);
    expect(letterbox).toEqual(new Letterbox(10, 40, 3, 0, 0));
  });

  it("refuses an unknown resize mode", () => {
    expect(() => resize(grey(4, 4), [2, 2], "crop")).toThrow(/allowed: stretch, center-crop, letterbox/);
  });
});

describe("Pillow's bilinear", () => {
  it("keeps a flat image flat and averages when shrinking", () => {
    const flat = resample({ data: new Uint8Array(12 * 8).fill(77), width: 12, height: 8, channels: 1 }, 5, 3);
    expect([...flat.data]).toEqual(new Array(15).fill(77));
    // 0/255 stripes halved: inside, the widened triangle averages them; at the
    // edges it is cut off and renormalised. Pillow gives exactly these values.
    const stripes = new Uint8Array(8).map((_, i) => (i % 2 ? 255 : 0));
    const half = resample({ data: stripes, width: 8, height: 1, channels: 1 }, 4, 1);
    expect([...half.data]).toEqual([109, 128, 128, 146]);
  });

  it("returns a copy when the size does not change", () => {
    const source = { data: new Uint8Array([1, 2, 3]), width: 1, height: 1, channels: 3 } as const;
    const same = resample(source, 1, 1);
    expect(same.data).toEqual(source.data);
    expect(same.data).not.toBe(source.data);
  });
});

describe("colour and normalisation", () => {
  const rgba = (r: number, g: number, b: number, a = 255): PixelsLike => ({
    data: new Uint8ClampedArray([r, g, b, a]),
    width: 1,
    height: 1,
  });

  it("converts to grey with Pillow's rounding luma", () => {
    // 299/587/114 per mille truncates to 124 here; Pillow's fixed point gives 125.
    expect(toColour(rgba(201, 100, 52), "L").data[0]).toBe(125);
    expect(toColour(rgba(255, 255, 255), "L").data[0]).toBe(255);
  });

  it("composites over black: hidden colour under alpha 0 is black, opaque is unchanged", () => {
    expect([...toColour(rgba(255, 0, 0, 0), "RGB").data]).toEqual([0, 0, 0]);
    expect([...toColour(rgba(200, 100, 50, 0), "L").data]).toEqual([0]);
    expect([...toColour(rgba(200, 100, 50, 255), "RGB").data]).toEqual([200, 100, 50]);
    expect([...toColour(rgba(200, 100, 50, 128), "RGB").data]).toEqual([100, 50, 25]);
    expect([...toColour(rgba(7, 8, 9, 1), "RGB").data]).toEqual([0, 0, 0]);
    // The grey of a composited pixel: luma of (100, 50, 25).
    expect(toColour(rgba(200, 100, 50, 128), "L").data[0]).toBe((100 * 19595 + 50 * 38470 + 25 * 7471 + 0x8000) >> 16);
  });

  it("premultiplies as Skia does: c * a / 255 rounded half up, for every pair", () => {
    for (let c = 0; c < 256; c++) {
      for (let a = 0; a < 256; a++) {
        // c * a / 255 is never exactly .5, so round half up = nearest.
        const want = Math.floor((c * a) / 255 + 0.5);
        if (premultiply(c, a) !== want) expect([c, a, premultiply(c, a)]).toEqual([c, a, want]);
      }
      expect(premultiply(c, 255)).toBe(c);
      expect(premultiply(c, 0)).toBe(0);
    }
  });

  it("gives back what a canvas stored, after getImageData un-premultiplies it", () => {
    // A canvas keeps p = premultiply(c, a); getImageData returns round(p * 255 / a)
    // (0,0,0,0 when a = 0); toColour must land on p again, for every c and a.
    for (let a = 0; a < 256; a++) {
      for (let c = 0; c < 256; c++) {
        const stored = premultiply(c, a);
        const read = a === 0 ? 0 : Math.min(255, Math.round((stored * 255) / a));
        const got = toColour(rgba(read, read, read, a), "RGB").data[0];
        if (got !== stored) expect([c, a, got]).toEqual([c, a, stored]);
      }
    }
  });

  it("matches the goldens whether or not the colour under alpha 0 was kept", () => {
    // Browsers hand fully transparent pixels over as 0,0,0,0; the file may hide colour there.
    const image = GOLDEN.images["alpha-bands-48x36"]!;
    const kept = pixelsOf(image);
    const cleared = new Uint8ClampedArray(kept.data);
    for (let i = 0; i < cleared.length; i += 4) if (cleared[i + 3] === 0) cleared.fill(0, i, i + 3);
    expect(cleared).not.toEqual(kept.data);
    for (const golden of GOLDEN.cases.filter((c) => c.image === "alpha-bands-48x36")) {
      const a = toTensor(kept, golden.preprocess).tensor.data;
      const b = toTensor({ ...kept, data: cleared }, golden.preprocess).tensor.data;
      expect(maxAbsDiff(a, b)).toBe(0);
    }
  });

  it("normalises and lays out NCHW and NHWC", () => {
    const pixels: PixelsLike = { data: new Uint8ClampedArray([0, 127, 255, 255, 255, 0, 0, 255]), width: 2, height: 1 };
    const spec = { size: [1, 2], resize: "stretch", mean: [127.5], std: [127.5] } as const;
    const nhwc = toTensor(pixels, { ...spec, size: [1, 2], layout: "NHWC" }).tensor;
    expect(nhwc.dims).toEqual([1, 1, 2, 3]);
    expect([...nhwc.data]).toEqual([-1, Math.fround(-0.5 / 127.5), 1, 1, -1, -1]);
    const nchw = toTensor(pixels, { ...spec, size: [1, 2], layout: "NCHW" }).tensor;
    expect(nchw.dims).toEqual([1, 3, 1, 2]);
    expect([...nchw.data]).toEqual([-1, 1, Math.fround(-0.5 / 127.5), -1, 1, -1]);
  });

  it("explains a bad preprocess block", () => {
    const pixels = rgba(0, 0, 0);
    expect(() => toTensor(pixels, { size: [1, 1], colour: "BGR" as "RGB" })).toThrow(/colour is "BGR"/);
    expect(() => toTensor(pixels, { size: [1, 1], layout: "CHW" as "NCHW" })).toThrow(/layout is "CHW"/);
    expect(() => toTensor(pixels, {})).toThrow(/size must be \[height, width\]/);
    expect(() => toTensor(pixels, { size: [1, 1], mean: [1, 2] })).toThrow(/mean has 2 values/);
    expect(() => toTensor({ data: new Uint8ClampedArray(3), width: 1, height: 1 }, { size: [1, 1] })).toThrow(
      /needs 4/,
    );
  });
});
