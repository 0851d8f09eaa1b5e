/**
 * Socket server: the TypeScript twin of the pycos tutorial's asynchronous
 * network server (§7.2) and of pycos's `sock_server.py`.
 *
 * A daemon task accepts connections and starts a task for each; that task
 * reads until the message ends with `/`, closes the connection and prints
 * what it received. Run `examples/sock_client.ts` against it.
 *
 * Arguments: `[port]` (default 8010; `0` picks a free one) and
 * `[connections]`: stop after serving that many. Without it the server runs
 * until you type `quit` (or `exit`, or end the input).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/sock_server.ts 8010 9`
 *
 * @module
 */
import { type AsyncServer, AsyncSocket, Scheduler, spawn, type Task } from "../mod.ts";

const decoder = new TextDecoder();

/** Reads one `/`-terminated message from `conn`, then closes it and prints it. */
async function process(_task: Task, conn: AsyncSocket): Promise<void> {
  let data = "";
  try {
    while (!data.endsWith("/")) {
      const chunk = await conn.recv(128, { timeout: 10_000 });
      if (chunk.length === 0) break; // the client left early
      data += decoder.decode(chunk, { stream: true });
    }
  } finally {
    conn.close();
  }
  console.log(`received: ${data}`);
}

/** Accepts connections forever (or `limit` of them), a task for each. */
async function serverProc(task: Task, server: AsyncServer, limit: number): Promise<void> {
  if (limit === Infinity) task.setDaemon();
  const handlers: Task[] = [];
  for (let n = 0; n < limit; n++) {
    const conn = await server.accept();
    handlers.push(spawn(process, conn));
  }
  server.close();
  for (const h of handlers) await h.finish().catch(() => {});
}

const port = Number(Deno.args[0] ?? 8010);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const server = AsyncSocket.listen({ hostname: "127.0.0.1", port });
console.log(`listening on 127.0.0.1:${server.localAddr.port}`);
spawn(serverProc, server, limit);

if (limit === Infinity) {
  // As the tutorial's main loop: wait for "quit" on the input.
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const cmd = line.trim().toLowerCase();
    if (cmd === "quit" || cmd === "exit") break;
  }
}
// Waits for the server task (when it has a limit), then stops the daemon.
await Scheduler.default().finish();
