/**
 * Per-server in-memory data (pycos's `server_setup`, dispycos_client9_server):
 * `serverSetup: "loadTable"` builds a table once in each server before any
 * job; jobs read it from `task.setup` instead of loading it again.
 *
 * Start a node first (`npx deno task node --port 9706`). Argument: `[node]`
 * as `host:port` (default 127.0.0.1:9706).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples examples/compute_server_setup.ts 127.0.0.1:9706`
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
  serverSetup: "loadTable",
  setupArgs: [1000],
});
await comp.schedule({ timeout: 30_000 });
console.log(`${comp.servers().length} servers loaded the table`);
const jobs = await Promise.all([3, 10, 999].map((i) => comp.run("lookup", i)));
for (const [k, job] of jobs.entries()) {
  console.log(`table[${[3, 10, 999][k]}] = ${await job.finish()}`);
}
await comp.close();
await scheduler.finish();
