/** Showing a result: scored labels as bars, and the result as JSON for the browser tests. */

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
