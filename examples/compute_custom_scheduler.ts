/**
 * A custom scheduler on the client (pycos's dispycos_client7): instead of
 * `run`, the client places every job itself with `runAt`, keeping exactly
 * one job per server, driven by `ServerInitialized` and `MonitorStatus`
 * messages, until twelve jobs are done.
 *
 * Start a node first (`npx deno task node --port 9706`). Argument: `[node]`
 * as `host:port` (default 127.0.0.1:9706).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples examples/compute_custom_scheduler.ts 127.0.0.1:9706`
 *
 * @module
 */
import { MonitorStatus, type RemoteTask, Scheduler, type Task } from "../mod.ts";
import { Computation, StatusMessage } from "../src/compute/mod.ts";

const TOTAL = 12;
const [hostname, port] = (Deno.args[0] ?? "127.0.0.1:9706").split(":");
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: Deno.args[1] ?? "" });

const done = scheduler.spawn(async function placer(task: Task) {
  const comp = new Computation({
    module: new URL("./compute_jobs.ts", import.meta.url),
    status: task,
    nodes: [{ hostname, port: Number(port) }],
  });
  const ready = comp.schedule({ timeout: 30_000 });
  const onServer = new Map<string, string>(); // job key -> server id
  const perServer = new Map<string, number>();
  let submitted = 0, finished = 0;
  const place = async (server: string) => {
    if (submitted >= TOTAL) return;
    submitted++;
    const job = await comp.runAt(server, "compute", 5 + submitted);
    onServer.set(job.key, server);
    perServer.set(server, (perServer.get(server) ?? 0) + 1);
  };
  while (finished < TOTAL) {
    const msg = await task.receive();
    if (msg instanceof StatusMessage && msg.type === "ServerInitialized") {
      await place(`${msg.node.hostname}:${msg.node.port}/${msg.server}`);
    } else if (msg instanceof MonitorStatus) {
      finished++;
      const key = (msg.task as unknown as RemoteTask).key;
      await place(onServer.get(key)!);
    }
  }
  await ready;
  for (const [server, n] of [...perServer].sort()) console.log(`server ${server}: ${n} jobs`);
  await comp.close();
  return finished;
});
console.log(`${await done.finish()} jobs done, one at a time per server`);
await scheduler.finish();
