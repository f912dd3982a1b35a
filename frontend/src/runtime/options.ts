/**
 * The options of `loadModel` and `loadPipeline`, checked before anything is fetched.
 * An unknown option, a value of the wrong type or an unknown backend is an
 * `OptionError` that lists what is valid: the caller asked for something this
 * runtime cannot give, so nothing falls back in its place. (A variant is checked
 * against the model's manifest by `planBackends`, with the same error.)
 */

import { TASK_INPUTS } from "../tasks/manifest.generated.js";
import type { TaskName } from "../tasks/types.js";

/**
 * The backends a caller may ask for (`backend`); "auto" lets the runtime choose. The "tfjs-*"
 * ones run a TF.js graph-model variant on TensorFlow.js with that backend (runtime/tfjs.ts).
 */
export const BACKEND_CHOICES = ["auto", "webgpu", "wasm", "tfjs-wasm", "tfjs-webgl", "tfjs-webgpu", "server"] as const;

/** The tasks a caller may name (`task`). */
export const TASK_NAMES = Object.keys(TASK_INPUTS) as TaskName[];

/** An option the caller passed is not one this runtime knows, or cannot be honoured: fix the call. */
export class OptionError extends Error {
  override name = "OptionError";
}

/** What a value must be, in words, or null when `value` is fine. */
export type Check = (value: unknown) => string | null;

/** Quoted, for a message: `"wasm"`, `"a", "b"`. */
export function quoted(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

export const oneOf =
  (values: readonly string[]): Check =>
  (value) =>
    typeof value === "string" && values.includes(value) ? null : `one of ${quoted(values)}`;

export const nonEmptyString: Check = (value) =>
  typeof value === "string" && value.length > 0 ? null : "a non-empty string";

export const boolean: Check = (value) => (typeof value === "boolean" ? null : "true or false");

export const callable: Check = (value) => (typeof value === "function" ? null : "a function");

export const integer =
  (min: number, max: number): Check =>
  (value) =>
    Number.isInteger(value) && (value as number) >= min && (value as number) <= max
      ? null
      : `an integer from ${min} to ${max}`;

export const httpOrigin: Check = (value) => {
  if (typeof value === "string") {
    try {
      const url = new URL(value);
      if (url.protocol === "http:" || url.protocol === "https:") return null;
    } catch {
      // not a URL: said below
    }
  }
  return 'an absolute http(s) URL such as "https://models.example.com"';
};

/** A value, for a message: strings quoted and cut short, other things by their kind. */
function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/**
 * Throws an `OptionError` unless `options` is undefined or an object whose every key is in
 * `checks` with a value that passes its check (undefined counts as absent). `call` names the
 * call in the message, e.g. `loadModel("emotion")`.
 */
export function checkOptions(options: unknown, checks: Readonly<Record<string, Check>>, call: string): void {
  if (options === undefined) return;
  const names = Object.keys(checks);
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new OptionError(`${call}: the options must be an object with any of ${names.join(", ")}, not ${shown(options)}`);
  }
  for (const [key, value] of Object.entries(options)) {
    const check = Object.hasOwn(checks, key) ? checks[key] : undefined;
    if (!check) {
      throw new OptionError(`${call}: unknown option ${JSON.stringify(key)}; the options are ${names.join(", ")}`);
    }
    if (value === undefined) continue;
    const want = check(value);
    if (want !== null) throw new OptionError(`${call}: ${key} must be ${want}, not ${shown(value)}`);
  }
}
