/**
 * `Condition`: wait for a state change while holding a lock.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { LockNotHeld } from "./errors.ts";
import { type Held, holdOf } from "./hold.ts";
import { Lock, lockInternals } from "./lock.ts";
import type { WaitOptions } from "./options.ts";
import { RLock, rlockInternals } from "./rlock.ts";
import { park, waitError, WaitQueue } from "./wait.ts";

/**
 * A condition variable over a `Lock` or `RLock` (default: a new `RLock`).
 * `wait` releases the lock, waits for `notify`, and takes the lock back
 * before it resolves, also after a timeout (as Python's `threading` does;
 * pycos leaves the lock released on timeout). Waiters are woken FIFO.
 *
 * @example
 * ```ts
 * import { Condition, spawn } from "@denocos/denocos";
 *
 * const cond = new Condition();
 * const items: number[] = [];
 * const consumer = spawn(async () => {
 *   await using _held = await cond.hold();
 *   while (items.length === 0) await cond.wait();
 *   return items.shift();
 * });
 * spawn(async () => {
 *   await using _held = await cond.hold();
 *   items.push(7);
 *   cond.notify();
 * });
 * console.log(await consumer.finish()); // 7
 * ```
 */
export class Condition {
  /** The lock this condition uses. */
  readonly lock: Lock | RLock;
  #waiters = new WaitQueue();

  /**
   * Creates a `Condition`.
   *
   * @param lock the lock to use (default: a new `RLock`)
   */
  constructor(lock: Lock | RLock = new RLock()) {
    if (!(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw new TypeError("Condition: 'lock' must be a Lock or an RLock");
    }
    this.lock = lock;
  }

  /** Acquires the underlying lock. */
  acquire(options?: WaitOptions): Promise<boolean> {
    return this.lock.acquire(options);
  }

  /** Releases the underlying lock. */
  release(): void {
    this.lock.release();
  }

  /** Acquires the lock and returns a handle whose disposal releases it. */
  hold(options?: WaitOptions): Promise<Held> {
    return holdOf(this.acquire(options), () => this.release(), "condition's lock");
  }

  /**
   * Releases the lock, waits to be notified (or the timeout), takes the lock
   * back, and resolves `true` if notified, `false` on timeout. Throws
   * `LockNotHeld` if the caller does not hold the lock.
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    // Checked before the lock is released, so a refused wait lets nobody in.
    const task = currentTask();
    const err = waitError(task, options);
    if (err !== undefined) throw err;
    const lock = this.lock;
    let depth = 1;
    if (lock instanceof RLock) depth = rlockInternals.releaseAll(lock);
    else {
      if (!lock.locked()) throw new LockNotHeld("Condition.wait needs the lock held");
      lock.release();
    }
    let notified = false;
    try {
      notified = await park(this.#waiters, task, options, false);
    } finally {
      // Take the lock back even when interrupted (uninterruptibly), so the
      // caller's finally/using blocks release a lock they really hold.
      if (lock instanceof RLock) await rlockInternals.reacquire(lock, depth);
      else await lockInternals.reacquire(lock);
    }
    return notified;
  }

  /** Wakes up to `n` waiters (oldest first). */
  notify(n = 1): void {
    for (let i = 0; i < n; i++) {
      const w = this.#waiters.shift();
      if (w === null) return;
      w.settle(true);
    }
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    this.#waiters.settleAll(true);
  }
}
