/** Showing a result: scored labels as bars, the result as JSON for the browser tests, and
 * the feedback control under a classification result. */

import type { FeedbackVerdict, Model, RunInfo } from "../lib/browserml.js";
import { explain } from "./errors.js";

export interface Scored {
  label: string;
  score: number;
}

/** Write `result` as JSON into `data-result`, so the browser tests can compare it with the server's. */
export function publish(element: HTMLElement, result: unknown): void {
  element.dataset.result = JSON.stringify(result);
}

export function bars(list: HTMLElement, labels: Scored[], uncertain: boolean, note?: string): void {
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

/** What a feedback control is about: a classification result of `model`, and for a text model the text. */
export interface FeedbackTarget {
  model: Model;
  result: Record<string, unknown>;
  /** The text that was classified: offered, with the user's consent only, to improve the model. */
  text?: string;
}

function button(text: string, action: string): HTMLButtonElement {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.dataset.feedback = action;
  return element;
}

/**
 * "Right / Wrong, it is actually [label]" for one classification result (`model.feedback`):
 * Right sends at once; Wrong opens the label choice (the other label first for a two-label model)
 * and Send sends it. For a text, a checkbox (unchecked) asks to share the text too. The status
 * says "Thanks" or the host's error. `data-testid="feedback-<model>"`.
 */
export function feedbackControl({ model, result, text }: FeedbackTarget): HTMLElement {
  const box = document.createElement("div");
  box.className = "feedback";
  box.dataset.testid = `feedback-${model.name}`;
  const labels = (model.manifest.postprocess.labels ?? []) as string[];
  const predicted = ((result["labels"] as Scored[] | undefined) ?? [])[0]?.label;

  const right = button("Right", "right");
  const wrong = button("Wrong", "wrong");
  const choice = document.createElement("span");
  choice.className = "feedback-choice";
  choice.hidden = true;
  const select = document.createElement("select");
  select.dataset.feedback = "label";
  select.setAttribute("aria-label", "the right label");
  const unsure = new Option("(not sure)", "");
  select.append(unsure, ...labels.filter((l) => l !== predicted).map((l) => new Option(l, l)));
  if (labels.length === 2) select.selectedIndex = 1;
  const send = button("Send", "send");
  choice.append(" it is actually ", select, " ", send);

  let consent: HTMLInputElement | null = null;
  const parts: Array<Node | string> = ["Is this right? ", right, " ", wrong, choice];
  if (text !== undefined) {
    consent = document.createElement("input");
    consent.type = "checkbox";
    consent.dataset.feedback = "consent";
    const label = document.createElement("label");
    label.className = "feedback-consent";
    label.append(consent, " also send this text to improve the model");
    parts.push(label);
  }
  const status = document.createElement("span");
  status.className = "feedback-status";
  status.dataset.feedback = "status";
  status.setAttribute("role", "status");
  parts.push(status);
  box.append(...parts);

  const controls = [right, wrong, select, send, ...(consent ? [consent] : [])];
  const submit = async (verdict: FeedbackVerdict) => {
    controls.forEach((c) => (c.disabled = true));
    status.textContent = "Sending...";
    try {
      const shared = consent?.checked && text !== undefined ? { text, consent: true } : {};
      await model.feedback(result as unknown as RunInfo, verdict, shared);
      status.textContent = "Thanks";
      box.dataset.sent = "true";
    } catch (err) {
      status.textContent = explain(err);
      controls.forEach((c) => (c.disabled = false));
    }
  };
  right.addEventListener("click", () => void submit({ correct: true }));
  wrong.addEventListener("click", () => {
    if (labels.length) choice.hidden = false;
    else void submit({ correct: false });
  });
  send.addEventListener("click", () => void submit(select.value ? { correct: false, label: select.value } : { correct: false }));
  return box;
}
