/**
 * `Event`: a flag tasks can wait for.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { TRUE } from "./lock.ts";
import type { WaitOptions } from "./options.ts";
import { park, waitError, WaitQueue } from "./wait.ts";

/**
 * A flag: `wait` resolves `true` once it is set (at once if it is set
 * already), or `false` on timeout. `set` wakes every waiter.
 *
 * @example
 * ```ts
 * import { Event, spawn } from "@denocos/denocos";
 *
 * const ready = new Event();
 * const t = spawn(async () => await ready.wait());
 * ready.set();
 * console.log(await t.finish()); // true
 * ```
 */
export class Event {
  #set = false;
  #waiters = new WaitQueue();

  /** Whether the flag is set. */
  isSet(): boolean {
    return this.#set;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.#set = true;
    this.#waiters.settleAll(true);
  }

  /** Clears the flag. */
  clear(): void {
    this.#set = false;
  }

  /** Resolves `true` when the flag is set, `false` on timeout. */
  wait(options?: WaitOptions): Promise<boolean> {
    // Checked before the fast path: a bad or aborted wait takes nothing.
    const task = currentTask();
    const err = waitError(task, options);
    if (err !== undefined) return Promise.reject(err);
    if (this.#set) return TRUE;
    return park(this.#waiters, task, options, false);
  }
}
