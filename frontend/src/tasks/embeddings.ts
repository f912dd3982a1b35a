/**
 * Sentence embeddings: text in, unit-length vectors out.
 * The port of contract/tasks/embeddings.py.
 *
 * The catalog's embedder already pools and normalises inside the graph, so its
 * output is [batch, dim]. A model that returns token states
 * [batch, sequence, dim] is mean-pooled over the attention mask here, the same
 * sum over real tokens divided by their count that sentence-transformers uses.
 * `postprocess.normalize` (default true) L2-normalises the result.
 *
 * Sums run in float64 and results are stored as float32; numpy accumulates in
 * float32, so the two agree to about 1e-7, far inside any test tolerance.
 */

import { floatData } from "./tensors.js";
import type { Int64Feed, TextBatch } from "./tokenization.js";
import type { EmbeddingsResult, TaskManifest, TensorLike } from "./types.js";

/** Row-major float32 rows: [rows, columns]. */
export interface Matrix {
  data: Float32Array;
  dims: [number, number];
}

/** Mean of token vectors [B, S, H] over real tokens (`mask` [B, S]) -> [B, H]. */
export function meanPool(
  lastHidden: { data: ArrayLike<number>; dims: readonly number[] },
  mask: Int64Feed | null,
): Matrix {
  const [batch, sequence, hidden] = lastHidden.dims as [number, number, number];
  if (lastHidden.dims.length !== 3) {
    throw new Error(`mean pooling needs [batch, sequence, hidden], got [${lastHidden.dims.join(", ")}]`);
  }
  const out = new Float32Array(batch * hidden);
  const sum = new Float64Array(hidden);
  for (let b = 0; b < batch; b++) {
    sum.fill(0);
    let count = 0;
    for (let s = 0; s < sequence; s++) {
      const weight = mask ? Number(mask.data[b * sequence + s]!) : 1;
      if (weight === 0) continue;
      count += weight;
      const row = (b * sequence + s) * hidden;
      for (let h = 0; h < hidden; h++) sum[h]! += weight * lastHidden.data[row + h]!;
    }
    const divisor = Math.max(count, 1e-9);
    for (let h = 0; h < hidden; h++) out[b * hidden + h] = sum[h]! / divisor;
  }
  return { data: out, dims: [batch, hidden] };
}

/** Scale each row to unit length (rows of zeros stay zero). */
export function l2Normalize(vectors: Matrix, eps = 1e-12): Matrix {
  const [rows, columns] = vectors.dims;
  const out = new Float32Array(vectors.data.length);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let c = 0; c < columns; c++) squares += vectors.data[r * columns + c]! ** 2;
    const norm = Math.max(Math.sqrt(squares), eps);
    for (let c = 0; c < columns; c++) out[r * columns + c] = vectors.data[r * columns + c]! / norm;
  }
  return { data: out, dims: [rows, columns] };
}

function unit(vector: ArrayLike<number>): number[] {
  const values = Array.from(vector);
  const norm = Math.max(Math.sqrt(values.reduce((a, v) => a + v * v, 0)), 1e-12);
  return values.map((v) => v / norm);
}

function dot(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`vectors of length ${a.length} and ${b.length}`);
  return a.reduce((sum, v, i) => sum + v * b[i]!, 0);
}

function isBatch(x: ArrayLike<number> | ArrayLike<ArrayLike<number>>): x is ArrayLike<ArrayLike<number>> {
  return x.length > 0 && typeof x[0] === "object";
}

/** Cosine of two vectors (a number), or of batches [N, D] and [M, D] ([N][M]). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number;
export function cosineSimilarity(
  a: ArrayLike<number> | ArrayLike<ArrayLike<number>>,
  b: ArrayLike<number> | ArrayLike<ArrayLike<number>>,
): number[][];
export function cosineSimilarity(
  a: ArrayLike<number> | ArrayLike<ArrayLike<number>>,
  b: ArrayLike<number> | ArrayLike<ArrayLike<number>>,
): number | number[][] {
  if (!isBatch(a) && !isBatch(b)) return dot(unit(a), unit(b));
  const rowsA = (isBatch(a) ? Array.from(a) : [a]).map(unit);
  const rowsB = (isBatch(b) ? Array.from(b) : [b]).map(unit);
  return rowsA.map((x) => rowsB.map((y) => dot(x, y)));
}

/** Both text tasks tokenize the same way: a string or a list of strings -> feeds, context. */
export { prepareTexts as prepare } from "./tokenization.js";

/** First output -> `{embedding}` (a string came in) or `{embeddings}` (a list). */
export function finish(
  outputs: readonly TensorLike[],
  context: TextBatch,
  manifest: Partial<TaskManifest>,
): EmbeddingsResult {
  const output = outputs[0];
  const data = floatData(output, "embedding");
  const dims = output!.dims;
  let vectors: Matrix =
    dims.length === 3
      ? meanPool({ data, dims }, context.attentionMask)
      : { data: Float32Array.from(data), dims: [dims[0]!, data.length / dims[0]!] };
  if (manifest.postprocess?.normalize ?? true) {
    vectors = l2Normalize(vectors);
  }
  const [rows, columns] = vectors.dims;
  const list = Array.from({ length: rows }, (_, r) =>
    Array.from(vectors.data.subarray(r * columns, (r + 1) * columns)),
  );
  return context.single ? { embedding: list[0]! } : { embeddings: list };
}
