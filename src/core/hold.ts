/**
 * The disposable handle `hold()` returns, shared by every lock-like primitive.
 *
 * @module
 */
import { TimeoutError } from "./errors.ts";

/**
 * A held lock or semaphore: disposing it releases it once.
 *
 * @example
 * ```ts
 * import { Lock } from "@denocos/denocos";
 *
 * const lock = new Lock();
 * {
 *   await using _held = await lock.hold();
 *   console.log(lock.locked()); // true
 * }
 * console.log(lock.locked()); // false
 * ```
 */
export interface Held extends AsyncDisposable, Disposable {
  /** Releases now (disposing later does nothing). */
  release(): void;
}

/**
 * Turns an `acquire` result into a `Held`, or a `TimeoutError` when the
 * acquire gave up.
 *
 * @example
 * ```ts ignore
 * hold(options) { return holdOf(this.acquire(options), () => this.release(), "lock"); }
 * ```
 */
export async function holdOf(
  acquired: Promise<boolean>,
  release: () => void,
  what: string,
): Promise<Held> {
  if (!await acquired) throw new TimeoutError(`timed out acquiring the ${what}`);
  let held = true;
  const done = (): void => {
    if (held) {
      held = false;
      release();
    }
  };
  return {
    release: done,
    [Symbol.dispose]: done,
    [Symbol.asyncDispose]: () => Promise.resolve(done()),
  };
}
