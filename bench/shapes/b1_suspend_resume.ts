/**
 * B1 (BENCHMARKS.md): one driver task creates N = 100,000 tasks; each
 * increments a counter and suspends; when all are suspended the driver
 * resumes each with a value; the run ends when the last one finishes (an
 * `Event`). Reports the seconds from the first spawn to that event, the heap
 * and RSS growth per suspended task, and the same shape on the runtime's
 * floor, measured in the same program: N bare async functions, each entered
 * through `AsyncLocalStorage.run` (what a task needs so that `terminate` can
 * reach it in any wait), awaiting a promise until resumed. The ratios
 * denocos / floor are the targets (≤ 1.1× the time, ≤ 1.15× the heap).
 *
 * After a warm-up round of N/10 of each, the two are run four times each in
 * ABBA order (denocos, floor, floor, denocos, …) and each reports the
 * median of its rounds, so a drift over the program cancels out; the RSS
 * row is the first measured round's (later rounds reuse the memory). Heap
 * is `heapUsed` after a full GC with every task suspended, minus the same
 * before the round; the GC's own time is not counted.
 *
 * Run: `deno run --v8-flags=--expose-gc bench/shapes/b1_suspend_resume.ts [N]`
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Event, spawn, type Task } from "../../mod.ts";

const N = Number(Deno.args[0] ?? 100_000);
/** Tasks in the current round (a small warm-up round first, then N). */
let n = N;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B1", ...row }));
}

interface Round {
  seconds: number;
  heapPerTask: number;
  rssPerTask: number;
}

/** Measures at the all-suspended point; returns the milliseconds the GC took. */
function measure(before: Deno.MemoryUsage, into: Partial<Round>): number {
  const g0 = performance.now();
  gc();
  const m = Deno.memoryUsage();
  into.heapPerTask = (m.heapUsed - before.heapUsed) / n;
  into.rssPerTask = (m.rss - before.rss) / n;
  return performance.now() - g0;
}

/** denocos: n tasks spawned by a driver task, suspended in `sleep`, resumed. */
async function denocosRound(): Promise<Round> {
  gc();
  const before = Deno.memoryUsage();
  const round: Partial<Round> = {};
  let counter = 0;
  let finished = 0;
  let gcMs = 0;
  const done = new Event();
  // One function for all tasks, as pycos's generator function.
  async function sleeper(task: Task, allSuspended: Event): Promise<number> {
    // The last task sets the event and suspends before the driver runs again.
    if (++counter === n) allSuspended.set();
    const value = await task.sleep<number>();
    if (++finished === n) done.set();
    return value;
  }
  const t0 = performance.now();
  const driver = spawn(async () => {
    const tasks: Task[] = new Array(n);
    const allSuspended = new Event();
    for (let i = 0; i < n; i++) tasks[i] = spawn(sleeper, allSuspended);
    await allSuspended.wait();
    gcMs = measure(before, round);
    if (tasks[0].state !== "suspended" || tasks[n - 1].state !== "suspended") {
      throw new Error("B1: tasks are not suspended when the counter says so");
    }
    for (let i = 0; i < n; i++) tasks[i].resume(i);
    await done.wait();
  });
  await done.wait();
  round.seconds = (performance.now() - t0 - gcMs) / 1000;
  await driver.finish();
  if (counter !== n || finished !== n) {
    throw new Error(`B1: ${counter} suspended, ${finished} ended`);
  }
  return round as Round;
}

/** The floor: bare async functions in an `AsyncLocalStorage.run` frame each. */
async function floorRound(): Promise<Round> {
  gc();
  const before = Deno.memoryUsage();
  const round: Partial<Round> = {};
  const storage = new AsyncLocalStorage<number>();
  const resumers: ((v: number) => void)[] = new Array(n);
  let counter = 0;
  let finished = 0;
  let gcMs = 0;
  let allSuspended!: () => void;
  const suspended = new Promise<void>((r) => allSuspended = r);
  let done!: () => void;
  const ended = new Promise<void>((r) => done = r);
  async function bare(i: number): Promise<number> {
    const value = await new Promise<number>((resolve) => {
      resumers[i] = resolve;
      if (++counter === n) allSuspended();
    });
    if (++finished === n) done();
    return value;
  }
  const t0 = performance.now();
  await storage.run(-1, async () => {
    for (let i = 0; i < n; i++) storage.run(i, bare, i);
    await suspended;
    gcMs = measure(before, round);
    for (let i = 0; i < n; i++) resumers[i](i);
    await ended;
  });
  round.seconds = (performance.now() - t0 - gcMs) / 1000;
  if (counter !== n || finished !== n) throw new Error(`B1 floor: ${counter}, ${finished}`);
  return round as Round;
}

// Warm-up: compile both paths and grow the heap once, so that neither the
// JIT nor one-time allocations are counted against the first measured round.
n = Math.max(1, Math.floor(N / 10));
await denocosRound();
await floorRound();
n = N;
// ABBA pairs: each kind is run ROUNDS times, half of them first in a pair.
const ROUNDS = 4;
const dens: Round[] = [];
const floors: Round[] = [];
for (let i = 0; i < ROUNDS; i++) {
  if (i % 2 === 0) {
    dens.push(await denocosRound());
    floors.push(await floorRound());
  } else {
    floors.push(await floorRound());
    dens.push(await denocosRound());
  }
}
const median = (rounds: Round[], k: keyof Round): number => {
  const xs = rounds.map((r) => r[k]).sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
};
const seconds = median(dens, "seconds");
const floorSeconds = median(floors, "seconds");
const heap = median(dens, "heapPerTask");
const floorHeap = median(floors, "heapPerTask");
const standard = N === 100_000;

emit({
  row: `${N.toLocaleString("en-US")} tasks suspend + resume`,
  value: seconds,
  unit: "s",
  pycos: "2.54 s",
  target: "≤ 1.1× floor time",
  met: seconds <= 1.1 * floorSeconds,
  ratio: seconds / floorSeconds,
  ...(standard ? { vsPycos: 2.54 / seconds } : {}),
  n: N,
});
emit({
  row: "floor: bare async fns in AsyncLocalStorage.run",
  value: floorSeconds,
  unit: "s",
  target: "reference",
  n: N,
});
emit({
  row: "heap per suspended task",
  value: heap,
  unit: "B",
  target: "≤ 1.15× floor heap",
  met: heap <= 1.15 * floorHeap,
  ratio: heap / floorHeap,
  n: N,
});
emit({
  row: "floor: heap per suspended function",
  value: floorHeap,
  unit: "B",
  target: "reference",
  n: N,
});
emit({
  row: "RSS per suspended task",
  value: dens[0].rssPerTask,
  unit: "B",
  pycos: "1.7 KB",
  n: N,
});
