/**
 * What happens to an error no one observes: a task that fails while no task
 * monitors it and no `finish()` call waits for it. pycos prints such errors;
 * so does denocos, unless the application routes them.
 *
 * @module
 */
import { getConfig } from "@logtape/logtape";
import type { Task } from "./task.ts";

/**
 * Receives the error of a task that failed unobserved (see
 * `Scheduler.onUncaughtError`).
 *
 * @example
 * ```ts
 * import { Scheduler, type UncaughtErrorHandler } from "@denocos/denocos";
 *
 * const toMetrics: UncaughtErrorHandler = (error, task) => {
 *   console.log(`task ${task.name} failed: ${error}`);
 * };
 * const scheduler = new Scheduler({ onUncaughtError: toMetrics });
 * scheduler.spawn(() => {
 *   throw new Error("lost");
 * });
 * await scheduler.finish(); // prints "task (anonymous)… failed: Error: lost"
 * ```
 */
export type UncaughtErrorHandler = (error: unknown, task: Task) => void;

const TASK_CATEGORY = ["denocos", "task"];

/**
 * The default `onUncaughtError`: prints the task's name, id and the error
 * with its stack on stderr (`console.error`), unless the application has
 * configured LogTape with a sink for `["denocos", "task"]` (or a parent
 * category), which already received the error as a log record.
 *
 * @example
 * ```ts
 * import { printUncaughtError, Scheduler } from "@denocos/denocos";
 *
 * // Back to the default after routing errors elsewhere:
 * Scheduler.default().onUncaughtError = printUncaughtError;
 * ```
 */
export function printUncaughtError(error: unknown, task: Task): void {
  if (logTapeTakesTaskErrors()) return;
  console.error(`denocos: uncaught error in task '${task.name}' (#${task.id}):`, error);
}

/**
 * Calls the scheduler's handler for `task`'s unobserved `error`; a handler
 * that throws is reported on stderr with the error it was given.
 *
 * @example
 * ```ts ignore
 * reportUncaught(this.scheduler.onUncaughtError, error, this);
 * ```
 */
export function reportUncaught(
  handler: UncaughtErrorHandler | null,
  error: unknown,
  task: Task,
): void {
  if (handler === null) return;
  try {
    handler(error, task);
  } catch (hookError) {
    console.error(
      `denocos: onUncaughtError threw while reporting task '${task.name}' (#${task.id}):`,
      hookError,
      "\nthe task's error:",
      error,
    );
  }
}

/** Whether a LogTape logger on the path to `["denocos", "task"]` has a sink that takes errors. */
function logTapeTakesTaskErrors(): boolean {
  const config = getConfig();
  if (config === null) return false;
  for (const logger of config.loggers) {
    const category = typeof logger.category === "string" ? [logger.category] : logger.category;
    if (category.length > TASK_CATEGORY.length) continue;
    if (!category.every((part, i) => part === TASK_CATEGORY[i])) continue;
    if ((logger.sinks?.length ?? 0) === 0 || logger.lowestLevel === "fatal") continue;
    return true;
  }
  return false;
}
