/**
 * Channels: the TypeScript twin of the pycos tutorial's broadcast program
 * (§7.1.3).
 *
 * A client sends a few numbers over a channel; two subscribed tasks compute
 * their sum and their product. `null` marks the end of the stream.
 *
 * Run: `npx deno run examples/channel.ts` (no permissions needed).
 *
 * @module
 */
import { Channel, Scheduler, spawn, type Task } from "../mod.ts";

/** Sums the numbers received over the channel until `null`. */
async function seqsum(task: Task): Promise<void> {
  let result = 0;
  for (;;) {
    const msg = await task.receive<number | null>();
    if (msg === null) break;
    result += msg;
  }
  console.log(`sum: ${result.toFixed(6)}`);
}

/** Multiplies the numbers received over the channel until `null`. */
async function seqprod(task: Task): Promise<void> {
  let result = 1;
  for (;;) {
    const msg = await task.receive<number | null>();
    if (msg === null) break;
    result *= msg;
  }
  console.log(`prod: ${result.toFixed(6)}`);
}

/** Creates the channel and the two workers, then broadcasts four numbers. */
async function clientProc(_task: Task): Promise<void> {
  const channel = new Channel("sum_prod");
  const sumTask = spawn(seqsum);
  const prodTask = spawn(seqprod);
  await channel.subscribe(sumTask);
  await channel.subscribe(prodTask);
  for (let x = 0; x < 4; x++) {
    const r = 0.5 + Math.random() * 2.5;
    channel.send(r);
    console.log(`sent ${r.toFixed(6)}`);
  }
  channel.send(null);
  await channel.unsubscribe(sumTask);
  await channel.unsubscribe(prodTask);
}

/** Runs the client and waits for every task. */
export async function main(): Promise<void> {
  spawn(clientProc);
  await Scheduler.default().finish();
}

if (import.meta.main) await main();
