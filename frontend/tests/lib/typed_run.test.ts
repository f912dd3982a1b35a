/**
 * `run` is typed per task when `loadModel(name, {task})` names it: checked by tsc
 * (make test runs it over tests/) and by vitest's expectTypeOf.
 */

import { describe, expectTypeOf, it } from "vitest";

import type { ImageInput, Model, RunInfo, TextInput } from "../../src/lib/browserml.js";
import type {
  EmbeddingsResult,
  FaceDetectionResult,
  ImageClassificationResult,
  TextClassificationBatchResult,
  TextClassificationResult,
} from "../../src/tasks/types.js";

type RunOf<T extends { run: (...args: never[]) => Promise<unknown> }> = Awaited<ReturnType<T["run"]>>;

describe("Model<task>.run", () => {
  it("takes the task's input and returns the task's result with where it ran", () => {
    expectTypeOf<Parameters<Model<"image-classification">["run"]>[0]>().toEqualTypeOf<ImageInput>();
    expectTypeOf<Parameters<Model<"embeddings">["run"]>[0]>().toEqualTypeOf<TextInput>();
    expectTypeOf<RunOf<Model<"image-classification">>>().toEqualTypeOf<ImageClassificationResult & RunInfo>();
    expectTypeOf<RunOf<Model<"face-detection">>>().toEqualTypeOf<FaceDetectionResult & RunInfo>();
    expectTypeOf<RunOf<Model<"text-classification">>>().toEqualTypeOf<
      (TextClassificationResult | TextClassificationBatchResult) & RunInfo
    >();
    expectTypeOf<RunOf<Model<"embeddings">>>().toEqualTypeOf<EmbeddingsResult & RunInfo>();
    expectTypeOf<RunOf<Model<"face-detection">>["faces"][number]["box"]>().toEqualTypeOf<[number, number, number, number]>();
  });
});
