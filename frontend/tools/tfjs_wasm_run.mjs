// Run a TF.js graph model with TF.js's own WebAssembly backend, in Node.
//
// The conversion pipeline (convert/tfjs.py) judges every TF.js variant with this: the same
// @tensorflow/tfjs-* packages the browser runtime ships, on the wasm backend (WebAssembly
// SIMD has one semantics on every CPU). The model is read from disk and handed to TF.js as
// bytes: TF.js fetches nothing. Feeds and fetches go by the graph model's signature, keyed by
// the manifest's input and output names.
//
// Usage: node tfjs_wasm_run.mjs REQUEST.json RESPONSE.json
//   REQUEST:  {"model": path to model.json, "outputs": [names],
//              "samples": [{name: {"dtype", "shape", "data": base64}}],
//              "latency": {"sample": 0, "warmup": 3, "repeats": 30}}   (latency optional)
//   RESPONSE: {"runtime": {...}, "outputs": [[{"dtype", "shape", "data"}]], "latency_ms": number|null}
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";

import * as tf from "@tensorflow/tfjs-core";
import * as tfc from "@tensorflow/tfjs-converter";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";

const require = createRequire(import.meta.url);
const WASM_VERSION = require("@tensorflow/tfjs-backend-wasm/package.json").version;

function toTensor({ dtype, shape, data }) {
  if (dtype !== "float32") throw new Error(`unsupported input dtype ${dtype} (TF.js variants take float32)`);
  const bytes = Buffer.from(data, "base64");
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return tf.tensor(new Float32Array(copy.buffer), shape, "float32");
}

function fromArray(values, shape) {
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return { dtype: "float32", shape, data: bytes.toString("base64") };
}

const [requestPath, responsePath] = process.argv.slice(2);
if (!requestPath || !responsePath) {
  console.error("usage: node tfjs_wasm_run.mjs REQUEST.json RESPONSE.json");
  process.exit(2);
}
const request = JSON.parse(readFileSync(requestPath, "utf8"));
const json = JSON.parse(readFileSync(request.model, "utf8"));
const folder = dirname(request.model);
const artifacts = await tf.io.getModelArtifactsForJSON(json, async (groups) => {
  const specs = [];
  const parts = [];
  for (const group of groups) {
    for (const path of group.paths) parts.push(readFileSync(join(folder, path)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(parts);
  return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
});
setThreadsCount(1); // the browser runtime's: tfjs-backend-wasm 4.22 threads are broken (tfjs#8513)
if (!(await tf.setBackend("wasm"))) throw new Error("the TF.js wasm backend did not initialise");
await tf.ready();
const model = await tfc.loadGraphModel(tf.io.fromMemory(artifacts));
const signature = json.signature ?? {};
const node = (side, name) => {
  const entry = signature[side]?.[name];
  if (!entry) throw new Error(`model.json has no signature ${side} named ${JSON.stringify(name)}`);
  return entry.name;
};
const names = request.outputs;
const fetches = names.map((name) => node("outputs", name));

function run(feeds) {
  return tf.tidy(() => {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [node("inputs", name), t]));
    const result = model.execute(inputs, fetches);
    return Array.isArray(result) ? result : [result];
  });
}

const feedsList = request.samples.map((sample) =>
  Object.fromEntries(Object.entries(sample).map(([name, spec]) => [name, toTensor(spec)])),
);
const outputs = [];
for (const feeds of feedsList) {
  const results = run(feeds);
  outputs.push(results.map((t) => fromArray(t.dataSync(), t.shape)));
  tf.dispose(results);
}
let latency = null;
if (request.latency && feedsList.length) {
  const { sample = 0, warmup = 3, repeats = 30 } = request.latency;
  const feeds = feedsList[sample];
  const once = () => {
    const results = run(feeds);
    for (const t of results) t.dataSync();
    tf.dispose(results);
  };
  for (let i = 0; i < warmup; i++) once();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    once();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  latency = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}
writeFileSync(
  responsePath,
  JSON.stringify({
    runtime: { package: "@tensorflow/tfjs-backend-wasm", version: WASM_VERSION, backend: tf.getBackend(), node: process.version },
    outputs,
    latency_ms: latency,
  }),
);
