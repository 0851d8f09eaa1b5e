/**
 * The denocos core: tasks with mailboxes, broadcast channels and
 * cooperative synchronization primitives. Needs no Deno permission.
 *
 * @example
 * ```ts
 * import { Scheduler, spawn } from "@denocos/denocos/core";
 *
 * const server = spawn(async (task) => {
 *   task.setDaemon();
 *   for (;;) console.log("processing", await task.receive());
 * });
 * spawn(async (task) => {
 *   for (let x = 0; x < 3; x++) {
 *     await task.sleep(10);
 *     server.send(`message ${x}`);
 *   }
 * });
 * await Scheduler.default().finish();
 * ```
 *
 * @module
 */
export { BoundedSemaphore } from "./bounded_semaphore.ts";
export {
  Channel,
  type ChannelOptions,
  type DeliverOptions,
  type Subscriber,
  type Transform,
} from "./channel.ts";
export { Condition } from "./condition.ts";
export { currentTask } from "./context.ts";
export {
  ChannelClosed,
  HotSwap,
  LockNotHeld,
  MailboxFull,
  TaskEnded,
  TaskTerminated,
  TimeoutError,
} from "./errors.ts";
export { Event } from "./event.ts";
export type { Held } from "./hold.ts";
export type { Location } from "./location.ts";
export { Lock } from "./lock.ts";
export { MonitorStatus, type MonitorStatusType } from "./monitor_status.ts";
export { timeoutError, type WaitOptions, waitOptionsError } from "./options.ts";
export {
  REMOTE_REF,
  type RemoteEndpoint,
  remoteEndpoint,
  type RemoteReference,
} from "./remote_ref.ts";
export { RingBuffer } from "./ring_buffer.ts";
export { RLock } from "./rlock.ts";
export {
  DEFAULT_MAILBOX_BYTES,
  DEFAULT_MAILBOX_LIMIT,
  Scheduler,
  type SchedulerOptions,
  type SchedulerResource,
} from "./scheduler.ts";
export { Semaphore } from "./semaphore.ts";
export { printUncaughtError, type UncaughtErrorHandler } from "./uncaught.ts";
export {
  type LocateOptions,
  type ReceiveOptions,
  spawn,
  Task,
  type TaskFunction,
  type TaskState,
} from "./task.ts";
