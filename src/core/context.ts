/**
 * Which task is running right now. Primitives such as locks need it for
 * ownership and so that `terminate` can interrupt whatever a task waits on.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Task } from "./task.ts";

/**
 * Carries the running task across `await`s; one frame per started task.
 *
 * @example
 * ```ts ignore
 * taskStorage.run(task, runStart, task);
 * ```
 */
export const taskStorage: AsyncLocalStorage<Task> = new AsyncLocalStorage<Task>();

/**
 * The task whose code is running, or `undefined` outside any task.
 *
 * @example
 * ```ts
 * import { currentTask, spawn } from "@denocos/denocos";
 *
 * const t = spawn(() => currentTask()?.name);
 * console.log(await t.finish()); // the task's name
 * console.log(currentTask()); // undefined
 * ```
 */
export function currentTask(): Task | undefined {
  return taskStorage.getStore();
}
