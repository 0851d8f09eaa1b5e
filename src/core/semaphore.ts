/**
 * `Semaphore`: a counter of permits that tasks acquire and release.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { type Held, holdOf } from "./hold.ts";
import { TRUE } from "./lock.ts";
import type { WaitOptions } from "./options.ts";
import { park, waitError, WaitQueue } from "./wait.ts";

/**
 * A semaphore with `value` permits; waiters are served FIFO. Anyone may
 * release, and `release` has no upper bound (see `BoundedSemaphore`).
 *
 * @example
 * ```ts
 * import { Semaphore, spawn } from "@denocos/denocos";
 *
 * const sem = new Semaphore(2);
 * let inside = 0, most = 0;
 * const work = async () => {
 *   await using _permit = await sem.hold();
 *   most = Math.max(most, ++inside);
 *   await new Promise((r) => setTimeout(r, 1));
 *   inside--;
 * };
 * await Promise.all([1, 2, 3, 4].map(() => spawn(work).finish()));
 * console.log(most); // 2
 * ```
 */
export class Semaphore {
  #value: number;
  #waiters = new WaitQueue();

  /**
   * Creates a `Semaphore`.
   *
   * @param value the initial number of permits (an integer ≥ 0, default 1)
   */
  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`Semaphore: 'value' must be an integer >= 0, got ${value}`);
    }
    this.#value = value;
  }

  /** Permits available now. */
  get value(): number {
    return this.#value;
  }

  /** Takes a permit, waiting FIFO if none is free; resolves `false` on timeout. */
  acquire(options?: WaitOptions): Promise<boolean> {
    // Checked before the fast path: a bad or aborted wait takes nothing.
    const task = currentTask();
    const err = waitError(task, options);
    if (err !== undefined) return Promise.reject(err);
    if (this.#value > 0 && this.#waiters.length === 0) {
      this.#value--;
      return TRUE;
    }
    return park(this.#waiters, task, options, false);
  }

  /** Returns a permit, handing it straight to the oldest waiter if any. */
  release(): void {
    const next = this.#waiters.shift();
    if (next !== null) next.settle(true);
    else this.#value++;
  }

  /** Acquires and returns a handle whose disposal releases. */
  hold(options?: WaitOptions): Promise<Held> {
    return holdOf(this.acquire(options), () => this.release(), "semaphore");
  }
}
