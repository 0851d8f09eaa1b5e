/**
 * The message a monitor receives when the task it watches ends.
 *
 * @module
 */
import type { Task } from "./task.ts";

/**
 * How a watched task ended. `"unreachable"`: its peer was lost.
 *
 * @example
 * ```ts
 * import { type MonitorStatus, type MonitorStatusType, spawn } from "@denocos/denocos";
 *
 * const watcher = spawn(async (task) => {
 *   task.monitor(spawn(() => {
 *     throw new Error("boom");
 *   }));
 *   const type: MonitorStatusType = (await task.receive<MonitorStatus>()).type;
 *   return type;
 * });
 * console.log(await watcher.finish()); // "failed"
 * ```
 */
export type MonitorStatusType = "finished" | "failed" | "terminated" | "unreachable";

/**
 * Sent to each monitor of a task when that task ends: `value` is the return
 * value (`"finished"`) or the error (`"failed"`, `"terminated"`).
 *
 * @example
 * ```ts
 * import { MonitorStatus, spawn } from "@denocos/denocos";
 *
 * const watcher = spawn(async (task) => {
 *   const worker = spawn(() => 42);
 *   task.monitor(worker);
 *   const status = await task.receive<MonitorStatus>();
 *   console.log(status.type, status.value); // "finished" 42
 * });
 * await watcher.finish();
 * ```
 */
export class MonitorStatus<V = unknown> {
  /** The task that ended. */
  readonly task: Task;
  /** How it ended. */
  readonly type: MonitorStatusType;
  /** Its return value or its error. */
  readonly value: V;

  /**
   * Creates a `MonitorStatus`.
   *
   * @param task the task that ended
   * @param type how it ended
   * @param value its return value or error
   */
  constructor(task: Task, type: MonitorStatusType, value: V) {
    this.task = task;
    this.type = type;
    this.value = value;
  }
}
