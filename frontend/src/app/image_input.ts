/**
 * Images in, for the Images and Faces pages: a file chosen or dropped
 * (checked, then decoded) or frames from the camera.
 */

import { $ } from "./dom.js";
import { explain, showError } from "./errors.js";

/** What the host accepts (`GET /api/v1/limits`, from its config); null when it cannot be asked (offline). */
interface Limits {
  max_upload_bytes: number;
}

let limits: Promise<Limits | null> | null = null;

function hostLimits(): Promise<Limits | null> {
  limits ??= fetch("/api/v1/limits").then(
    (response) => (response.ok ? (response.json() as Promise<Limits>) : null),
    () => null,
  );
  return limits;
}

async function checkFile(file: File): Promise<void> {
  if (!file.type.startsWith("image/")) throw new Error(`${file.name} is not an image (${file.type || "unknown type"}); choose a JPEG, PNG or WebP`);
  // Offline there is no host limit to respect: the image stays on the device.
  const max = (await hostLimits())?.max_upload_bytes;
  if (max !== undefined && file.size > max) {
    throw new Error(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the limit is ${(max / 1e6).toFixed(0)} MB`);
  }
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
      await checkFile(file);
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
