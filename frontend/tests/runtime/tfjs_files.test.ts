/**
 * Reading model.json without TF.js: the weight files in the order their bytes are joined, the
 * graph nodes of the manifest's names through the signature, and clear errors for what is not
 * a TF.js graph model.
 */

import { describe, expect, it } from "vitest";

import { parseModelJson, shardPaths, signatureNodes } from "../../src/runtime/tfjs_files.js";

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).buffer as ArrayBuffer;

const MODEL = {
  format: "graph-model",
  modelTopology: { node: [] },
  weightsManifest: [
    { paths: ["model.tfjs.1of2.bin", "model.tfjs.2of2.bin"], weights: [] },
    { paths: ["model.tfjs.extra.bin"], weights: [] },
  ],
  signature: {
    inputs: { image: { name: "image:0" } },
    outputs: { regressors: { name: "Identity_1:0" }, classificators: { name: "Identity:0" } },
  },
};

describe("model.json", () => {
  it("names its weight files group by group, in order", () => {
    expect(shardPaths(parseModelJson("model.tfjs.json", bytes(MODEL)))).toEqual([
      "model.tfjs.1of2.bin",
      "model.tfjs.2of2.bin",
      "model.tfjs.extra.bin",
    ]);
  });

  it("maps the manifest's names to graph nodes, in the manifest's order", () => {
    const json = parseModelJson("model.tfjs.json", bytes(MODEL));
    expect(signatureNodes(json, "outputs", ["regressors", "classificators"], "model.tfjs.json")).toEqual([
      "Identity_1:0",
      "Identity:0",
    ]);
    expect(() => signatureNodes(json, "inputs", ["face"], "model.tfjs.json")).toThrow(
      'model.tfjs.json: its signature has no input named "face" (it has "image")',
    );
  });

  it("refuses what is not a TF.js graph model", () => {
    expect(() => parseModelJson("model.tfjs.json", new TextEncoder().encode("\u0000onnx").buffer as ArrayBuffer)).toThrow(
      "model.tfjs.json is not JSON",
    );
    expect(() => parseModelJson("model.tfjs.json", bytes({ weightsManifest: [] }))).toThrow(
      "model.tfjs.json has no modelTopology or weightsManifest: it is not a TF.js graph model",
    );
  });
});
