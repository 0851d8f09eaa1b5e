/**
 * B7 (BENCHMARKS.md): 100,000 tiny `run` calls, `(x) => x + 1`, on a pool of
 * 2 Workers, all submitted at once, until the last result is in.
 *
 * Rows:
 * - "denocos AsyncThreadPool": `pool.run(inc, i)` for every i, then
 *   `Promise.all`; `ratio` = pool time / bare time (target ≤ 1.3);
 * - "bare postMessage Workers": the same shape written directly on 2 raw
 *   Workers in the same run: each call makes a promise, posts `[id, x]` to
 *   the Workers in turn, and the Worker answers `[id, x + 1]`.
 *
 * Both sides are warmed up, then timed in alternating slices (pool, bare,
 * bare, pool; half the calls each) so a change in machine load weighs on
 * both alike. Each clock runs from the first call to the last result.
 *
 * Run: `deno run --unstable-worker-options --allow-read bench/shapes/b7_thread_pool.ts [calls]`
 *
 * @module
 */
import { AsyncThreadPool, Scheduler } from "../../mod.ts";

const N = Number(Deno.args[0] ?? 100_000);
const WORKERS = 2;

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B7", ...row }));
}

const inc = (x: number): number => x + 1;

/** Seconds for `n` calls through the pool, all in flight at once. */
async function timePool(pool: AsyncThreadPool, n: number): Promise<number> {
  const results: Promise<number>[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) results[i] = pool.run(inc, i);
  const values = await Promise.all(results);
  const seconds = (performance.now() - t0) / 1000;
  if (values[n - 1] !== n) throw new Error(`B7: pool got ${values[n - 1]}, expected ${n}`);
  return seconds;
}

/** The bare reference: raw Workers answering `[id, x + 1]`. */
class Bare {
  readonly #workers: Worker[] = [];
  #resolvers: ((value: number) => void)[] = [];

  static async start(count: number): Promise<Bare> {
    const b = new Bare();
    const src = "self.onmessage = (e) => { const d = e.data; postMessage([d[0], d[1] + 1]); };";
    const url = `data:application/javascript,${encodeURIComponent(src)}`;
    for (let i = 0; i < count; i++) {
      const w = new Worker(url, { type: "module", deno: { permissions: "none" } } as WorkerOptions);
      w.onmessage = (e: MessageEvent<[number, number]>) => {
        const d = e.data;
        b.#resolvers[d[0]](d[1]);
      };
      b.#workers.push(w);
    }
    await b.run(count * 4);
    return b;
  }

  /** Seconds for `n` calls, all in flight at once. */
  async run(n: number): Promise<number> {
    const resolvers: ((value: number) => void)[] = this.#resolvers = new Array(n);
    const results: Promise<number>[] = new Array(n);
    const workers = this.#workers;
    const count = workers.length;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      results[i] = new Promise<number>((resolve) => resolvers[i] = resolve);
      workers[i % count].postMessage([i, i]);
    }
    const values = await Promise.all(results);
    const seconds = (performance.now() - t0) / 1000;
    if (values[n - 1] !== n) throw new Error(`B7: bare got ${values[n - 1]}, expected ${n}`);
    return seconds;
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
  }
}

const scheduler = new Scheduler();
const pool = new AsyncThreadPool(WORKERS, { scheduler });
const bare = await Bare.start(WORKERS);
// Warm-up: Workers started, functions compiled, JIT settled on both sides.
await timePool(pool, 10_000);
await bare.run(10_000);
const gc = (globalThis as { gc?: () => void }).gc;
const half = Math.floor(N / 2);
gc?.();
let poolSeconds = await timePool(pool, half);
gc?.();
let bareSeconds = await bare.run(half);
gc?.();
bareSeconds += await bare.run(N - half);
gc?.();
poolSeconds += await timePool(pool, N - half);
bare.close();
await pool.close();
await scheduler.finish();

const poolRate = N / poolSeconds;
const bareRate = N / bareSeconds;
const ratio = poolSeconds / bareSeconds;
const common = { unit: "jobs/s", calls: N, workers: WORKERS };
emit({
  row: "denocos AsyncThreadPool",
  value: poolRate,
  pycos: "—",
  target: "≥ 50k; ≤ 1.3× bare time",
  met: poolRate >= 50_000 && ratio <= 1.3,
  ...common,
  seconds: poolSeconds,
  ratio,
});
emit({
  row: "bare postMessage Workers",
  value: bareRate,
  pycos: "—",
  target: "reference",
  ...common,
  seconds: bareSeconds,
});
