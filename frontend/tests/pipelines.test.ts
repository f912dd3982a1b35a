/**
 * The crop of a detect-then-classify pipeline against Python's
 * contract.pipelines.crop_rect (tests/data/golden/crop_rect.json).
 */

import { describe, expect, it } from "vitest";

import { cropRect } from "../src/pipelines.js";
import { readGolden } from "./tasks/golden.js";

interface CropGolden {
  cases: Array<{ box: number[]; width: number; height: number; margin: number; expected: number[] }>;
}

describe("cropRect", () => {
  const golden = readGolden<CropGolden>("crop_rect.json");
  it.each(golden.cases.map((c) => [JSON.stringify(c.box), c] as const))("crops %s like Python", (_, c) => {
    expect(cropRect(c.box, c.width, c.height, c.margin)).toEqual(c.expected);
  });
});
