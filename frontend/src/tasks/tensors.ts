/**
 * The model's tensors as the task modules see them: the input name the
 * manifest gives, and the data of the outputs. ONNX Runtime Web returns typed
 * arrays whose type follows each output's dtype; the post-processing here
 * works on float outputs and says so clearly when a model returns something else.
 */

import type { TaskManifest, TensorLike } from "./types.js";

/** The name of the model's single input, from the manifest. */
export function inputName(manifest: TaskManifest): string {
  const name = manifest.inputs?.[0]?.name;
  if (!name) throw new Error("manifest.inputs is empty; the model's input name is unknown");
  return name;
}

/** The values of a float output (`what` names it in the error). */
export function floatData(output: TensorLike | undefined, what: string): ArrayLike<number> {
  if (!output) throw new Error(`the model returned no ${what} output`);
  const { data } = output;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    throw new Error(`the ${what} output holds int64 values; a float tensor is expected`);
  }
  return data as ArrayLike<number>;
}
