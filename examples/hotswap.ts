/**
 * Hot swap: the TypeScript twin of pycos's `hotswap.py` demo, scripted
 * instead of interactive.
 *
 * A server task that said it is `hotSwappable` gets its function replaced
 * while it runs. The swap arrives at its next wait as a `HotSwap` error;
 * rethrowing it accepts (the task restarts with the new function and keeps
 * its mailbox, so messages queued before the swap are handled by the new
 * function), swallowing it refuses (`hotSwap` then resolves `false`).
 *
 * Run: `npx deno run examples/hotswap.ts` (no permissions needed).
 *
 * @module
 */
import { HotSwap, Scheduler, spawn, type Task } from "../mod.ts";

/** The server's first function: prints each number it receives. */
async function serverProc(task: Task): Promise<never> {
  task.setDaemon();
  // This function may be replaced at any of its waits.
  task.hotSwappable(true);
  for (;;) {
    try {
      const n = await task.receive<number>();
      console.log(`serverProc received: ${n}`);
    } catch (e) {
      if (e instanceof HotSwap) {
        console.log(`new function: ${e.fn.name}(${e.args.join(", ")})`);
      }
      // Letting HotSwap propagate accepts the swap.
      throw e;
    }
  }
}

type MathFunction = "sqrt" | "log" | "exp";

/** The replacement: applies `Math[fname]`; accepts only other server functions. */
async function serverProc2(task: Task, fname: MathFunction): Promise<never> {
  const f = Math[fname];
  task.setDaemon();
  task.hotSwappable(true);
  for (;;) {
    try {
      const n = await task.receive<number>();
      console.log(`  * serverProc2 received: ${n}, ${fname}=${f(n).toFixed(2)}`);
    } catch (e) {
      if (!(e instanceof HotSwap)) throw e;
      if (e.fn.name.startsWith("serverProc")) {
        console.log(`replacing with function: ${e.fn.name}`);
        throw e;
      }
      // Swallowing HotSwap refuses the swap; the task carries on.
      console.log(`ignoring hot swap to ${e.fn.name}`);
    }
  }
}

/** A function the server refuses to become. */
function intruder(_task: Task): void {
  console.log("this never runs");
}

/** Sends numbers to the server and asks for swaps along the way. */
async function clientProc(task: Task, server: Task): Promise<void> {
  for (let n = 1; n <= 3; n++) {
    await task.sleep(20);
    server.send(n);
  }
  // No pause after 3: the server is still busy with it, so 4, 5 and 6 wait
  // in its mailbox when the swap happens, and the new function gets them.
  server.send(4);
  server.send(5);
  server.send(6);
  const accepted = await server.hotSwap(serverProc2, "sqrt");
  console.log(`swap to serverProc2 accepted: ${accepted}`);
  await task.sleep(20);
  server.send(7);
  await task.sleep(20);
  const refused = await server.hotSwap(intruder);
  console.log(`swap to intruder accepted: ${refused}`);
  server.send(8);
  await task.sleep(20);
}

/** Starts the server and the client, and waits for the client. */
export async function main(): Promise<void> {
  const server = spawn(serverProc);
  spawn(clientProc, server);
  await Scheduler.default().finish();
  console.log(`server ended as '${server.name}': ${server.state}`);
}

if (import.meta.main) await main();
