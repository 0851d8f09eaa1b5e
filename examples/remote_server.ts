/**
 * Remote server: the server half of the pycos tutorial's §7.3 (distributed
 * programming) and pycos's `remote_task_server.py`.
 *
 * The scheduler listens as a peer; a task registers itself as
 * `server_task` and prints every message it receives, whoever sends it.
 * Run `examples/remote_client.ts` against it (as many at once as you like).
 *
 * Arguments: `[port]` (default 9705; `0` picks a free one) and `[messages]`:
 * stop after that many. Without it the server runs until you type `quit`.
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/remote_server.ts 9705 30`
 *
 * @module
 */
import { Scheduler, spawn, type Task } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const scheduler = Scheduler.default();
// The secret is a cluster's shared password; a real one comes from a file or
// the environment, never from the source.
const location = await scheduler.listen({ hostname: "127.0.0.1", port, secret: "s3cret" });

/** Prints what it receives; registered so that peers can locate it by name. */
async function serverProc(task: Task): Promise<void> {
  if (limit === Infinity) task.setDaemon();
  task.register("server_task");
  console.log(`server listening on ${location.hostname}:${location.port}`);
  for (let n = 0; n < limit; n++) console.log(`processing ${await task.receive()}`);
}

spawn(serverProc);

if (limit === Infinity) {
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const cmd = line.trim().toLowerCase();
    if (cmd === "quit" || cmd === "exit") break;
  }
}
await scheduler.finish();
