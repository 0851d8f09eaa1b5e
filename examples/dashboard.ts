/**
 * A computation with a dashboard (pycos's dispycos_httpd1): open
 * http://127.0.0.1:8181/ and watch the nodes, their CPU, memory and load,
 * and the jobs as they run and finish; a job's Terminate button ends it
 * there, and a node's (or, in its detail view, a server's) Suspend button
 * stops placing jobs on it until Resume. The computation's own status task still gets every message: it
 * prints each job's end here.
 *
 * Start a node first: `npx deno task node --port 9706`, or any
 * `denocos node`. Arguments: `[node] [jobs] [ms] [dashboard port]`, the
 * node as `host:port` (default 127.0.0.1:9706), how many jobs (default 30),
 * how long each runs at least (default 4,000 ms) and the dashboard's port
 * (default 8181; 0 picks a free one).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples,src/monitor/assets examples/dashboard.ts 127.0.0.1:9706`
 *
 * @module
 */
import { MonitorStatus, Scheduler, type Task } from "../mod.ts";
import { Computation } from "../src/compute/mod.ts";
import { Dashboard } from "../src/monitor/mod.ts";

const [hostname, port] = (Deno.args[0] ?? "127.0.0.1:9706").split(":");
const jobs = Number(Deno.args[1] ?? 30);
const ms = Number(Deno.args[2] ?? 4000);
const dashboardPort = Number(Deno.args[3] ?? 8181);

const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0 });
const status = scheduler.spawn(async function status(task: Task) {
  task.setDaemon();
  for (;;) {
    const m = await task.receive();
    if (m instanceof MonitorStatus) console.log(`job ${m.task.id} ${m.type}`);
  }
});
const comp = new Computation({
  module: new URL("./compute_jobs.ts", import.meta.url),
  nodes: [{ hostname, port: Number(port) }],
  status,
});
// Prints "dashboard on http://127.0.0.1:8181/".
const dashboard = new Dashboard(comp, { hostname: "127.0.0.1", port: dashboardPort });
await comp.schedule({ timeout: 30_000 });
const running = [];
for (let i = 0; i < jobs; i++) running.push(await comp.run("compute", ms + (i % 5) * (ms / 4)));
const results = await Promise.allSettled(running.map((j) => j.finish()));
console.log(`${results.filter((r) => r.status === "fulfilled").length} of ${jobs} jobs finished`);
await comp.close();
await dashboard.close();
await scheduler.finish();
