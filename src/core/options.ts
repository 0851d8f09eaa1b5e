/**
 * The options every wait takes, and their validation.
 *
 * @module
 */

/**
 * Options for any wait: a time limit in milliseconds and an abort signal.
 *
 * @example
 * ```ts
 * import { Event, type WaitOptions } from "@denocos/denocos";
 *
 * const opts: WaitOptions = { timeout: 10, signal: AbortSignal.timeout(1000) };
 * console.log(await new Event().wait(opts)); // false: nobody set it
 * ```
 */
export interface WaitOptions {
  /** Give up after this many milliseconds (`0` = do not wait at all). */
  timeout?: number;
  /** Give up when this signal aborts; the wait rejects with its reason. */
  signal?: AbortSignal;
}

/**
 * Returns a `RangeError` for a timeout that is not a non-negative number, or
 * `undefined` when it is fine (or absent).
 *
 * @example
 * ```ts
 * import { timeoutError } from "@denocos/denocos/core";
 *
 * console.log(timeoutError(-1)?.name); // "RangeError"
 * ```
 */
export function timeoutError(timeout: unknown, what = "timeout"): RangeError | undefined {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== "number" || !(timeout >= 0)) {
    return new RangeError(`${what} must be a non-negative number of milliseconds, got ${timeout}`);
  }
  return undefined;
}
