/**
 * B1 (BENCHMARKS.md): one driver task creates N = 100,000 tasks; each
 * increments a counter and suspends; when all are suspended the driver
 * resumes each with a value; the run ends when the last one finishes (an
 * `Event`). Reports the seconds from the first spawn to that event, and the
 * RSS growth per suspended task.
 *
 * Run: `deno run --v8-flags=--expose-gc bench/shapes/b1_suspend_resume.ts [N]`
 *
 * @module
 */
import { Event, spawn, type Task } from "../../mod.ts";

const N = Number(Deno.args[0] ?? 100_000);

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B1", ...row }));
}

// Start from a clean heap so the baseline holds no garbage from loading.
(globalThis as { gc?: () => void }).gc?.();
const before = Deno.memoryUsage();
let suspendedMem = before;
let counter = 0;
let finished = 0;
const done = new Event();

/** Each task's function: one closure for all tasks, as pycos's generator function. */
async function sleeper(task: Task, allSuspended: Event): Promise<number> {
  // The last task sets the event and suspends before the driver runs again.
  if (++counter === N) allSuspended.set();
  const value = await task.sleep<number>();
  if (++finished === N) done.set();
  return value;
}

const t0 = performance.now();
const driver = spawn(async () => {
  const tasks: Task[] = new Array(N);
  const allSuspended = new Event();
  for (let i = 0; i < N; i++) {
    tasks[i] = spawn(sleeper, allSuspended);
  }
  await allSuspended.wait();
  suspendedMem = Deno.memoryUsage();
  if (tasks[0].state !== "suspended" || tasks[N - 1].state !== "suspended") {
    throw new Error("B1: tasks are not suspended when the counter says so");
  }
  for (let i = 0; i < N; i++) tasks[i].resume(i);
  await done.wait();
});
await done.wait();
const seconds = (performance.now() - t0) / 1000;
await driver.finish();
if (counter !== N || finished !== N) throw new Error(`B1: ${counter} suspended, ${finished} ended`);

const perTask = (suspendedMem.rss - before.rss) / N;
emit({
  row: `${N.toLocaleString("en-US")} tasks suspend + resume`,
  value: seconds,
  unit: "s",
  // pycos's figure and the target are for the standard N only.
  ...(N === 100_000 ? { pycos: "2.54 s", target: "≤ 0.25 s", ratio: 2.54 / seconds } : {}),
  n: N,
});
emit({
  row: "RSS per suspended task",
  value: perTask,
  unit: "B",
  pycos: "1.7 KB",
  target: "≤ 600 B",
  n: N,
  heapPerTask: (suspendedMem.heapUsed - before.heapUsed) / N,
});
