/**
 * The errors `AsyncThreadPool` raises. Errors a job throws come back as
 * themselves where their class is a standard one (`TypeError`,
 * `Deno.errors.NotCapable`…) and as `WorkerJobError` otherwise.
 *
 * @module
 */

/**
 * A job threw an error whose class does not exist outside the Worker (a
 * custom class): this carries its name, message and stack. Standard errors
 * (`Error`, `TypeError`, `RangeError`, `Deno.errors.*`…) are re-created as
 * their own class instead, with the Worker's stack.
 *
 * @example
 * ```ts
 * import { AsyncThreadPool, WorkerJobError } from "@denocos/denocos/io";
 *
 * await using pool = new AsyncThreadPool(1);
 * try {
 *   await pool.run(() => {
 *     class Oops extends Error {
 *       override name = "Oops";
 *     }
 *     throw new Oops("bad input");
 *   });
 * } catch (e) {
 *   if (e instanceof WorkerJobError) console.log(e.remoteName, e.message); // "Oops" "bad input"
 * }
 * ```
 */
export class WorkerJobError extends Error {
  /** The `name` of the error the job threw. */
  readonly remoteName: string;
  /** The error's `code` property, when it had a string or number one. */
  readonly code: string | number | undefined;
  /**
   * Carries what the Worker reported about the error a job threw.
   *
   * @param remoteName the thrown error's name
   * @param message the thrown error's message
   * @param stack the thrown error's stack, as the Worker printed it
   * @param code the thrown error's `code`, if any
   */
  constructor(remoteName: string, message: string, stack?: string, code?: string | number) {
    super(message);
    this.name = "WorkerJobError";
    this.remoteName = remoteName;
    this.code = code;
    if (stack) this.stack = stack;
  }
}

/**
 * The Worker running a job died before the job ended: an uncaught error or
 * unhandled rejection in the Worker's global scope (a timer callback, a
 * forgotten promise), `self.close()`, or `Deno.exit()`. The pool replaces
 * the Worker; jobs that had not started yet run on the new one. Also the
 * error every job gets when the pool's Workers cannot start at all (for
 * example without read permission for the worker script). `cause` holds
 * what the Worker reported.
 *
 * @example
 * ```ts
 * import { AsyncThreadPool, WorkerCrashed } from "@denocos/denocos/io";
 *
 * await using pool = new AsyncThreadPool(1);
 * try {
 *   await pool.run(() => new Promise(() => setTimeout(() => { throw new Error("boom"); })));
 * } catch (e) {
 *   console.log(e instanceof WorkerCrashed); // true
 * }
 * console.log(await pool.run((x: number) => x + 1, 1)); // 2: a new Worker took over
 * ```
 */
export class WorkerCrashed extends Error {
  /**
   * Makes the error; the pool throws it, user code rarely needs to.
   *
   * @param message what happened
   * @param options `cause`: the error the Worker reported
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerCrashed";
  }
}

/**
 * The thread pool was closed: jobs still queued or running when `close()`
 * was called, and jobs submitted afterwards, fail with this.
 *
 * @example
 * ```ts
 * import { AsyncThreadPool, PoolClosed } from "@denocos/denocos/io";
 *
 * const pool = new AsyncThreadPool(1);
 * await pool.close();
 * try {
 *   await pool.run(() => 1);
 * } catch (e) {
 *   console.log(e instanceof PoolClosed); // true
 * }
 * ```
 */
export class PoolClosed extends Error {
  /**
   * Makes the error; the pool throws it, user code rarely needs to.
   *
   * @param message what was refused
   */
  constructor(message = "the thread pool is closed") {
    super(message);
    this.name = "PoolClosed";
  }
}
