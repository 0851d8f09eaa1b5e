/**
 * Jobs and client exchange objects by messages (pycos's dispycos_client3):
 * two `squares` jobs each receive items from the client, send each back
 * with its square, and end on `null` with how many they saw.
 *
 * Start a node first (`npx deno task node --port 9706`). Argument: `[node]`
 * as `host:port` (default 127.0.0.1:9706).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 --allow-read=examples examples/compute_messages.ts 127.0.0.1:9706`
 *
 * @module
 */
import { Scheduler, type Task } from "../mod.ts";
import { Computation } from "../src/compute/mod.ts";
import type { Item } from "./compute_jobs.ts";

const [hostname, port] = (Deno.args[0] ?? "127.0.0.1:9706").split(":");
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: Deno.args[1] ?? "" });
const comp = new Computation({
  module: new URL("./compute_jobs.ts", import.meta.url),
  nodes: [{ hostname, port: Number(port) }],
});
await comp.schedule({ timeout: 30_000 });

const client = scheduler.spawn(async function client(task: Task) {
  const jobs = [await comp.run("squares", task), await comp.run("squares", task)];
  for (let n = 1; n <= 6; n++) jobs[n % 2].send({ n } satisfies Item);
  for (let i = 0; i < 6; i++) {
    const item = await task.receive<Item>({ timeout: 30_000 });
    console.log(`${item!.n} squared is ${item!.square} (from ${item!.by})`);
  }
  for (const job of jobs) job.send(null);
  for (const job of jobs) console.log(`job ${job.id} saw ${await job.finish()} items`);
});
await client.finish();
await comp.close();
await scheduler.finish();
