/**
 * Pipelines, the browser side of contract/pipelines.py: the crop of a
 * detect-then-classify pipeline (the catalog's face-emotion). The margin, the
 * models and where the result goes come from the pipeline manifest
 * (`GET /api/v1/pipelines/<name>`); `loadPipeline` in lib/browserml.ts runs it.
 */

/**
 * Integer crop rectangle [left, top, right, bottom] of a box [x, y, w, h] widened by
 * `margin` per side, clipped to the image, at least one pixel (contract.pipelines.crop_rect).
 */
export function cropRect(
  box: readonly [number, number, number, number] | readonly number[],
  width: number,
  height: number,
  margin: number,
): [number, number, number, number] {
  const [x = 0, y = 0, w = 0, h = 0] = box;
  // Python's round() rounds halves to even; faces never sit on exact halves in practice,
  // but mirror it anyway so crops are identical.
  const round = (v: number) => {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  const left = Math.max(0, round(x - margin * w));
  const top = Math.max(0, round(y - margin * h));
  let right = Math.min(width, round(x + w + margin * w));
  let bottom = Math.min(height, round(y + h + margin * h));
  right = Math.max(right, left + 1);
  bottom = Math.max(bottom, top + 1);
  return [left, top, right, bottom];
}

/** The crop of `box` (widened by `margin`) as an ImageBitmap. */
export async function cropBox(image: ImageBitmap, box: readonly number[], margin: number): Promise<ImageBitmap> {
  const [left, top, right, bottom] = cropRect(box, image.width, image.height, margin);
  return createImageBitmap(image, left, top, right - left, bottom - top);
}
