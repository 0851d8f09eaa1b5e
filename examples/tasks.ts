/**
 * Tasks: the TypeScript twin of the pycos tutorial's first program (§7.1.1).
 *
 * Ten tasks each sleep a random time and end. Sleeping suspends only the task
 * that sleeps, so the whole program takes about as long as the longest sleep
 * (at most 300 ms here; the tutorial's 0.5–3 s are scaled down).
 *
 * Run: `npx deno run examples/tasks.ts` (no permissions needed).
 *
 * @module
 */
import { Scheduler, spawn, type Task } from "../mod.ts";

const start = performance.now();

/** Milliseconds since the program started, for the log lines. */
function stamp(): string {
  return `${(performance.now() - start).toFixed(1).padStart(6)} ms`;
}

/** A task's function: the task comes first, then the spawn arguments. */
async function taskProc(task: Task, n: number): Promise<void> {
  const ms = 50 + Math.random() * 250;
  console.log(`${stamp()}: task ${n} sleeping for ${ms.toFixed(0)} ms`);
  await task.sleep(ms);
  console.log(`${stamp()}: task ${n} terminating`);
}

/** Creates ten tasks and waits for all of them. */
export async function main(): Promise<void> {
  for (let i = 0; i < 10; i++) spawn(taskProc, i);
  // Waits for every non-daemon task, then stops the scheduler.
  await Scheduler.default().finish();
  console.log(`${stamp()}: all tasks done`);
}

if (import.meta.main) await main();
