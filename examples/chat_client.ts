/**
 * Chat client: the TypeScript twin of pycos's `chat_client.py`.
 *
 * Connects to `examples/chat_server.ts`; a receiver task prints every
 * message the server relays (`recvMsg`) while the main task sends each line
 * typed on the input (`sendMsg`). As in pycos, the input is read by a
 * thread pool of one (a Worker doing blocking reads), so waiting for the
 * keyboard never holds up the tasks. `quit`, `exit` or the end of the input
 * leaves the chat.
 *
 * Arguments: `[port]` (default 9801).
 *
 * `--unstable-worker-options` and the read permission are for the pool's
 * Worker (it runs with no permissions; reading stdin needs none).
 *
 * Run: `npx deno run --unstable-worker-options --allow-net=127.0.0.1 --allow-read=src/io/thread_pool_worker.js,src/io/_worker_channel_worker.js examples/chat_client.ts 9801`
 *
 * @module
 */
import { AsyncSocket, AsyncThreadPool, Scheduler, spawn, type Task } from "../mod.ts";

const decoder = new TextDecoder();

/** Prints what the server relays until it closes the connection. */
async function receiverProc(_task: Task, sock: AsyncSocket): Promise<void> {
  for await (const msg of sock.messages()) console.log(decoder.decode(msg));
  console.log("*** connection closed");
}

/** Runs in the pool's Worker: one blocking read of the input (`null` at its end). */
const readInput = (): Uint8Array | null => {
  const buf = new Uint8Array(4096);
  const n = Deno.stdin.readSync(buf);
  return n === null ? null : buf.subarray(0, n);
};

/** The lines typed on the input, one at a time, read through `pool`. */
async function* inputLines(pool: AsyncThreadPool): AsyncGenerator<string> {
  const text = new TextDecoder();
  let pending = "";
  for (let chunk; (chunk = await pool.run(readInput)) !== null;) {
    pending += text.decode(chunk, { stream: true });
    for (let i; (i = pending.indexOf("\n")) >= 0; pending = pending.slice(i + 1)) {
      yield pending.slice(0, i).replace(/\r$/, "");
    }
  }
  pending += text.decode();
  if (pending !== "") yield pending;
}

const port = Number(Deno.args[0] ?? 9801);
const sock = await AsyncSocket.connect({ hostname: "127.0.0.1", port, timeout: 10_000 });
console.log(`connected to 127.0.0.1:${port} as ${sock.localAddr.hostname}:${sock.localAddr.port}`);
const receiver = spawn(receiverProc, sock);
const pool = new AsyncThreadPool(1);
for await (const line of inputLines(pool)) {
  const cmd = line.trim().toLowerCase();
  if (cmd === "quit" || cmd === "exit") break;
  await sock.sendMsg(line);
}
// Leaving: the server sees the end of our stream, says goodbye and closes.
await sock.closeWrite();
await receiver.finish();
sock.close();
await pool.close();
await Scheduler.default().finish();
