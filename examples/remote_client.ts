/**
 * Remote client: the client half of the pycos tutorial's §7.3 and pycos's
 * `remote_task_client.py`.
 *
 * Ten client tasks each locate the task registered as `server_task` on the
 * peer (a `RemoteTask`) and send it three messages, sleeping a little
 * between them, exactly as they would a local task. Start
 * `examples/remote_server.ts` first.
 *
 * Arguments: `[port]` of the server (default 9705) and `[clients]` (default 10).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/remote_client.ts 9705 10`
 *
 * @module
 */
import { Scheduler, spawn, Task } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const clients = Number(Deno.args[1] ?? 10);
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
// On one machine or across a router multicast may not reach: name the peer.
await scheduler.peer({ hostname: "127.0.0.1", port });

let msgId = 0;

/** Finds the server by name and sends it three messages. */
async function clientProc(task: Task, n: number): Promise<void> {
  const server = await Task.locate("server_task", { timeout: 5000 });
  if (server === undefined) throw new Error("no task registered as 'server_task'");
  for (let x = 0; x < 3; x++) {
    await task.sleep(50 + Math.random() * 250);
    msgId++;
    server.send(`${msgId}: ${n} / ${x}`);
  }
}

for (let i = 0; i < clients; i++) spawn(clientProc, i);
await scheduler.finish(); // waits for the clients, then closes the link (sent messages go first)
console.log(`sent ${msgId} messages`);
