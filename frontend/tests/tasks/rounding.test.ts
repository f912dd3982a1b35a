/** Python's round(x, digits), which every score and box in a task result goes through. */

import { describe, expect, it } from "vitest";

import { roundHalfEven } from "../../src/tasks/rounding.js";

describe("roundHalfEven", () => {
  // Expected values printed by Python 3.11's round().
  it.each([
    [0.125, 2, 0.12],
    [0.375, 2, 0.38],
    [2.5, 0, 2],
    [3.5, 0, 4],
    [-0.125, 2, -0.12],
    [-0.375, 2, -0.38],
    [-2.5, 0, -2],
    [2.675, 2, 2.67], // 2.675 is stored just below: not a tie
    [1e-7, 6, 0],
    [5e-7, 6, 0], // stored just below 5e-7
    [1.5e-6, 6, 2e-6], // stored just above
    [0.9209075647031727, 6, 0.920908],
    [177.28125, 2, 177.28],
    [1234.5678, 2, 1234.57],
  ])("round(%s, %s) is %s", (x, digits, expected) => {
    expect(roundHalfEven(x, digits)).toBe(expected);
  });

  it("passes NaN and infinities through and refuses bad digits", () => {
    expect(roundHalfEven(Number.NaN, 2)).toBeNaN();
    expect(roundHalfEven(Infinity, 2)).toBe(Infinity);
    expect(() => roundHalfEven(1, -1)).toThrow(/digits/);
    expect(() => roundHalfEven(1, 1.5)).toThrow(/digits/);
  });
});
