/**
 * `ReaderQueue`: the queue of readers waiting on a buffered stream
 * (`AsyncSocket`, and the `PullReader` behind `AsyncPipe` and `AsyncFile`).
 *
 * @module
 */
import { type Waiter, WaitQueue } from "../core/wait.ts";

/**
 * A `WaitQueue` of readers served in order from one buffer. When the waiter
 * at its head leaves early (timeout, abort, terminate), the next one may be
 * servable from what is already buffered, so `onHeadLeft` is called (in a
 * microtask) to serve it. The owner sets `quiet` while it removes waiters
 * itself, since it serves the rest anyway.
 *
 * @example
 * ```ts
 * import { ReaderQueue } from "./reader_queue.ts";
 * import { park, TIMEOUT_REJECTS } from "../core/wait.ts";
 *
 * const readers = new ReaderQueue(() => console.log("serve the next reader"));
 * const first = park(readers, undefined, { timeout: 1 }, TIMEOUT_REJECTS);
 * const second = park(readers, undefined, { timeout: 1000 }, TIMEOUT_REJECTS);
 * await first.catch(() => {}); // timed out: "serve the next reader"
 * readers.shift()?.settle("data");
 * console.log(await second); // "data"
 * ```
 */
export class ReaderQueue extends WaitQueue {
  /** While `true`, removing the head does not call `onHeadLeft`. */
  quiet = false;
  readonly #onHeadLeft: () => void;

  /**
   * Makes an empty queue.
   *
   * @param onHeadLeft serves the readers left, once the head reader left early
   */
  constructor(onHeadLeft: () => void) {
    super();
    this.#onHeadLeft = onHeadLeft;
  }

  /** Unlinks `w`; if it was the head and others wait, schedules `onHeadLeft`. */
  override remove(w: Waiter): void {
    const head = this.peek() === w;
    super.remove(w);
    if (head && !this.quiet && this.length > 0) queueMicrotask(this.#onHeadLeft);
  }
}
