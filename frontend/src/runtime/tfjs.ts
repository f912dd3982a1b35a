/**
 * TensorFlow.js in the worker: a TF.js graph-model variant (`format: "tfjs-graph"`) run with
 * the same task code as the ONNX ones. Imported by the worker only when its backend is a
 * tfjs one (a dynamic import: Vite puts it, tfjs-core and tfjs-converter in their own chunks,
 * and each TF.js backend in its own), so a page that never asks for TF.js downloads none of it.
 *
 * TF.js never fetches anything itself: the worker downloads model.json and every weight shard
 * through runtime/artifacts.ts (sha256 checked against the manifest, Cache Storage), and the
 * graph is made from those verified bytes (`loadGraphModelSync`). The WASM backend's .wasm
 * files come from the same origin (/tfjs/, copied there by the build), with 1 thread.
 */

import * as tf from "@tensorflow/tfjs-core";
import { type GraphModel, loadGraphModelSync } from "@tensorflow/tfjs-converter";
import type { io } from "@tensorflow/tfjs-core";

import type { Feeds } from "../tasks/types.js";
import type { TfjsBackend } from "./backends.js";
import { type ModelJson, shardPaths, signatureNodes } from "./tfjs_files.js";

/** The shards' bytes, one buffer, in `shardPaths` order. */
function concatenate(buffers: ArrayBuffer[]): ArrayBuffer {
  if (buffers.length === 1) return buffers[0]!;
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const buffer of buffers) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out.buffer;
}

/**
 * Import and start TF.js's `backend` (once per worker). tfjs-backend-wasm 4.22's threaded build
 * is broken (tfjs#8513): its multithread flag is turned off, so it loads the SIMD build, 1 thread.
 */
export async function initTfjs(backend: TfjsBackend, wasmPaths: string): Promise<void> {
  if (backend === "tfjs-wasm") {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    wasm.setWasmPaths(wasmPaths);
  } else if (backend === "tfjs-webgl") {
    await import("@tensorflow/tfjs-backend-webgl");
  } else {
    await import("@tensorflow/tfjs-backend-webgpu");
  }
  const name = backend.slice("tfjs-".length);
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    throw new Error(`TensorFlow.js could not start its ${name} backend in this browser (${String(err)})`);
  }
  if (!ok) {
    const what = name === "webgl" ? "WebGL (no WebGL context in a worker's OffscreenCanvas)" : name;
    throw new Error(`TensorFlow.js could not start its ${name} backend in this browser: ${what} is unavailable`);
  }
  await tf.ready();
}

/** An output as the task code reads it (`TensorLike`), with nothing left to free. */
export interface GraphOutput {
  data: Float32Array | Int32Array | Uint8Array;
  dims: number[];
  dispose(): void;
}

/** A loaded graph model, fed and read by the manifest's input and output names. */
export class TfjsGraph {
  private constructor(
    private readonly model: GraphModel<io.IOHandlerSync>,
    private readonly inputs: Map<string, string>,
    private readonly outputs: Array<[string, string]>,
  ) {}

  /**
   * The graph of `json` with the verified `shards` (by file name), fed by `inputs` and read as
   * `outputs` (the manifest's names, mapped through model.json's signature).
   */
  static fromVerified(
    file: string,
    json: ModelJson,
    shards: ReadonlyMap<string, ArrayBuffer>,
    inputs: readonly string[],
    outputs: readonly string[],
  ): TfjsGraph {
    const weights = shardPaths(json).map((path) => {
      const bytes = shards.get(path);
      if (!bytes) throw new Error(`${file}: weight file ${path} was not verified`);
      return bytes;
    });
    const inputNodes = signatureNodes(json, "inputs", inputs, file);
    const outputNodes = signatureNodes(json, "outputs", outputs, file);
    const model = loadGraphModelSync([json as never, concatenate(weights)]);
    return new TfjsGraph(
      model,
      new Map(inputs.map((name, i) => [name, inputNodes[i]!])),
      outputs.map((name, i) => [name, outputNodes[i]!]),
    );
  }

  /** One inference: outputs by the manifest's names, read back; every tensor of the run freed. */
  async run(feeds: Feeds): Promise<Record<string, GraphOutput>> {
    const tensors = tf.tidy(() => {
      const map: tf.NamedTensorMap = {};
      for (const [name, feed] of Object.entries(feeds)) {
        const node = this.inputs.get(name);
        if (!node) throw new Error(`the model has no input named ${name}`);
        if (feed.type !== "float32") throw new Error(`TF.js graph models take float32 inputs; ${name} is ${feed.type}`);
        map[node] = tf.tensor(feed.data, feed.dims, "float32");
      }
      const out = this.model.execute(map, this.outputs.map(([, node]) => node));
      return Array.isArray(out) ? out : [out];
    });
    try {
      const data = await Promise.all(tensors.map((t) => t.data()));
      const result: Record<string, GraphOutput> = {};
      this.outputs.forEach(([name], i) => {
        result[name] = { data: data[i] as GraphOutput["data"], dims: tensors[i]!.shape.slice(), dispose: () => undefined };
      });
      return result;
    } finally {
      tf.dispose(tensors);
    }
  }

  async release(): Promise<void> {
    this.model.dispose();
  }
}
