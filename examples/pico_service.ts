/**
 * A pico service: pycos's `rps_pico_service.py` (remote task invocation).
 *
 * The scheduler offers the function `pico` as a service: every request
 * from a peer (`examples/pico_client.ts`) starts a new task running it here
 * and hands the client that task's `RemoteTask`. No code travels; the
 * function lives on this peer.
 *
 * Arguments: `[port]` (default 9705; `0` picks a free one) and `[requests]`:
 * stop after serving that many. Without it, runs until `quit`.
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/pico_service.ts 9705 5`
 *
 * @module
 */
import { Scheduler, type Task } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const scheduler = Scheduler.default();
const location = await scheduler.listen({ hostname: "127.0.0.1", port, secret: "s3cret" });

let served = 0;
let allServed: () => void = () => {};
const done = new Promise<void>((resolve) => allServed = resolve);

/** The service: waits `ms`, then answers with `n` squared. */
async function pico(task: Task, n: number, ms: number): Promise<number> {
  console.log(`request ${n} in task ${task.id}`);
  await task.sleep(ms);
  if (++served >= limit) allServed();
  return n * n;
}

scheduler.registerService("pico", pico);
console.log(`pico service listening on ${location.hostname}:${location.port}`);
if (limit === Infinity) {
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    if (["quit", "exit"].includes(line.trim().toLowerCase())) break;
  }
} else await done;
await scheduler.finish();
