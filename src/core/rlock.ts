/**
 * `RLock`: a re-entrant lock owned by a task.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { LockNotHeld } from "./errors.ts";
import { type Held, holdOf } from "./hold.ts";
import { TRUE } from "./lock.ts";
import type { WaitOptions } from "./options.ts";
import type { Task } from "./task.ts";
import { park, waitError, WaitQueue } from "./wait.ts";

/**
 * Used by `Condition` to release fully and take the lock back at the same depth.
 *
 * @example
 * ```ts ignore
 * const depth = rlockInternals.releaseAll(lock);
 * await rlockInternals.reacquire(lock, depth);
 * ```
 */
export let rlockInternals: {
  releaseAll(lock: RLock): number;
  reacquire(lock: RLock, depth: number): Promise<boolean>;
};

/**
 * A lock its holder may acquire again; it is free once released as often as
 * acquired. Waiters get it in FIFO order.
 *
 * @example
 * ```ts
 * import { RLock, spawn } from "@denocos/denocos";
 *
 * const lock = new RLock();
 * await spawn(async () => {
 *   await lock.acquire();
 *   await lock.acquire(); // the holder may re-enter
 *   lock.release();
 *   lock.release();
 * }).finish();
 * console.log(lock.locked()); // false
 * ```
 */
export class RLock {
  #owner: Task | null | undefined = undefined;
  #depth = 0;
  #waiters = new WaitQueue();

  /** Whether someone holds the lock. */
  locked(): boolean {
    return this.#owner !== undefined;
  }

  /** Whether the calling task (or outside code) holds the lock. */
  owned(): boolean {
    return this.#owner !== undefined && this.#owner === (currentTask() ?? null);
  }

  /** Takes the lock (again, if the caller holds it). Resolves `false` on timeout. */
  acquire(options?: WaitOptions): Promise<boolean> {
    // Checked before the fast path: a bad or aborted wait takes nothing.
    const task = currentTask();
    const err = waitError(task, options);
    if (err !== undefined) return Promise.reject(err);
    const me = task ?? null;
    if (this.#owner === undefined || this.#owner === me) {
      this.#owner = me;
      this.#depth++;
      return TRUE;
    }
    return park(this.#waiters, task, options, false, 1);
  }

  /** Releases one level; throws `LockNotHeld` unless the caller holds it. */
  release(): void {
    if (!this.owned()) throw new LockNotHeld("release of an RLock the caller does not hold");
    if (--this.#depth === 0) this.#handOff();
  }

  /** Acquires and returns a handle whose disposal releases once. */
  hold(options?: WaitOptions): Promise<Held> {
    return holdOf(this.acquire(options), () => this.release(), "lock");
  }

  #handOff(): void {
    const next = this.#waiters.shift();
    if (next === null) this.#owner = undefined;
    else if (typeof next.data === "number") {
      this.#owner = next.task;
      this.#depth = next.data;
      next.settle(true);
    } else {
      // A condition's re-acquire: parked without a task so it cannot be interrupted.
      const { owner, depth } = next.data as { owner: Task | null; depth: number };
      this.#owner = owner;
      this.#depth = depth;
      next.settle(true);
    }
  }

  static {
    rlockInternals = {
      releaseAll(lock) {
        if (!lock.owned()) throw new LockNotHeld("the caller does not hold the condition's lock");
        const depth = lock.#depth;
        lock.#depth = 0;
        lock.#handOff();
        return depth;
      },
      reacquire(lock, depth) {
        const owner = currentTask() ?? null;
        if (lock.#owner === undefined) {
          lock.#owner = owner;
          lock.#depth = depth;
          return TRUE;
        }
        return park(lock.#waiters, undefined, undefined, false, { owner, depth });
      },
    };
  }
}
