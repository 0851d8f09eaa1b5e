/**
 * The compute sandbox layer's speed: 10,000 tiny jobs (`echo(task, i)`,
 * which returns its argument) on one server process (`ServerProcess`:
 * stdio frames to a child process, a Worker in it, each job a denocos task
 * there), from the first `run` to the last result; and, as the reference in
 * the same run, the same 10,000 jobs on an in-process `AsyncThreadPool` of
 * one Worker (no process boundary, no codec, no tasks). Also the time from
 * `ServerProcess.start` to ready.
 *
 * The machine is shared: each figure is the median of `--runs` rounds
 * (default 7), with the ratio to the reference measured next to it.
 *
 * Run: `deno run --unstable-worker-options --allow-read --allow-write --allow-run --allow-env bench/compute_server_bench.ts [--runs 7]`
 *
 * @module
 */
import { ServerProcess } from "../src/compute/_server_process.ts";
import { AsyncThreadPool } from "../src/io/async_thread_pool.ts";

const N = 10_000;
const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 7;
const JOBS = new URL("../tests/compute/fixtures/server_jobs.ts", import.meta.url);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const dir = await Deno.makeTempDir({ prefix: "denocos-bench-" });
await Deno.copyFile(JOBS, `${dir}/jobs.ts`);
const starts: number[] = [];
const server: number[] = [];
const pool: number[] = [];
try {
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const s = await ServerProcess.start({ codeDir: dir, entry: "jobs.ts" });
    starts.push(performance.now() - t);
    await s.close();
  }
  await using s = await ServerProcess.start({ codeDir: dir, entry: "jobs.ts" });
  await using p = new AsyncThreadPool(1);
  const echo = (x: number) => x;
  let id = 0;
  const ps: Promise<unknown>[] = new Array(N);
  // One warm-up round each, then alternate so both see the same machine load.
  for (let r = -1; r < runs; r++) {
    let t = performance.now();
    for (let i = 0; i < N; i++) ps[i] = s.run(++id, "echo", [i]);
    await Promise.all(ps);
    if (r >= 0) server.push(N / ((performance.now() - t) / 1000));
    t = performance.now();
    for (let i = 0; i < N; i++) ps[i] = p.run(echo, i);
    await Promise.all(ps);
    if (r >= 0) pool.push(N / ((performance.now() - t) / 1000));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
const sm = median(server), pm = median(pool);
console.log(`| row | median | reference (thread pool, 1 Worker) | ratio |`);
console.log(`|---|---|---|---|`);
console.log(
  `| 10,000 tiny jobs, one server | ${Math.round(sm)} jobs/s | ${Math.round(pm)} jobs/s | ${
    (sm / pm).toFixed(2)
  } |`,
);
console.log(`| start to ready | ${median(starts).toFixed(0)} ms | | |`);
