// Run an ONNX model with ONNX Runtime Web's own WebAssembly build, in Node.
//
// The conversion pipeline (convert/wasm_runtime.py) judges every browser variant
// with this: the same onnxruntime-web package the browser runtime ships, so the
// numbers in a manifest are the browser's, whatever CPU ran the conversion
// (WebAssembly SIMD has one semantics everywhere; native ORT's int8 kernels do not).
//
// Usage: node ort_wasm_run.mjs REQUEST.json RESPONSE.json
//   REQUEST:  {"model": path, "threads": 1, "outputs": [names],
//              "samples": [{name: {"dtype", "shape", "data": base64}}],
//              "latency": {"sample": 0, "warmup": 3, "repeats": 30}}   (latency optional)
//   RESPONSE: {"runtime": {...}, "outputs": [[{"dtype", "shape", "data"}]], "latency_ms": number|null}
import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

import * as ort from "onnxruntime-web";

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  bool: Uint8Array,
};

function toTensor({ dtype, shape, data }) {
  const Array_ = ARRAYS[dtype];
  if (!Array_) throw new Error(`unsupported input dtype ${dtype}`);
  const bytes = Buffer.from(data, "base64");
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new ort.Tensor(dtype, new Array_(copy.buffer), shape);
}

function fromTensor(tensor) {
  const view = tensor.data;
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  return { dtype: tensor.type, shape: Array.from(tensor.dims), data: bytes.toString("base64") };
}

const [requestPath, responsePath] = process.argv.slice(2);
if (!requestPath || !responsePath) {
  console.error("usage: node ort_wasm_run.mjs REQUEST.json RESPONSE.json");
  process.exit(2);
}
const request = JSON.parse(readFileSync(requestPath, "utf8"));
ort.env.wasm.numThreads = request.threads ?? 1;
ort.env.logLevel = "error";
const session = await ort.InferenceSession.create(readFileSync(request.model), {
  executionProviders: ["wasm"],
  graphOptimizationLevel: "all", // what the browser runtime uses
});
const names = request.outputs ?? session.outputNames;
const outputs = [];
const feedsList = request.samples.map((sample) =>
  Object.fromEntries(Object.entries(sample).map(([name, spec]) => [name, toTensor(spec)])),
);
for (const feeds of feedsList) {
  const result = await session.run(feeds, names);
  outputs.push(names.map((name) => fromTensor(result[name])));
}
let latency = null;
if (request.latency && feedsList.length) {
  const { sample = 0, warmup = 3, repeats = 30 } = request.latency;
  const feeds = feedsList[sample];
  for (let i = 0; i < warmup; i++) await session.run(feeds, names);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await session.run(feeds, names);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  latency = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}
await session.release();
writeFileSync(
  responsePath,
  JSON.stringify({
    runtime: { package: "onnxruntime-web", version: ort.env.versions.web, build: "wasm (ort-wasm-simd-threaded)", node: process.version, threads: ort.env.wasm.numThreads },
    outputs,
    latency_ms: latency,
  }),
);
