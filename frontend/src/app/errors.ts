/** The error banner (`data-testid="error"`) and the handlers that report to it. */

import { $ } from "./dom.js";

export function showError(message: string | null): void {
  const box = $("#error");
  box.textContent = message ?? "";
  box.hidden = !message;
}

export function explain(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^Error: /, "");
}

/** `fn` as an event handler: clears the banner, then shows whatever `fn` fails with. */
export function guarded(fn: () => Promise<void>): () => void {
  return () => {
    showError(null);
    fn().catch((err: unknown) => showError(explain(err)));
  };
}
