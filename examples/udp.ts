/**
 * UDP: the TypeScript twin of pycos's `udp.py`.
 *
 * A server task receives `n` datagrams on a socket bound to 127.0.0.1 and
 * prints each with its sender; `n` client tasks each bind their own socket,
 * send one datagram to the server and close.
 *
 * Arguments: `[n]` (default 50).
 *
 * Run: `npx deno run --unstable-net --allow-net=127.0.0.1 examples/udp.ts 50`
 *
 * @module
 */
import { AsyncDatagram, type DatagramAddr, spawn, type Task } from "../mod.ts";

const decoder = new TextDecoder();

/** Receives `n` datagrams, prints them, and closes the socket. */
async function serverProc(_task: Task, n: number, sock: AsyncDatagram): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { data, remoteAddr } = await sock.recvFrom({ timeout: 10_000 });
    console.log(
      `Received "${decoder.decode(data)}" from ${remoteAddr.hostname}:${remoteAddr.port}`,
    );
  }
  sock.close();
}

/** Sends one datagram naming its own socket to the server. */
async function clientProc(_task: Task, server: DatagramAddr): Promise<void> {
  using sock = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0 });
  await sock.sendTo(`client socket: ${sock.localAddr.port}`, server);
}

const n = Number(Deno.args[0] ?? 50);
const sock = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0 });
const serverTask = spawn(serverProc, n, sock);
for (let i = 0; i < n; i++) spawn(clientProc, sock.localAddr);
await serverTask.finish();
