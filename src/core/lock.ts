/**
 * `Lock`: a cooperative mutual-exclusion lock owned by a task.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { LockNotHeld } from "./errors.ts";
import { type Held, holdOf } from "./hold.ts";
import type { WaitOptions } from "./options.ts";
import type { Task } from "./task.ts";
import { park, waitError, WaitQueue } from "./wait.ts";

/**
 * A shared settled promise, so the primitives' fast paths allocate nothing.
 *
 * @example
 * ```ts ignore
 * if (this.#set) return TRUE;
 * ```
 */
export const TRUE: Promise<boolean> = Promise.resolve(true);

/** `undefined` = free; `null` = held by code outside any task. */
type Owner = Task | null | undefined;

/**
 * Used by `Condition`: takes the lock back without being interruptible.
 *
 * @example
 * ```ts ignore
 * await lockInternals.reacquire(lock);
 * ```
 */
export let lockInternals: { reacquire(lock: Lock): Promise<boolean> };

/**
 * A lock that one task holds at a time; waiters get it in FIFO order. Only
 * the holder may release it (code outside any task counts as one holder).
 *
 * @example
 * ```ts
 * import { Lock, spawn } from "@denocos/denocos";
 *
 * const lock = new Lock();
 * const log: string[] = [];
 * const worker = async (_task: unknown, name: string) => {
 *   await using _held = await lock.hold();
 *   log.push(`${name} in`);
 *   await new Promise((r) => setTimeout(r, 1));
 *   log.push(`${name} out`);
 * };
 * await Promise.all([spawn(worker, "a").finish(), spawn(worker, "b").finish()]);
 * console.log(log); // ["a in", "a out", "b in", "b out"]
 * ```
 */
export class Lock {
  #owner: Owner = undefined;
  #waiters = new WaitQueue();

  /** Whether someone holds the lock. */
  locked(): boolean {
    return this.#owner !== undefined;
  }

  /**
   * Takes the lock, waiting in FIFO order if needed. Resolves `true`, or
   * `false` when the timeout passes (`timeout: 0` = try once).
   */
  acquire(options?: WaitOptions): Promise<boolean> {
    // Checked before the fast path: a bad or aborted wait takes nothing.
    const task = currentTask();
    const err = waitError(task, options);
    if (err !== undefined) return Promise.reject(err);
    if (this.#owner === undefined) {
      this.#owner = task ?? null;
      return TRUE;
    }
    return park(this.#waiters, task, options, false);
  }

  /**
   * Releases the lock and hands it to the oldest waiter. Throws
   * `LockNotHeld` if it is free or held by another task.
   */
  release(): void {
    const owner = this.#owner;
    if (owner === undefined) throw new LockNotHeld("release of an unlocked Lock");
    if (owner !== (currentTask() ?? null)) {
      throw new LockNotHeld(`Lock is held by ${owner === null ? "code outside tasks" : owner}`);
    }
    const next = this.#waiters.shift();
    if (next === null) this.#owner = undefined;
    else {
      // A condition's re-acquire parks without a task (so it cannot be
      // interrupted) and names its owner in `data`.
      this.#owner = next.data === undefined ? next.task : (next.data as { owner: Owner }).owner;
      next.settle(true);
    }
  }

  /** Acquires and returns a handle whose disposal releases: `await using _ = await lock.hold()`. */
  hold(options?: WaitOptions): Promise<Held> {
    return holdOf(this.acquire(options), () => this.release(), "lock");
  }

  static {
    lockInternals = {
      reacquire(lock) {
        const owner = currentTask() ?? null;
        if (lock.#owner === undefined) {
          lock.#owner = owner;
          return TRUE;
        }
        return park(lock.#waiters, undefined, undefined, false, { owner });
      },
    };
  }
}
