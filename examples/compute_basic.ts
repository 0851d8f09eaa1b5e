/**
 * Basic compute (pycos's dispycos_client2): ship `compute_jobs.ts` to a
 * node, start five jobs with `run` (each on the least loaded server), then
 * `finish` each for its result.
 *
 * Start a node first: `npx deno task node --port 9706`, or any
 * `denocos node`. Argument: `[node]` as `host:port` (default 127.0.0.1:9706).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples examples/compute_basic.ts 127.0.0.1:9706`
 *
 * @module
 */
import { Scheduler } from "../mod.ts";
import { Computation } from "../src/compute/mod.ts";

const [hostname, port] = (Deno.args[0] ?? "127.0.0.1:9706").split(":");
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: Deno.args[1] ?? "" });
const comp = new Computation({
  module: new URL("./compute_jobs.ts", import.meta.url),
  nodes: [{ hostname, port: Number(port) }],
});
await comp.schedule({ timeout: 30_000 });
const jobs = [];
for (let i = 1; i <= 5; i++) jobs.push(await comp.run("compute", i * 20));
for (const job of jobs) console.log(`job ${job.id} on ${job.location.port}: ${await job.finish()}`);
await comp.close();
await scheduler.finish();
