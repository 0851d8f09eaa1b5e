/**
 * The one waiting mechanism every primitive shares: a `Waiter` parked in a
 * FIFO `WaitQueue`, settled by whoever hands it what it waits for, by its
 * timer, by its abort signal, or by its task being interrupted.
 *
 * @module
 */
import type { Task } from "./task.ts";
import { type WaitOptions, waitOptionsError } from "./options.ts";
import { TimeoutError } from "./errors.ts";
import { type AbortWatch, watchAbort } from "./_abort_watch.ts";

/**
 * Use as a wait's timeout value to make a timeout reject with `TimeoutError`.
 *
 * @example
 * ```ts ignore
 * const conn = await park<Deno.Conn>(queue, task, { timeout: 100 }, TIMEOUT_REJECTS);
 * ```
 */
export const TIMEOUT_REJECTS: unique symbol = Symbol("denocos.timeoutRejects");

/**
 * What `park` tells the task module so `terminate`/`throw` can reach the wait.
 *
 * @example
 * ```ts ignore
 * installTaskWaitHooks({ enter() {}, leave() {}, pending: () => undefined });
 * ```
 */
export interface TaskWaitHooks {
  /** Called when `task` starts waiting on `waiter`. */
  enter(task: Task, waiter: Waiter): void;
  /** Called when that wait settles, however it settles. */
  leave(task: Task, waiter: Waiter): void;
  /** The error the task must get at its next wait (consumed), or `undefined`. */
  pending(task: Task): unknown;
}

let hooks: TaskWaitHooks;

/**
 * Installs the task module's hooks (it does so when it loads); kept as a hook
 * so this module does not import the task module.
 *
 * @example
 * ```ts ignore
 * installTaskWaitHooks({ enter() {}, leave() {}, pending: () => undefined });
 * ```
 */
export function installTaskWaitHooks(h: TaskWaitHooks): void {
  hooks = h;
}

/**
 * The error `task` must get at its next wait, consumed, or `undefined`.
 * Primitives call it on their fast paths so a terminated task cannot take a
 * free lock and carry on.
 *
 * @example
 * ```ts ignore
 * const err = pendingError(currentTask());
 * if (err !== undefined) return Promise.reject(err);
 * ```
 */
export function pendingError(task: Task | undefined): unknown {
  return task === undefined ? undefined : hooks.pending(task);
}

/**
 * Why a wait by `task` must fail before it does anything, or `undefined`:
 * bad options (`waitOptionsError`) first, else the task's pending
 * terminate/throw (consumed, as `pendingError` does). Primitives check it
 * before their fast paths, so a refused wait takes nothing.
 *
 * @example
 * ```ts ignore
 * const task = currentTask();
 * const err = waitError(task, options);
 * if (err !== undefined) return Promise.reject(err);
 * ```
 */
export function waitError(task: Task | undefined, options: WaitOptions | undefined): unknown {
  const bad = waitOptionsError(options);
  return bad !== undefined ? bad : pendingError(task);
}

let capturing: Waiter;
let capture: (resolve: (v: unknown) => void, reject: (e: unknown) => void) => void;
let startWait: (w: Waiter, options: WaitOptions | undefined) => Promise<unknown>;

/**
 * One parked wait. Queues link waiters directly (no wrapper nodes), so
 * removing a timed-out waiter from the middle of a queue is O(1).
 *
 * @example
 * ```ts ignore
 * const w = queue.shift();
 * w?.settle(true);
 * ```
 */
export class Waiter {
  /** Previous waiter in the queue. */
  prev: Waiter | null = null;
  /** Next waiter in the queue. */
  next: Waiter | null = null;
  /** The queue this waiter is in, if any. */
  queue: WaitQueue | null = null;
  /** The waiting task, or `null` for code outside any task. */
  readonly task: Task | null;
  /** Whatever the primitive wants to remember about this wait. */
  data: unknown;
  /** Which of the task's own waits this is (sleep, receive); 0 for any other. */
  readonly kind: number;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  #timeoutValue: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #abort: AbortWatch | undefined = undefined;
  #done = false;

  /** @internal use `park` */
  constructor(
    task: Task | null,
    timeoutValue: unknown,
    data: unknown,
    kind: number,
  ) {
    this.task = task;
    this.#timeoutValue = timeoutValue;
    this.data = data;
    this.kind = kind;
  }

  /** Resolves the wait with `value`. */
  settle(value: unknown): void {
    if (this.#detach()) this.#resolve(value);
  }

  /** Rejects the wait with `error`. */
  fail(error: unknown): void {
    if (this.#detach()) this.#reject(error);
  }

  /**
   * Abandons the wait without settling it: its timer, abort listener and
   * queue place go. For the waits of a task that has ended, which nobody
   * awaits any more (a lock must not be handed to them).
   */
  drop(): void {
    this.#detach();
  }

  /** Ends the wait as if its time were up. */
  expire(): void {
    const v = this.#timeoutValue;
    if (v === TIMEOUT_REJECTS) this.fail(new TimeoutError());
    else this.settle(v);
  }

  /** Called by the signal's shared `AbortWatch` (no listener or closure per wait). */
  onAbort(reason: unknown): void {
    this.fail(reason);
  }

  #detach(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.queue?.remove(this);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // O(1): leaves the signal's watcher set, never its listener list.
    this.#abort?.delete(this);
    if (this.task !== null) hooks.leave(this.task, this);
    return true;
  }

  static {
    // One shared executor instead of a closure per wait.
    capture = (resolve, reject) => {
      capturing.#resolve = resolve;
      capturing.#reject = reject;
    };
    startWait = (w, options) => {
      capturing = w;
      const p = new Promise<unknown>(capture);
      const timeout = options?.timeout;
      if (timeout !== undefined && timeout !== Infinity) {
        w.#timer = setTimeout(expireWaiter, timeout, w);
      }
      // Not aborted: park has rejected an aborted signal already.
      const signal = options?.signal;
      if (signal !== undefined) w.#abort = watchAbort(signal, w);
      return p;
    };
  }
}

function expireWaiter(w: Waiter): void {
  w.expire();
}

/**
 * A FIFO queue of waiters (an intrusive doubly linked list).
 *
 * @example
 * ```ts ignore
 * const q = new WaitQueue();
 * const p = park(q, undefined, undefined, false);
 * q.shift()?.settle(true);
 * console.log(await p); // true
 * ```
 */
export class WaitQueue {
  #head: Waiter | null = null;
  #tail: Waiter | null = null;
  #length = 0;

  /** How many waiters are queued. */
  get length(): number {
    return this.#length;
  }

  /** The oldest waiter, without removing it. */
  peek(): Waiter | null {
    return this.#head;
  }

  /** Appends `w`. */
  push(w: Waiter): void {
    w.queue = this;
    w.prev = this.#tail;
    w.next = null;
    if (this.#tail === null) this.#head = w;
    else this.#tail.next = w;
    this.#tail = w;
    this.#length++;
  }

  /** Removes and returns the oldest waiter. */
  shift(): Waiter | null {
    const w = this.#head;
    if (w !== null) this.remove(w);
    return w;
  }

  /** Unlinks `w` (no-op when it is not in this queue). */
  remove(w: Waiter): void {
    if (w.queue !== this) return;
    if (w.prev === null) this.#head = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.#tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = w.queue = null;
    this.#length--;
  }

  /** Rejects every waiter with `error`. */
  failAll(error: unknown): void {
    for (let w = this.shift(); w !== null; w = this.shift()) w.fail(error);
  }

  /** Resolves every waiter with `value`. */
  settleAll(value: unknown): void {
    for (let w = this.shift(); w !== null; w = this.shift()) w.settle(value);
  }
}

/**
 * Parks the caller: returns a promise that its waiter settles. The caller
 * has already checked `waitError` (or `pendingError`) and that waiting is
 * needed.
 *
 * @param queue where the waiter waits (or `null` when the caller keeps it)
 * @param task the waiting task (`currentTask()`), interrupted by terminate
 * @param options timeout and signal, validated here (see `waitOptionsError`)
 * @param timeoutValue what a timeout resolves to, or `TIMEOUT_REJECTS`
 * @param data primitive-specific payload stored on the waiter
 * @param kind tag used by task-level waits
 *
 * @example
 * ```ts ignore
 * const acquired = await park(this.#waiters, currentTask(), options, false);
 * ```
 */
export function park<T>(
  queue: WaitQueue | null,
  task: Task | undefined,
  options: WaitOptions | undefined,
  timeoutValue: T | typeof TIMEOUT_REJECTS,
  data?: unknown,
  kind = 0,
): Promise<T> {
  const bad = waitOptionsError(options);
  if (bad !== undefined) return Promise.reject(bad);
  if (options?.timeout === 0) {
    // A zero timeout polls: the caller already found nothing to take.
    return timeoutValue === TIMEOUT_REJECTS
      ? Promise.reject(new TimeoutError())
      : Promise.resolve(timeoutValue);
  }
  const w = new Waiter(task ?? null, timeoutValue, data, kind);
  if (queue !== null) queue.push(w);
  if (task !== undefined) hooks.enter(task, w);
  return startWait(w, options) as Promise<T>;
}
