/**
 * One abort listener per signal, however many waits share it.
 *
 * Deno's `EventTarget` makes adding and removing listeners on one signal
 * O(listeners) each, so N waits each registering their own listener on a
 * shared signal (an app-wide shutdown signal, a request's signal) cost
 * O(N²) when it aborts: 40,000 waits blocked the event loop for 33 s. Here a
 * signal gets a single listener the first time anything watches it; the
 * watchers sit in a `Set` (O(1) add and delete, insertion order), and a wait
 * that ends otherwise only leaves that set, never touching the signal.
 *
 * Internal: the core's waits use it, and so may the layers above (I/O,
 * network) through `src/core/_internal.ts`.
 *
 * @module
 */

/**
 * Something to tell when a signal aborts.
 *
 * @example
 * ```ts ignore
 * const watcher: AbortWatcher = { onAbort: (reason) => console.log("aborted", reason) };
 * ```
 */
export interface AbortWatcher {
  /** Called once, with the signal's reason, when the signal aborts. */
  onAbort(reason: unknown): void;
}

/**
 * The watchers of one signal, registered on it as a single listener.
 *
 * @example
 * ```ts ignore
 * const watch = watchAbort(signal, waiter);
 * // ...the wait ended otherwise:
 * watch.delete(waiter);
 * ```
 */
export class AbortWatch {
  #signal: AbortSignal;
  #watchers = new Set<AbortWatcher>();

  /** @internal use `watchAbort` */
  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  /** Adds `watcher` (O(1)). */
  add(watcher: AbortWatcher): void {
    this.#watchers.add(watcher);
  }

  /** Removes `watcher` (O(1)); the signal's listener stays for later watchers. */
  delete(watcher: AbortWatcher): void {
    this.#watchers.delete(watcher);
  }

  /** The signal's one abort listener (an object listener: no closure). */
  handleEvent(): void {
    // Swapped first: watchers delete themselves as they settle, from the new
    // (empty) set, while this loop walks the old one in order.
    const watchers = this.#watchers;
    this.#watchers = new Set();
    const reason = this.#signal.reason;
    for (const w of watchers) {
      try {
        w.onAbort(reason);
      } catch (error) {
        // One watcher's bug must not cost the others their abort.
        reportError(error);
      }
    }
  }
}

const watches = new WeakMap<AbortSignal, AbortWatch>();

/**
 * Calls `watcher.onAbort(reason)` when `signal` aborts, and returns the
 * signal's `AbortWatch`, whose `delete(watcher)` stops that in O(1). The
 * first watcher of a signal adds its only `"abort"` listener; it stays (one
 * per signal) until the signal is collected. The caller has checked that
 * the signal has not aborted yet.
 *
 * @example
 * ```ts ignore
 * const controller = new AbortController();
 * const watch = watchAbort(controller.signal, { onAbort: (r) => console.log(r) });
 * controller.abort("stop"); // prints "stop"
 * ```
 */
export function watchAbort(signal: AbortSignal, watcher: AbortWatcher): AbortWatch {
  let watch = watches.get(signal);
  if (watch === undefined) {
    watch = new AbortWatch(signal);
    watches.set(signal, watch);
    signal.addEventListener("abort", watch, { once: true });
  }
  watch.add(watcher);
  return watch;
}
