/**
 * `Arrivals`: the waiting side shared by `AsyncServer` (connections) and
 * `AsyncDatagram` (datagrams).
 *
 * @module
 */
import type { WaitOptions } from "../core/options.ts";
import type { Task } from "../core/task.ts";
import { park, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";

/**
 * Things that come one at a time from an operation (an accept, a receive)
 * that runs only while somebody waits, one at a time. Each arrival goes to
 * the oldest waiter, converted by `deliver`; with nobody waiting any more (a
 * timeout, an abort, a `terminate`) it is kept, unconverted, for the next
 * `take`. The owner starts the operation in `start` and reports its outcome
 * with `arrived` or `failed`; it checks `pendingError` and closing before
 * `take`, and ignores outcomes once closed.
 *
 * @example
 * ```ts
 * import { Arrivals } from "./arrivals.ts";
 *
 * const inbox = new Arrivals<number, string>(
 *   () => queueMicrotask(() => inbox.arrived(42)),
 *   (n) => `got ${n}`,
 * );
 * console.log(await inbox.take(undefined, { timeout: 1000 })); // "got 42"
 * ```
 */
export class Arrivals<T, U = T> {
  readonly #waiters = new WaitQueue();
  readonly #ready: T[] = [];
  readonly #start: () => void;
  readonly #deliver: (item: T) => U;
  #busy = false;

  /**
   * Makes an empty set of arrivals.
   *
   * @param start starts the operation (it reports with `arrived` or `failed`)
   * @param deliver what a waiter gets for an arrival
   */
  constructor(start: () => void, deliver: (item: T) => U) {
    this.#start = start;
    this.#deliver = deliver;
  }

  /** Resolves the next arrival: a kept one at once, else the next one to come. */
  take(task: Task | undefined, options: WaitOptions | undefined): Promise<U> {
    if (this.#ready.length > 0 && this.#waiters.length === 0) {
      return Promise.resolve(this.#deliver(this.#ready.shift()!));
    }
    const p = park<U>(this.#waiters, task, options, TIMEOUT_REJECTS);
    this.#next();
    return p;
  }

  /** Hands `item` to the oldest waiter (or keeps it); starts again if more wait. */
  arrived(item: T): void {
    this.#busy = false;
    const w = this.#waiters.shift();
    if (w === null) this.#ready.push(item);
    else w.settle(this.#deliver(item));
    this.#next();
  }

  /** Fails the oldest waiter with `error` (the next one tries again). */
  failed(error: unknown): void {
    this.#busy = false;
    this.#waiters.shift()?.fail(error);
    this.#next();
  }

  /** Fails every waiter with `error`; returns the kept arrivals, now dropped. */
  close(error: unknown): T[] {
    this.#waiters.failAll(error);
    return this.#ready.splice(0);
  }

  #next(): void {
    if (!this.#busy && this.#waiters.length > 0) {
      this.#busy = true;
      this.#start();
    }
  }
}
