/**
 * `waitFor`: an interruptible wait on an operation that is already under
 * way and must not be interrupted itself.
 *
 * @module
 */
import type { WaitOptions } from "../core/options.ts";
import type { Task } from "../core/task.ts";
import { park, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";

/**
 * Parks `task` until `op` settles, with `{ timeout, signal }` (a timeout
 * rejects with `TimeoutError`; a terminated task gets `TaskTerminated`). If
 * the wait is given up, `op` goes on and its outcome is dropped, never
 * reported as unhandled. The caller has checked `pendingError` and the
 * options before starting `op`.
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
