/**
 * Helpers shared by the core and I/O tests: an isolated scheduler per test,
 * the time limit used for waits that should succeed (it only fails a test),
 * and tasks parked in a wait at a known point, reached by waiting on an event
 * rather than by pausing.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  Event,
  Scheduler,
  type SchedulerOptions,
  type Task,
  TaskTerminated,
  type WaitOptions,
} from "../../mod.ts";

/** How long a wait that must succeed may take before the test fails. */
export const LIMIT = 5000;

/**
 * Runs `fn` with a fresh scheduler and always terminates and finishes it, so a
 * failing test leaves no task, timer or promise behind (and no socket, pipe,
 * file or pool the scheduler owns).
 */
export async function withScheduler(
  fn: (s: Scheduler) => void | Promise<void>,
  options?: SchedulerOptions,
): Promise<void> {
  const s = new Scheduler(options);
  try {
    await fn(s);
  } finally {
    await s.terminate();
    await s.finish();
  }
}

/**
 * Spawns a task that calls `wait` and resolves with it once the call was
 * made: a wait that parks at once (all of them, unless what they wait for is
 * there already) is parked by then.
 */
export async function spawnWaiting<R>(
  s: Scheduler,
  wait: (task: Task<R>) => Promise<R>,
): Promise<Task<R>> {
  const calling = new Event();
  const task = s.spawn((task: Task<R>) => {
    calling.set();
    // Called in the same turn: the test's `calling.wait()` resumes after it.
    return wait(task);
  });
  assert.equal(await calling.wait({ timeout: LIMIT }), true);
  return task;
}

/**
 * Terminates a task while it is parked in `wait`: its `finally` runs, the wait
 * and `finish` reject with `TaskTerminated`, and the task ends terminated.
 */
export async function terminateWhileWaiting(
  s: Scheduler,
  wait: (task: Task) => Promise<unknown>,
): Promise<void> {
  const log = { finallyRan: false, error: undefined as unknown };
  const task = await spawnWaiting(s, async (task) => {
    try {
      await wait(task);
      return "wait ended normally";
    } catch (e) {
      log.error = e;
      throw e;
    } finally {
      log.finallyRan = true;
    }
  });
  assert.equal(task.done, false);
  assert.equal(task.terminate(), true);
  await assert.rejects(task.finish({ timeout: LIMIT }), TaskTerminated);
  assert.equal(task.state, "terminated");
  assert.equal(log.finallyRan, true);
  assert.ok(log.error instanceof TaskTerminated, String(log.error));
}

/** A Lock, an RLock, a Semaphore or a Condition: what the helpers below acquire. */
export interface Acquirable {
  acquire(options?: WaitOptions): Promise<boolean>;
  release(): void;
}

/**
 * Spawns a task that acquires `lock` and holds it until the task is resumed,
 * then releases it; resolves with the task once it holds the lock.
 */
export async function holdInTask(s: Scheduler, lock: Acquirable): Promise<Task> {
  const held = new Event();
  const holder = s.spawn(async (task) => {
    await lock.acquire();
    held.set();
    await task.sleep();
    lock.release();
  });
  assert.equal(await held.wait({ timeout: LIMIT }), true);
  return holder;
}

/**
 * Spawns one task per name that waits on `lock`, appends its name to `order`
 * once it got through and then releases (unless `release` is `false`). Each
 * task is parked before the next one is spawned, so they queue in `names`
 * order.
 */
export async function queueOn(
  s: Scheduler,
  lock: Acquirable,
  names: string[],
  order: string[],
  { release = true }: { release?: boolean } = {},
): Promise<Task[]> {
  const tasks = [];
  for (const name of names) {
    tasks.push(
      await spawnWaiting(s, async () => {
        assert.equal(await lock.acquire({ timeout: LIMIT }), true);
        order.push(name);
        if (release) lock.release();
      }),
    );
  }
  return tasks;
}
