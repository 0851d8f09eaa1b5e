/**
 * Client and server: the TypeScript twin of the pycos tutorial's message
 * passing program (§7.1.2).
 *
 * A daemon server task prints every message it receives; ten client tasks
 * each send it three messages, pausing a random time before each. The
 * clients share `msgId` without a lock: tasks are never preempted, so the
 * read-increment-use below cannot interleave. When the clients are done,
 * `finish()` stops the daemon server.
 *
 * Run: `npx deno run examples/client_server.ts` (no permissions needed).
 *
 * @module
 */
import { Scheduler, spawn, type Task } from "../mod.ts";

let msgId = 0;

/** Processes messages forever; as a daemon it does not keep the program alive. */
async function serverProc(task: Task): Promise<never> {
  task.setDaemon();
  for (;;) {
    const msg = await task.receive<string>();
    console.log(`processing ${msg}`);
  }
}

/** Sends three messages to `server`, pausing 50–200 ms before each. */
async function clientProc(task: Task, server: Task, n: number): Promise<void> {
  for (let x = 0; x < 3; x++) {
    await task.suspend(50 + Math.random() * 150);
    msgId++;
    server.send(`${msgId}: ${n} / ${x}`);
  }
}

/** Starts the server and ten clients, and waits for the clients. */
export async function main(): Promise<void> {
  msgId = 0;
  const server = spawn(serverProc);
  for (let i = 0; i < 10; i++) spawn(clientProc, server, i);
  await Scheduler.default().finish();
  console.log(`${msgId} messages sent`);
}

if (import.meta.main) await main();
