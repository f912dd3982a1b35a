/**
 * Images in, for the Images and Faces pages: a file chosen or dropped
 * (checked, then decoded) or frames from the camera.
 */

import { $ } from "./dom.js";
import { explain, showError } from "./errors.js";

const MAX_IMAGE_BYTES = 10_000_000;

function checkFile(file: File): void {
  if (!file.type.startsWith("image/")) throw new Error(`${file.name} is not an image (${file.type || "unknown type"}); choose a JPEG, PNG or WebP`);
  if (file.size > MAX_IMAGE_BYTES) throw new Error(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the limit is 10 MB`);
}

async function decode(file: Blob): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(file);
  } catch {
    throw new Error("this file cannot be decoded as an image; it may be corrupt or truncated");
  }
}

export function wireInput(page: string, onImage: (bitmap: ImageBitmap, blob: Blob) => Promise<void>): void {
  const input = $<HTMLInputElement>(`#${page}-file`);
  const handle = async (file: File | undefined) => {
    if (!file) return;
    showError(null);
    try {
      checkFile(file);
      const bitmap = await decode(file);
      await onImage(bitmap, file);
    } catch (err) {
      showError(explain(err));
    }
  };
  input.addEventListener("change", () => void handle(input.files?.[0]));
  const zone = $(`[data-drop="${page}"]`);
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    void handle(e.dataTransfer?.files[0]);
  });
}

export async function startCamera(page: string, onFrame: (bitmap: ImageBitmap) => Promise<void>, live: boolean): Promise<void> {
  const video = $<HTMLVideoElement>(`[data-video="${page}"]`);
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
  } catch (err) {
    throw new Error(`the camera is not available (${explain(err)})`);
  }
  video.hidden = false;
  await video.play();
  const step = async () => {
    if (video.hidden) return;
    await onFrame(await createImageBitmap(video));
    if (live) requestAnimationFrame(() => void step().catch((err) => showError(explain(err))));
  };
  await step();
}
