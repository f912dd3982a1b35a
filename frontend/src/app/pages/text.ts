/**
 * The Text page (`#/text`): sentiment as you type, the similarity of two
 * sentences, and a search over a few sentences by embedding.
 */

import { $ } from "../dom.js";
import { guarded } from "../errors.js";
import { model, run } from "../models.js";
import { bars, feedbackControl, publish, type Scored } from "../results.js";

export const MODELS: readonly string[] = ["sentiment", "text-embedder"];

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
  out.replaceChildren(list, feedbackControl({ model: await model("sentiment"), result, text }));
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

export function wire(): void {
  $("#text-input").addEventListener("input", debounce(guarded(sentiment), 250));
  for (const id of ["#sim-a", "#sim-b"]) $(id).addEventListener("input", debounce(guarded(similarity), 300));
  for (const id of ["#search-query", "#search-list"]) $(id).addEventListener("input", debounce(guarded(search), 300));
}

/** Each time the page shows, answer for what the inputs already hold. */
export function shown(): void {
  guarded(sentiment)();
  guarded(similarity)();
  guarded(search)();
}
