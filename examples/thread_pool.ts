/**
 * A thread pool for CPU-heavy and blocking work: the TypeScript side of
 * pycos's `AsyncThreadPool` (as `chat_client.py` uses it), with Workers.
 *
 * - Four tasks each count primes in a Worker (`pool.run`), two at a time on
 *   a pool of 2, while the scheduler stays free for other tasks.
 * - `runModule` calls this module's exported `fib` in a Worker.
 * - The Workers have no permissions: a job that reads a file is denied and
 *   the pool carries on.
 * - A job that never answers is cancelled by its timeout: its Worker is
 *   terminated and replaced, and the next job runs on the new one.
 *
 * `--unstable-worker-options` is needed for Worker permissions; the read
 * permissions are for the Worker script and the channel module it imports
 * (Deno checks them to start a Worker from a local file) and for this module (`runModule` imports it in
 * the Worker, which gets read access to this file only).
 *
 * Run: `npx deno run --unstable-worker-options --allow-read=src/io/thread_pool_worker.js,src/io/_worker_channel_worker.js,examples/thread_pool.ts examples/thread_pool.ts`
 *
 * @module
 */
import type { AsyncThreadPool, Task } from "../mod.ts";

/** The `n`th Fibonacci number, the slow way (called in a Worker by `runModule`). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** How many primes are below `limit` (shipped to a Worker by source text). */
const countPrimes = (limit: number): number => {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
};

/** A task that hands its heavy computation to the pool. */
async function compute(_task: Task, pool: AsyncThreadPool, limit: number): Promise<string> {
  const primes = await pool.run(countPrimes, limit);
  return `primes below ${limit}: ${primes}`;
}

async function main(): Promise<void> {
  // Imported here, not at the top: a Worker imports this module for
  // `runModule`, and this way it needs to read this one file only.
  const { AsyncThreadPool, Scheduler, spawn } = await import("../mod.ts");
  const self = new URL(import.meta.url);
  await using pool = new AsyncThreadPool(2, { permissions: { read: [self] } });

  const limits = [100_000, 200_000, 300_000, 400_000];
  const tasks = limits.map((limit) => spawn(compute, pool, limit));
  for (const t of tasks) console.log(await t.finish());

  console.log(`fib(25) = ${await pool.runModule<number>(self, "fib", 25)} (runModule)`);

  try {
    await pool.run(() => Deno.readTextFileSync("/etc/hostname"));
    console.log("read allowed?!");
  } catch (e) {
    console.log(`reading a file in a Worker: denied (${(e as Error).name})`);
  }

  try {
    await pool.apply(() => new Promise<never>(() => {}), [], { timeout: 200 });
  } catch (e) {
    console.log(`a job that never answers: ${(e as Error).name}; its Worker was replaced`);
  }
  console.log(`after that: ${await pool.run((a: number, b: number) => a * b, 6, 7)}`);
  await pool.join();
  await Scheduler.default().finish();
}

if (import.meta.main) await main();
