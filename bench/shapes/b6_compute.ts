/**
 * B6: compute. 10,000 tiny jobs (return the argument) through a
 * `Computation` to one local node with 2 servers, in its own process;
 * jobs/s from the first `run` to the last result, and the time from
 * `schedule()` to the first `ServerInitialized`.
 *
 * @module
 */
import { Scheduler, type Task } from "../../mod.ts";
import { Computation, StatusMessage } from "../../src/compute/mod.ts";

const JOBS = 10_000;
const WINDOW = 500; // jobs in flight at once

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    new URL("./_node_child.ts", import.meta.url).pathname,
  ],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
try {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let m: RegExpMatchArray | null = null;
  while (m === null) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`node ended: ${seen}`);
    seen += value;
    m = seen.match(/node listening on 127\.0\.0\.1:(\d+)/);
  }
  const port = Number(m[1]);
  const scheduler = Scheduler.default();
  await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "bench" });
  let firstServer = 0;
  const t0 = performance.now();
  const status = scheduler.spawn(async (task: Task) => {
    task.setDaemon();
    for (;;) {
      const msg = await task.receive();
      if (msg instanceof StatusMessage && msg.type === "ServerInitialized" && firstServer === 0) {
        firstServer = performance.now() - t0;
      }
    }
  });
  const comp = new Computation({
    module: new URL("./_jobs/tiny.ts", import.meta.url),
    scheduler,
    status,
    nodes: [{ hostname: "127.0.0.1", port }],
  });
  await comp.schedule({ timeout: 60_000 });
  const t1 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < JOBS) {
      const i = next++;
      const job = await comp.run("echo", i);
      if (await job.finish() !== i) throw new Error("wrong result");
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const seconds = (performance.now() - t1) / 1000;
  await comp.close();
  await scheduler.finish();
  console.log(JSON.stringify({
    id: "B6",
    row: "10,000 tiny jobs, 1 node × 2 servers",
    value: JOBS / seconds,
    unit: "jobs/s",
    pycos: "—",
    target: "≥ 10k",
    ray: "~400 tasks/s (many_tasks)",
    dask: "~1 ms a task",
  }));
  console.log(JSON.stringify({
    id: "B6",
    row: "schedule() to first ServerInitialized",
    value: firstServer,
    unit: "ms",
    pycos: "—",
    target: "≤ 500 ms",
  }));
} finally {
  await child.stdin.close().catch(() => {});
  await child.status;
}
