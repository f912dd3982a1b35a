/**
 * The Faces page (`#/faces`): BlazeFace finds the faces and their keypoints,
 * then the emotion model reads each face, on a photo or the live camera.
 */

import { loadPipeline, type Pipeline } from "../../lib/browserml.js";
import { $ } from "../dom.js";
import { guarded } from "../errors.js";
import { startCamera, wireInput } from "../image_input.js";
import { model, type Result } from "../models.js";
import { describeModel, renderStatus } from "../status.js";
import { feedbackControl, publish, type Scored } from "../results.js";

interface FaceResult {
  box: [number, number, number, number];
  score: number;
  keypoints: Array<[number, number]>;
  emotion?: Result;
}

export const MODELS: readonly string[] = ["face-detector", "emotion"];
const PIPELINE = "face-emotion"; // its models, crop margin and result key come from the host

const pipelines = new Map<string, Promise<Pipeline>>(); // by "Run on" choice, like the models

function facePipeline(): Promise<Pipeline> {
  const key = $<HTMLSelectElement>("#backend").value;
  let pending = pipelines.get(key);
  if (!pending) {
    pending = loadPipeline(PIPELINE, { model }).catch((err: unknown) => {
      pipelines.delete(key);
      throw err;
    });
    pipelines.set(key, pending);
  }
  return pending;
}

async function findFaces(bitmap: ImageBitmap): Promise<void> {
  const list = $("#faces-result");
  delete list.dataset.result;
  const chain = await facePipeline();
  const found = await chain.run(bitmap);
  const faces = found["faces"] as FaceResult[];
  renderStatus(chain.detector.name, describeModel(chain.detector, Number(found["latency_ms"])));
  const last = faces.at(-1)?.emotion;
  if (last) renderStatus(chain.classifier.name, describeModel(chain.classifier, Number(last["latency_ms"])));
  drawFaces(bitmap, faces);
  list.replaceChildren();
  if (!faces.length) {
    const item = document.createElement("li");
    item.textContent = "No face found.";
    list.append(item);
  }
  faces.forEach((face, i) => {
    const item = document.createElement("li");
    const labels = (face.emotion?.["labels"] as Scored[]) ?? [];
    const unsure = face.emotion?.["uncertain"] ? " (not sure)" : "";
    item.textContent = `Face ${i + 1}: ${labels[0]?.label ?? "?"} ${(100 * (labels[0]?.score ?? 0)).toFixed(0)}%${unsure}` +
      (unsure ? `; also ${labels.slice(1).map((l) => l.label).join(", ")}` : "");
    if (face.emotion) item.append(feedbackControl({ model: chain.classifier, result: face.emotion }));
    list.append(item);
  });
  publish(list, { ...found, faces });
}

function drawFaces(bitmap: ImageBitmap, faces: FaceResult[]): void {
  const canvas = $<HTMLCanvasElement>("#faces-canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.hidden = false;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.drawImage(bitmap, 0, 0);
  const line = Math.max(2, bitmap.width / 300);
  ctx.lineWidth = line;
  ctx.font = `${Math.max(14, bitmap.width / 40)}px system-ui, sans-serif`;
  for (const face of faces) {
    const [x, y, w, h] = face.box;
    ctx.strokeStyle = "#3fb950";
    ctx.strokeRect(x, y, w, h);
    ctx.fillStyle = "#f78166";
    for (const [kx, ky] of face.keypoints) {
      ctx.beginPath();
      ctx.arc(kx, ky, line * 1.5, 0, Math.PI * 2);
      ctx.fill();
    }
    const top = (face.emotion?.["labels"] as Scored[] | undefined)?.[0];
    if (top) {
      ctx.fillStyle = "#3fb950";
      ctx.fillText(top.label, x, Math.max(16, y - line * 2));
    }
  }
}

export function wire(): void {
  wireInput("faces", (bitmap) => findFaces(bitmap));
  document.querySelector('[data-camera="faces"]')?.addEventListener("click", guarded(() => startCamera("faces", findFaces, true)));
}
