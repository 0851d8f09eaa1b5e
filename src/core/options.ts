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
  /**
   * Give up when this signal aborts; the wait rejects with its reason. A
   * signal that has aborted already rejects the call at once, even one that
   * would not have had to wait (see `waitOptionsError`).
   */
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

/**
 * The error a wait must reject with before it does anything else: a
 * `RangeError` for a bad timeout, or the signal's reason when the signal has
 * already aborted. So an aborted signal stops even a wait that could be
 * satisfied at once (a free lock, a set event, a queued message), as
 * `fetch` does, and takes nothing.
 *
 * @example
 * ```ts
 * import { waitOptionsError } from "@denocos/denocos/core";
 *
 * const controller = new AbortController();
 * controller.abort(new Error("stop"));
 * console.log(waitOptionsError({ signal: controller.signal })); // Error: stop
 * console.log(waitOptionsError({ timeout: 5 })); // undefined
 * ```
 */
export function waitOptionsError(options: WaitOptions | undefined): unknown {
  if (options === undefined) return undefined;
  const bad = timeoutError(options.timeout);
  if (bad !== undefined) return bad;
  const signal = options.signal;
  return signal !== undefined && signal.aborted ? signal.reason : undefined;
}
