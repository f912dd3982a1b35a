/** Manifest parts the runtime tests build their cases from. */

import type { Variant } from "../../src/tasks/types.js";

/** A variant entry: int8 suits WASM and the server, the float ones WebGPU too; `passed` on each. */
export function variant(file: string, precision: Variant["precision"], bytes: number, passed = true): Variant {
  const backends: Variant["backends"] = precision === "int8" ? ["wasm", "server"] : ["webgpu", "wasm", "server"];
  const verdict = { passed, reasons: passed ? [] : ["too far from the source"] };
  return {
    file,
    precision,
    bytes,
    sha256: "0".repeat(64),
    backends,
    operators: [],
    evaluations: { server: { runtime: "native", metrics: {}, latency_ms: {} } },
    gates: Object.fromEntries(backends.map((b) => [b, verdict])),
  };
}
