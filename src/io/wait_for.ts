/**
 * `waitFor`: an interruptible wait on an operation that is already under
 * way and must not be interrupted itself; `refusal`: the checks made before
 * starting that operation.
 *
 * @module
 */
import { type WaitOptions, waitOptionsError } from "../core/options.ts";
import type { Task } from "../core/task.ts";
import { park, pendingError, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";

/**
 * Why an operation must not start, or `undefined` when it may: the task's
 * pending `terminate` or `throw` (consumed, as `pendingError` does), then
 * `Deno.errors.BadResource` ("`what` is closed") when `closed`, then bad
 * wait options (a bad timeout, an aborted signal's reason). Checked before
 * the operation starts, so a refused one does nothing at all.
 *
 * @example
 * ```ts ignore
 * const refused = refusal(task, options, this.#closing !== null, "the file");
 * if (refused !== undefined) return Promise.reject(refused);
 * return waitFor(task, file.write(bytes), options);
 * ```
 */
export function refusal(
  task: Task | undefined,
  options: WaitOptions | undefined,
  closed = false,
  what = "the resource",
): unknown {
  const err = pendingError(task);
  if (err !== undefined) return err;
  if (closed) return new Deno.errors.BadResource(`${what} is closed`);
  return waitOptionsError(options);
}

/**
 * Parks `task` until `op` settles, with `{ timeout, signal }` (a timeout
 * rejects with `TimeoutError`; a terminated task gets `TaskTerminated`). If
 * the wait is given up, `op` goes on and its outcome is dropped, never
 * reported as unhandled. The caller has checked `refusal` before starting
 * `op`.
 *
 * @example
 * ```ts ignore
 * const n = await waitFor(currentTask(), file.write(bytes), { timeout: 1000 });
 * ```
 */
export function waitFor<T>(
  task: Task | undefined,
  op: Promise<T>,
  options?: WaitOptions,
): Promise<T> {
  const q = new WaitQueue();
  const p = park<T>(q, task, options, TIMEOUT_REJECTS);
  op.then((v) => q.shift()?.settle(v), (e) => q.shift()?.fail(e));
  return p;
}
