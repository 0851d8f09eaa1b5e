/**
 * `BoundedSemaphore`: a semaphore that refuses to exceed its initial value.
 *
 * @module
 */
import { LockNotHeld } from "./errors.ts";
import { Semaphore } from "./semaphore.ts";

/**
 * A `Semaphore` whose `release` throws `LockNotHeld` when it would raise the
 * number of permits above the initial value (a release without an acquire).
 *
 * @example
 * ```ts
 * import { BoundedSemaphore } from "@denocos/denocos";
 *
 * const sem = new BoundedSemaphore(1);
 * await sem.acquire();
 * sem.release();
 * try {
 *   sem.release();
 * } catch (e) {
 *   console.log((e as Error).name); // "LockNotHeld"
 * }
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  /** The initial (and maximum) number of permits. */
  readonly bound: number;

  /**
   * Creates a `BoundedSemaphore`.
   *
   * @param value the initial and maximum number of permits
   */
  constructor(value = 1) {
    super(value);
    this.bound = value;
  }

  /** Returns a permit; throws `LockNotHeld` if none is out. */
  override release(): void {
    if (this.value >= this.bound) {
      throw new LockNotHeld(
        `BoundedSemaphore released more often than acquired (bound ${this.bound})`,
      );
    }
    super.release();
  }
}
