/**
 * Python's `round(x, digits)`, so that browser and server results are equal
 * digit for digit, not just close.
 *
 * Python rounds the exact binary value of `x` to the nearest multiple of
 * 10^-digits and breaks exact ties to the even neighbour (`round(0.125, 2)` is
 * 0.12, `round(2.5)` is 2). `Number.prototype.toFixed` also rounds the exact
 * binary value, but breaks ties upward, and `Math.round(x * 100) / 100` is
 * wrong twice over (the product is inexact, ties go towards +infinity).
 */

/**
 * `x` rounded to `digits` decimals (0..20) as Python's `round` does it.
 * NaN and infinities come back unchanged.
 */
export function roundHalfEven(x: number, digits = 0): number {
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new RangeError(`digits must be an integer from 0 to 20, got ${digits}`);
  }
  if (!Number.isFinite(x)) return x;
  // An exact tie at `digits` decimals is x = m / 2^(digits + 1) with m odd:
  // then x * 10^digits = m * 5^digits / 2 is an integer and a half.
  const m = x * 2 ** (digits + 1); // exact: a power-of-two scaling
  if (Number.isInteger(m) && Math.abs(m % 2) === 1) {
    const scaled = BigInt(m) * 5n ** BigInt(digits); // 2 * x * 10^digits, odd
    const below = (scaled - 1n) / 2n; // floor(x * 10^digits), exact
    const even = below % 2n === 0n ? below : below + 1n;
    return Number(`${even}e-${digits}`);
  }
  return Number(x.toFixed(digits));
}
