/**
 * The errors the core raises. Each one is its own class so callers can tell
 * them apart with `instanceof` instead of parsing messages.
 *
 * @module
 */

/**
 * Rejects the waits of a task that was terminated: its current (or next) wait
 * on any denocos primitive, and every wait after that.
 *
 * @example
 * ```ts
 * import { spawn, TaskTerminated } from "@denocos/denocos";
 *
 * const t = spawn(async (task) => {
 *   try {
 *     await task.sleep();
 *   } catch (e) {
 *     console.log(e instanceof TaskTerminated); // true
 *     throw e;
 *   }
 * });
 * t.terminate();
 * await t.finish().catch(() => {});
 * ```
 */
export class TaskTerminated extends Error {
  /** The name of the task that was terminated. */
  readonly taskName: string;
  /**
   * Creates a `TaskTerminated`.
   *
   * @param taskName the terminated task's name, for the message
   */
  constructor(taskName: string) {
    super(`task '${taskName}' was terminated`);
    this.name = "TaskTerminated";
    this.taskName = taskName;
  }
}

/**
 * Thrown into a hot-swappable task at its next wait when someone asked to
 * replace its function. Let it propagate (or rethrow it) to accept the swap;
 * catch and swallow it to refuse.
 *
 * @example
 * ```ts
 * import { HotSwap, spawn } from "@denocos/denocos";
 *
 * const t = spawn(async (task) => {
 *   task.hotSwappable();
 *   try {
 *     await task.receive();
 *   } catch (e) {
 *     if (e instanceof HotSwap) console.log("swapping to", e.fn.name);
 *     throw e; // accept
 *   }
 * });
 * await t.hotSwap(async function v2() {});
 * await t.finish();
 * ```
 */
export class HotSwap extends Error {
  /** The function the task will restart with. */
  // deno-lint-ignore no-explicit-any
  readonly fn: (...args: any[]) => unknown;
  /** The arguments the new function is called with, after the task. */
  readonly args: readonly unknown[];
  /**
   * Creates a `HotSwap`.
   *
   * @param fn the replacement function
   * @param args its arguments after the task
   */
  // deno-lint-ignore no-explicit-any
  constructor(fn: (...args: any[]) => unknown, args: readonly unknown[]) {
    super(`hot swap to '${fn.name || "anonymous"}' requested`);
    this.name = "HotSwap";
    this.fn = fn;
    this.args = args;
  }
}

/**
 * A wait ran out of time where no alarm value can stand for "timed out"
 * (`finish`, `hold`, `join`'s callers use booleans instead).
 *
 * @example
 * ```ts
 * import { spawn, TimeoutError } from "@denocos/denocos";
 *
 * const t = spawn(async (task) => await task.sleep(1000));
 * try {
 *   await t.finish({ timeout: 1 });
 * } catch (e) {
 *   console.log(e instanceof TimeoutError); // true
 * }
 * t.terminate();
 * await t.finish().catch(() => {});
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Creates a `TimeoutError`.
   *
   * @param message what timed out
   */
  constructor(message = "timed out") {
    super(message);
    this.name = "TimeoutError";
  }
}

/**
 * The channel was closed: sending to it, subscribing to it or waiting in its
 * `deliver` fails with this.
 *
 * @example
 * ```ts
 * import { Channel, ChannelClosed } from "@denocos/denocos";
 *
 * const ch = new Channel("news");
 * ch.close();
 * try {
 *   ch.send("hello");
 * } catch (e) {
 *   console.log(e instanceof ChannelClosed); // true
 * }
 * ```
 */
export class ChannelClosed extends Error {
  /** The channel's name. */
  readonly channelName: string;
  /**
   * Creates a `ChannelClosed`.
   *
   * @param channelName the closed channel's name, for the message
   */
  constructor(channelName: string) {
    super(`channel '${channelName}' is closed`);
    this.name = "ChannelClosed";
    this.channelName = channelName;
  }
}

/**
 * A task that has already ended was asked to do something only a live task
 * can do (for example `hotSwap`).
 *
 * @example
 * ```ts
 * import { spawn, TaskEnded } from "@denocos/denocos";
 *
 * const t = spawn(() => 1);
 * await t.finish();
 * await t.hotSwap(() => 2).catch((e) => console.log(e instanceof TaskEnded)); // true
 * ```
 */
export class TaskEnded extends Error {
  /**
   * Creates a `TaskEnded`.
   *
   * @param taskName the task's name, for the message
   */
  constructor(taskName: string) {
    super(`task '${taskName}' has already ended`);
    this.name = "TaskEnded";
  }
}

/**
 * A lock, semaphore or condition was released by someone who does not hold
 * it, or more often than it was acquired.
 *
 * @example
 * ```ts
 * import { Lock, LockNotHeld } from "@denocos/denocos";
 *
 * try {
 *   new Lock().release();
 * } catch (e) {
 *   console.log(e instanceof LockNotHeld); // true
 * }
 * ```
 */
export class LockNotHeld extends Error {
  /**
   * Creates a `LockNotHeld`.
   *
   * @param message what was released wrongly
   */
  constructor(message: string) {
    super(message);
    this.name = "LockNotHeld";
  }
}

/**
 * Thrown by `send` (and rejected by `deliver`) when the receiving task's
 * mailbox already holds its scheduler's `mailboxLimit` messages. The message
 * is not queued; everything already queued stays.
 *
 * @example
 * ```ts
 * import { MailboxFull, Scheduler } from "@denocos/denocos";
 *
 * const scheduler = new Scheduler({ mailboxLimit: 1 });
 * const t = scheduler.spawn((task) => task.sleep());
 * t.send("first");
 * try {
 *   t.send("second");
 * } catch (e) {
 *   console.log(e instanceof MailboxFull); // true
 * }
 * await scheduler.terminate();
 * ```
 */
export class MailboxFull extends Error {
  /** The name of the task whose mailbox is full. */
  readonly taskName: string;
  /** The limit that was reached. */
  readonly limit: number;
  /** What `limit` counts: messages (`mailboxLimit`) or bytes (`mailboxBytes`). */
  readonly unit: "messages" | "bytes";
  /**
   * Creates a `MailboxFull`.
   *
   * @param taskName the receiving task's name, for the message
   * @param limit its scheduler's mailbox limit
   * @param unit what the limit counts (default `"messages"`)
   */
  constructor(taskName: string, limit: number, unit: "messages" | "bytes" = "messages") {
    super(`mailbox of task '${taskName}' is full (${limit} ${unit}); message not queued`);
    this.name = "MailboxFull";
    this.taskName = taskName;
    this.limit = limit;
    this.unit = unit;
  }
}
