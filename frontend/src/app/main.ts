/**
 * The demo app: Images, Faces and Text pages on top of the published runtime
 * (`/lib/browserml.js`), exactly as an integrator would use it.
 *
 * Each page shows where its models run and why, the variant and its size, the
 * download progress, load time and latency; the "Run on" control forces a
 * backend. Results are also written as JSON into `data-result` attributes so
 * the browser tests can compare them with the server's.
 */

import "./style.css";

import { type BackendChoice, loadModel, type Model, type Progress } from "../lib/browserml.js";
import { cropFace } from "../pipelines.js";

type Result = Record<string, unknown>;
interface Scored {
  label: string;
  score: number;
}
interface FaceResult {
  box: [number, number, number, number];
  score: number;
  keypoints: Array<[number, number]>;
  emotion?: Result;
}

const MAX_IMAGE_BYTES = 10_000_000;
const $ = <T extends HTMLElement>(selector: string): T => {
  const found = document.querySelector<T>(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
};

// ------------------------------------------------------------------ errors

function showError(message: string | null): void {
  const box = $("#error");
  box.textContent = message ?? "";
  box.hidden = !message;
}

function explain(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^Error: /, "");
}

// ------------------------------------------------------------------ models and their status

const backendSelect = $<HTMLSelectElement>("#backend");
const models = new Map<string, Promise<Model>>();

function backendChoice(): BackendChoice {
  return backendSelect.value as BackendChoice;
}

function statusBox(name: string): HTMLElement {
  return $(`[data-status="${name}"]`);
}

function renderStatus(name: string, fields: Record<string, string>, progress?: Progress): void {
  const box = statusBox(name);
  box.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = name;
  box.append(title);
  if (progress) {
    const bar = document.createElement("progress");
    bar.max = progress.total || 1;
    bar.value = progress.loaded;
    bar.dataset.testid = `progress-${name}`;
    const label = document.createElement("span");
    label.textContent = progress.fromCache
      ? `${progress.file} from cache`
      : `${progress.file}: ${(progress.loaded / 1e6).toFixed(1)} of ${(progress.total / 1e6).toFixed(1)} MB`;
    box.append(bar, label);
  }
  const list = document.createElement("dl");
  for (const [key, value] of Object.entries(fields)) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = key;
    list.append(dt, dd);
  }
  box.append(list);
}

function describeModel(model: Model, latencyMs?: number): Record<string, string> {
  const variant = model.manifest.variants.find((v) => v.file === model.variant);
  const where =
    model.backend === "wasm" ? `WASM, ${model.threads} thread${model.threads === 1 ? "" : "s"}` : model.backend === "webgpu" ? "WebGPU" : "server";
  const fields: Record<string, string> = {
    "runs on": where,
    why: model.reason,
    variant: variant ? `${variant.file} (${variant.precision}, ${(variant.bytes / 1e6).toFixed(2)} MB)` : String(model.variant),
  };
  if (model.backend !== "server") fields["load"] = `${model.loadMs.toFixed(0)} ms${model.fromCache ? " (cached)" : ""}`;
  if (latencyMs !== undefined) fields["latency"] = `${latencyMs.toFixed(1)} ms`;
  if (model.fallbackReason) fields["fallback"] = model.fallbackReason;
  return fields;
}

function model(name: string): Promise<Model> {
  const key = `${name}@${backendChoice()}`;
  let pending = models.get(key);
  if (!pending) {
    renderStatus(name, { "runs on": "choosing..." });
    pending = loadModel(name, {
      backend: backendChoice(),
      onProgress: (p) => renderStatus(name, { "runs on": "loading..." }, p),
    }).then(
      (loaded) => {
        renderStatus(name, describeModel(loaded));
        statusBox(name).dataset.backend = loaded.backend;
        return loaded;
      },
      (err: unknown) => {
        models.delete(key);
        renderStatus(name, { "runs on": "failed", why: explain(err) });
        throw err;
      },
    );
    models.set(key, pending);
  }
  return pending;
}

async function run(name: string, input: Parameters<Model["run"]>[0]): Promise<Result> {
  const loaded = await model(name);
  const result = await loaded.run(input);
  renderStatus(name, describeModel(loaded, Number(result["latency_ms"])));
  statusBox(name).dataset.backend = loaded.backend;
  return result;
}

function publish(element: HTMLElement, result: unknown): void {
  element.dataset.result = JSON.stringify(result);
}

function bars(list: HTMLElement, labels: Scored[], uncertain: boolean, note?: string): void {
  list.replaceChildren();
  if (uncertain) {
    const item = document.createElement("li");
    item.className = "unsure";
    item.textContent = `Not sure${note ? ` (${note})` : ""}. The closest guesses:`;
    list.append(item);
  }
  for (const { label, score } of labels) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, score * 100).toFixed(1)}%`;
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = `${(score * 100).toFixed(1)}%`;
    item.append(name, bar, value);
    list.append(item);
  }
}

// ------------------------------------------------------------------ images in

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

function wireInput(page: string, onImage: (bitmap: ImageBitmap, blob: Blob) => Promise<void>): void {
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

async function startCamera(page: string, onFrame: (bitmap: ImageBitmap) => Promise<void>, live: boolean): Promise<void> {
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

// ------------------------------------------------------------------ Images page

async function classifyImage(bitmap: ImageBitmap, blob: Blob): Promise<void> {
  const preview = $<HTMLImageElement>("#images-preview");
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
  const list = $("#images-result");
  list.replaceChildren();
  delete list.dataset.result;
  const result = await run("imagenet", bitmap);
  bars(list, result["labels"] as Scored[], Boolean(result["uncertain"]));
  publish(list, result);
}

// ------------------------------------------------------------------ Faces page

async function findFaces(bitmap: ImageBitmap): Promise<void> {
  const list = $("#faces-result");
  delete list.dataset.result;
  const found = await run("face-detector", bitmap);
  const faces = found["faces"] as FaceResult[];
  for (const face of faces) face.emotion = await run("emotion", await cropFace(bitmap, face.box));
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

// ------------------------------------------------------------------ Text page

function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

async function sentiment(): Promise<void> {
  const text = $<HTMLTextAreaElement>("#text-input").value;
  const out = $("#text-result");
  if (!text.trim()) {
    out.replaceChildren();
    return;
  }
  const result = await run("sentiment", text);
  const list = document.createElement("ol");
  list.className = "bars";
  bars(list, result["labels"] as Scored[], Boolean(result["uncertain"]),
    result["fallback"] === "lexicon" ? "the lexicon answers" : undefined);
  out.replaceChildren(list);
  publish(out, result);
}

function dot(a: number[], b: number[]): number {
  return a.reduce((sum, v, i) => sum + v * (b[i] ?? 0), 0);
}

async function similarity(): Promise<void> {
  const a = $<HTMLInputElement>("#sim-a").value;
  const b = $<HTMLInputElement>("#sim-b").value;
  if (!a.trim() || !b.trim()) return;
  const result = await run("text-embedder", [a, b]);
  const [va = [], vb = []] = result["embeddings"] as number[][];
  const cosine = dot(va, vb);
  const out = $("#sim-result");
  out.textContent = `similarity ${cosine.toFixed(3)}: ${cosine > 0.6 ? "very close" : cosine > 0.3 ? "related" : "unrelated"}`;
  publish(out, { similarity: cosine, ...result });
}

async function search(): Promise<void> {
  const query = $<HTMLInputElement>("#search-query").value;
  const sentences = $<HTMLTextAreaElement>("#search-list").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (!query.trim() || !sentences.length) return;
  const result = await run("text-embedder", [query, ...sentences]);
  const [q = [], ...rows] = result["embeddings"] as number[][];
  const ranked = rows.map((v, i) => ({ sentence: sentences[i] ?? "", score: dot(q, v) })).sort((x, y) => y.score - x.score);
  const list = $("#search-result");
  list.replaceChildren(...ranked.map(({ sentence, score }) => {
    const item = document.createElement("li");
    item.textContent = `${sentence} (${score.toFixed(3)})`;
    return item;
  }));
  publish(list, ranked);
}

// ------------------------------------------------------------------ routing

const PAGES = ["images", "faces", "text"] as const;
type Page = (typeof PAGES)[number];

function guarded(fn: () => Promise<void>): () => void {
  return () => {
    showError(null);
    fn().catch((err: unknown) => showError(explain(err)));
  };
}

function show(page: Page): void {
  for (const name of PAGES) $(`#page-${name}`).hidden = name !== page;
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  // Start loading the page's models right away: the download overlaps with the user choosing a file.
  const wanted = page === "images" ? ["imagenet"] : page === "faces" ? ["face-detector", "emotion"] : ["sentiment", "text-embedder"];
  for (const name of wanted) model(name).catch((err: unknown) => showError(explain(err)));
  if (page === "text") {
    guarded(sentiment)();
    guarded(similarity)();
    guarded(search)();
  }
}

function route(): void {
  const page = location.hash.replace(/^#\//, "") as Page;
  show(PAGES.includes(page) ? page : "images");
}

function init(): void {
  const params = new URLSearchParams(location.search);
  const forced = params.get("backend");
  if (forced && ["auto", "webgpu", "wasm", "server"].includes(forced)) backendSelect.value = forced;
  backendSelect.addEventListener("change", () => {
    models.clear();
    route();
  });
  wireInput("images", classifyImage);
  wireInput("faces", (bitmap) => findFaces(bitmap));
  document.querySelector('[data-camera="images"]')?.addEventListener("click", guarded(() => startCamera("images", async (b) => {
    const canvas = new OffscreenCanvas(b.width, b.height);
    canvas.getContext("2d")?.drawImage(b, 0, 0);
    await classifyImage(b, await canvas.convertToBlob());
  }, false)));
  document.querySelector('[data-camera="faces"]')?.addEventListener("click", guarded(() => startCamera("faces", findFaces, true)));
  $("#text-input").addEventListener("input", debounce(guarded(sentiment), 250));
  for (const id of ["#sim-a", "#sim-b"]) $(id).addEventListener("input", debounce(guarded(similarity), 300));
  for (const id of ["#search-query", "#search-list"]) $(id).addEventListener("input", debounce(guarded(search), 300));
  window.addEventListener("hashchange", route);
  window.addEventListener("offline", () => showError("You are offline: models already cached keep working."));
  route();
  if ("serviceWorker" in navigator && params.get("sw") !== "off") {
    navigator.serviceWorker.register("/sw.js").catch((err: unknown) => console.warn("service worker:", err));
  }
}

init();
