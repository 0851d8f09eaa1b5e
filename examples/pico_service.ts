/**
 * A pico service: pycos's `rps_pico_service.py` (remote task invocation).
 *
 * The scheduler offers the function `pico` as a service: every request
 * from a peer (`examples/pico_client.ts`) starts a new task running it here
 * and hands the client that task's `RemoteTask`. No code travels; the
 * function lives on this peer.
 *
 * Arguments: `[port]` (default 9705; `0` picks a free one) and `[clients]`:
 * stop once that many clients have come and gone. Without it, runs until
 * `quit`.
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/pico_service.ts 9705 1`
 *
 * @module
 */
import { PeerStatus, Scheduler, type Task } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const scheduler = Scheduler.default();
const location = await scheduler.listen({ hostname: "127.0.0.1", port, secret: "s3cret" });

/** The service: waits `ms`, then answers with `n` squared. */
async function pico(task: Task, n: number, ms: number): Promise<number> {
  console.log(`request ${n} in task ${task.id}`);
  await task.sleep(ms);
  return n * n;
}

/** Counts the clients that leave; ends after `limit` of them. */
async function doorkeeper(task: Task): Promise<void> {
  if (limit === Infinity) task.setDaemon();
  scheduler.peerStatus(task);
  for (let left = 0; left < limit;) {
    const status = await task.receive();
    if (status instanceof PeerStatus && status.status === "offline") left++;
  }
}

scheduler.registerService("pico", pico);
scheduler.spawn(doorkeeper);
console.log(`pico service listening on ${location.hostname}:${location.port}`);
if (limit === Infinity) {
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    if (["quit", "exit"].includes(line.trim().toLowerCase())) break;
  }
}
await scheduler.finish(); // with a count: once the doorkeeper has seen them go
