/**
 * Reading a TF.js graph model's model.json without TF.js (the worker does it while TF.js is
 * still being imported): which weight files it names, and the graph nodes of the manifest's
 * input and output names (its `signature`). Pure functions, unit-tested without a browser.
 */

/** What model.json holds that the runtime reads (the rest goes to tfjs-converter as it is). */
export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
  signature?: {
    inputs?: Record<string, { name: string }>;
    outputs?: Record<string, { name: string }>;
  };
  [key: string]: unknown;
}

/** model.json's bytes as JSON, or an error that says the file is not a TF.js graph model. */
export function parseModelJson(file: string, bytes: ArrayBuffer): ModelJson {
  let json: ModelJson;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as ModelJson;
  } catch (err) {
    throw new Error(`${file} is not JSON (${String(err)}); is it a TF.js graph model?`);
  }
  if (!json || typeof json !== "object" || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${file} has no modelTopology or weightsManifest: it is not a TF.js graph model`);
  }
  return json;
}

/** The weight files model.json names, in the order their bytes are concatenated. */
export function shardPaths(json: ModelJson): string[] {
  return json.weightsManifest.flatMap((group) => group.paths);
}

/**
 * The graph node of each manifest name (`names`), from model.json's signature (`signature.inputs`
 * or `.outputs` keyed by the manifest's input/output names); an error names what is missing.
 */
export function signatureNodes(
  json: ModelJson,
  part: "inputs" | "outputs",
  names: readonly string[],
  file: string,
): string[] {
  const entries = json.signature?.[part] ?? {};
  return names.map((name) => {
    const node = entries[name]?.name;
    if (!node) {
      throw new Error(
        `${file}: its signature has no ${part.slice(0, -1)} named ${JSON.stringify(name)} ` +
          `(it has ${Object.keys(entries).map((k) => JSON.stringify(k)).join(", ") || "none"})`,
      );
    }
    return node;
  });
}
