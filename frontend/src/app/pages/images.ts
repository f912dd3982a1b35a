/** The Images page (`#/images`): what is in this picture, from a file, a drop or the camera. */

import { $ } from "../dom.js";
import { guarded } from "../errors.js";
import { startCamera, wireInput } from "../image_input.js";
import { model, run } from "../models.js";
import { bars, feedbackControl, publish, type Scored } from "../results.js";

export const MODELS: readonly string[] = ["imagenet"];

async function classifyImage(bitmap: ImageBitmap, blob: Blob): Promise<void> {
  const preview = $<HTMLImageElement>("#images-preview");
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
  const list = $("#images-result");
  list.replaceChildren();
  delete list.dataset.result;
  list.parentElement?.querySelector(".feedback")?.remove();
  const result = await run("imagenet", bitmap);
  bars(list, result["labels"] as Scored[], Boolean(result["uncertain"]));
  list.after(feedbackControl({ model: await model("imagenet"), result }));
  publish(list, result);
}

export function wire(): void {
  wireInput("images", classifyImage);
  document.querySelector('[data-camera="images"]')?.addEventListener("click", guarded(() => startCamera("images", async (b) => {
    const canvas = new OffscreenCanvas(b.width, b.height);
    canvas.getContext("2d")?.drawImage(b, 0, 0);
    await classifyImage(b, await canvas.convertToBlob());
  }, false)));
}
