/**
 * Chains of models, the browser side of app/pipelines.py.
 *
 * face-emotion: faces from the detector; each face cropped from the source
 * image with the same margin as the server, then classified by the emotion model.
 */

/** Margin added on every side of a face box, as a fraction of its size (app/pipelines.py). */
export const FACE_MARGIN = 0.15;

/** Integer crop rectangle [left, top, right, bottom] of a face box widened by `margin`, clipped. */
export function cropRect(
  box: readonly [number, number, number, number] | readonly number[],
  width: number,
  height: number,
  margin = FACE_MARGIN,
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

/** The face crop as an ImageBitmap. */
export async function cropFace(
  image: ImageBitmap,
  box: readonly number[],
  margin = FACE_MARGIN,
): Promise<ImageBitmap> {
  const [left, top, right, bottom] = cropRect(box, image.width, image.height, margin);
  return createImageBitmap(image, left, top, right - left, bottom - top);
}
