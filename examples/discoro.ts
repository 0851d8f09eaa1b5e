/**
 * The tutorial's §7.4 (discoro) program: a status task reacts to
 * `ServerInitialized` (a server is ready: submit a job there) and to each
 * job's `MonitorStatus` (it ended: submit the next one on the same server),
 * until ten jobs are done.
 *
 * Start a node first (`npx deno task node --port 9706`). Argument: `[node]`
 * as `host:port` (default 127.0.0.1:9706).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples examples/discoro.ts 127.0.0.1:9706`
 *
 * @module
 */
import { MonitorStatus, type RemoteTask, Scheduler, type Task } from "../mod.ts";
import { Computation, StatusMessage } from "../src/compute/mod.ts";

const JOBS = 10;
const [hostname, port] = (Deno.args[0] ?? "127.0.0.1:9706").split(":");
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: Deno.args[1] ?? "" });

/** Starts a job on `server`; counts it. */
async function submit(comp: Computation, server: string, state: { submitted: number }) {
  state.submitted++;
  const ms = 10 + Math.floor(Math.random() * 90);
  const job = await comp.runAt(server, "compute", ms);
  console.log(`${job.location.hostname}:${job.location.port} processing ${ms}`);
}

async function clientProc(task: Task, comp: Computation): Promise<void> {
  const state = { submitted: 0, done: 0 };
  const servers = new Map<string, string>(); // job key -> server id
  for (;;) {
    const msg = await task.receive();
    if (msg instanceof StatusMessage && msg.type === "ServerInitialized") {
      const server = `${msg.node.hostname}:${msg.node.port}/${msg.server}`;
      submit(comp, server, state).catch((e) => console.log(`job failed: ${e}`));
    } else if (msg instanceof StatusMessage && msg.type === "TaskStarted") {
      servers.set(
        (msg.task as RemoteTask).key,
        `${msg.node.hostname}:${msg.node.port}/${msg.server}`,
      );
    } else if (msg instanceof MonitorStatus) {
      const job = msg.task as unknown as RemoteTask;
      if (msg.type === "finished") console.log(`remote task ${job.id} finished with ${msg.value}`);
      else console.log(`remote task ${job.id} ${msg.type}: ${msg.value}`);
      state.done++;
      if (state.done >= JOBS) return;
      if (state.submitted < JOBS) submit(comp, servers.get(job.key)!, state).catch(() => {});
    }
  }
}

const status = scheduler.spawn(async function statusTask(task: Task) {
  const comp = new Computation({
    module: new URL("./compute_jobs.ts", import.meta.url),
    status: task,
    nodes: [{ hostname, port: Number(port) }],
  });
  const schedule = comp.schedule({ timeout: 30_000 });
  await Promise.all([schedule, clientProc(task, comp)]);
  await comp.close();
});
await status.finish();
await scheduler.finish();
console.log(`${JOBS} jobs done`);
