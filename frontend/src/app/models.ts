/**
 * The models the pages run, through the published runtime: the "Run on"
 * choice (`?backend=` can force it), each model loaded once per backend, and
 * its status panel kept current while it loads and after each run.
 */

import { BACKEND_CHOICES, type BackendChoice, loadModel, type Model } from "../lib/browserml.js";
import { $ } from "./dom.js";
import { explain } from "./errors.js";
import { describeModel, renderStatus, statusBox } from "./status.js";

export type Result = Record<string, unknown>;

const backendSelect = $<HTMLSelectElement>("#backend");
const models = new Map<string, Promise<Model>>();

function backendChoice(): BackendChoice {
  return backendSelect.value as BackendChoice;
}

/**
 * Apply `?backend=` when it names a choice; when the user picks another
 * backend, forget the models loaded so far and call `onChange`.
 */
export function wireBackendChoice(forced: string | null, onChange: () => void): void {
  if (forced && (BACKEND_CHOICES as readonly string[]).includes(forced)) backendSelect.value = forced;
  backendSelect.addEventListener("change", () => {
    models.clear();
    onChange();
  });
}

export function model(name: string): Promise<Model> {
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

export async function run(name: string, input: Parameters<Model["run"]>[0]): Promise<Result> {
  const loaded = await model(name);
  // The pages read results by key, whatever the task.
  const result = (await loaded.run(input)) as unknown as Result;
  renderStatus(name, describeModel(loaded, Number(result["latency_ms"])));
  statusBox(name).dataset.backend = loaded.backend;
  return result;
}
