/**
 * Socket client: the TypeScript twin of the pycos tutorial's asynchronous
 * network client (§7.2) and of pycos's `sock_client.py`.
 *
 * Nine tasks each connect to `examples/sock_server.ts`, send one message
 * of 100–300 dashes ending in `/` (the server reads until it sees the `/`)
 * and close the connection.
 *
 * Arguments: `[port]` (default 8010).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/sock_client.ts 8010`
 *
 * @module
 */
import { AsyncSocket, Scheduler, spawn, type Task } from "../mod.ts";

/** Connects, sends `n: ----…/` in one `sendAll`, and closes. */
async function clientProc(_task: Task, host: string, port: number, n: number): Promise<void> {
  await using sock = await AsyncSocket.connect({ hostname: host, port, timeout: 10_000 });
  const msg = `${n}: ${"-".repeat(100 + Math.floor(Math.random() * 201))}/`;
  await sock.sendAll(msg);
  console.log(`sent ${msg.length} bytes from client ${n}`);
}

const port = Number(Deno.args[0] ?? 8010);
for (let n = 1; n < 10; n++) spawn(clientProc, "127.0.0.1", port, n);
await Scheduler.default().finish();
