/**
 * `loadModel` / `loadPipeline` options are checked before anything is fetched: an unknown
 * option, a wrong type or an unknown backend is an OptionError that lists what is valid.
 * (Variants are checked against the manifest by planBackends: tests/runtime/backends.test.ts;
 * in Chromium against the real host: tests/browser/test_browser_options.py.)
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { BACKEND_CHOICES, loadModel, loadPipeline, OptionError } from "../../src/lib/browserml.js";
import { checkOptions, integer } from "../../src/runtime/options.js";

const fetched: string[] = [];

beforeEach(() => {
  fetched.length = 0;
  // Nothing may be fetched for a call with bad options: record any attempt and fail it.
  vi.stubGlobal("fetch", (url: unknown) => {
    fetched.push(String(url));
    return Promise.reject(new Error("fetch called"));
  });
});
afterEach(() => vi.unstubAllGlobals());

async function refusal(call: Promise<unknown>): Promise<OptionError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OptionError);
  expect(fetched).toEqual([]);
  return err as OptionError;
}

const HOST = "http://127.0.0.1:1";

describe("loadModel options", () => {
  it("refuses an unknown backend, listing the backends this runtime knows", async () => {
    const err = await refusal(loadModel("emotion", { backend: "tfjs-cpu" as never, host: HOST }));
    expect(err.message).toBe(
      'loadModel("emotion"): backend must be one of "auto", "webgpu", "wasm", "tfjs-wasm", "tfjs-webgl", ' +
        '"tfjs-webgpu", "server", not "tfjs-cpu"',
    );
    expect(BACKEND_CHOICES).toEqual(["auto", "webgpu", "wasm", "tfjs-wasm", "tfjs-webgl", "tfjs-webgpu", "server"]);
  });

  it("refuses an unknown option, listing the options", async () => {
    const err = await refusal(loadModel("emotion", { gpu: true, host: HOST } as never));
    expect(err.message).toMatch(/^loadModel\("emotion"\): unknown option "gpu"; the options are /);
    for (const name of ["backend", "variant", "threads", "onProgress", "host", "telemetry", "task"]) expect(err.message).toContain(name);
    // A typo of a real option is unknown too (it would otherwise be ignored).
    await refusal(loadModel("emotion", { Backend: "wasm" } as never));
  });

  it("refuses values of the wrong type", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ variant: 3 }, "variant must be a non-empty string, not 3"],
      [{ variant: "" }, 'variant must be a non-empty string, not ""'],
      [{ telemetry: "off" }, 'telemetry must be true or false, not "off"'],
      [{ onProgress: "log" }, 'onProgress must be a function, not "log"'],
      [{ host: "localhost:8000" }, "host must be an absolute http(s) URL"],
      [{ task: "ocr" }, 'task must be one of "image-classification", "face-detection", "text-classification", "embeddings", not "ocr"'],
      [{ backend: ["wasm"] }, "backend must be one of"],
      [{ threads: 8 }, "threads must be an integer from 1 to 4, not 8"],
      [{ threads: "2" }, 'threads must be an integer from 1 to 4, not "2"'],
    ];
    for (const [options, message] of cases) {
      const err = await refusal(loadModel("emotion", options as never));
      expect(err.message).toContain(message);
    }
    const err = await refusal(loadModel("emotion", null as never));
    expect(err.message).toContain("the options must be an object");
  });

  it("takes undefined as absent and lets a valid call through to the host", async () => {
    // No OptionError: the call gets as far as fetching the manifest (refused here).
    const err = await loadModel("emotion", { backend: "wasm", variant: undefined, host: HOST }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(OptionError);
    expect(fetched).toEqual([`${HOST}/api/v1/models/emotion`]);
  });
});

describe("loadPipeline options", () => {
  it("has no variant (each model has its own) and checks the rest like loadModel", async () => {
    const err = await refusal(loadPipeline("face-emotion", { variant: "model.onnx" } as never));
    expect(err.message).toBe(
      'loadPipeline("face-emotion"): unknown option "variant"; the options are backend, threads, onProgress, host, telemetry, model',
    );
    await refusal(loadPipeline("face-emotion", { backend: "webgl" as never }));
    await refusal(loadPipeline("face-emotion", { model: "emotion" as never }));
  });
});

describe("checkOptions", () => {
  it("checks integers within bounds (for numeric options)", () => {
    const checks = { threads: integer(1, 4) };
    expect(() => checkOptions({ threads: 2 }, checks, "f()")).not.toThrow();
    expect(() => checkOptions({ threads: "two" }, checks, "f()")).toThrow('f(): threads must be an integer from 1 to 4, not "two"');
    expect(() => checkOptions({ threads: 1.5 }, checks, "f()")).toThrow("not 1.5");
    expect(() => checkOptions({ threads: 0 }, checks, "f()")).toThrow("not 0");
  });
});
