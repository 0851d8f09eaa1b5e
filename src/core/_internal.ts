/**
 * The core as the layers above it (network, compute, and I/O) import it:
 * everything public, plus the internals they build on. Importing this one
 * module always loads the whole core in a working order, whichever module
 * a program happened to import first, so `spawn` and the wait hooks are
 * installed before anything runs. Not part of the package's public API:
 * names here may change with the layers that use them.
 *
 * @example
 * ```ts ignore
 * import { REMOTE_REF, Scheduler, taskInternals, watchAbort } from "../core/_internal.ts";
 * ```
 *
 * @module
 */
export * from "./mod.ts";
export { type AbortWatch, type AbortWatcher, watchAbort } from "./_abort_watch.ts";
export { taskStorage } from "./context.ts";
export { TRUE } from "./lock.ts";
export { type SchedulerInternals, schedulerInternals } from "./scheduler.ts";
export { describe, type TaskInternals, taskInternals } from "./task.ts";
export { reportUncaught } from "./uncaught.ts";
export {
  installTaskWaitHooks,
  park,
  pendingError,
  type TaskWaitHooks,
  TIMEOUT_REJECTS,
  Waiter,
  waitError,
  WaitQueue,
} from "./wait.ts";
