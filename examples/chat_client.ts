/**
 * Chat client: the TypeScript twin of pycos's `chat_client.py`.
 *
 * Connects to `examples/chat_server.ts`; a receiver task prints every
 * message the server relays (`recvMsg`) while the main task sends each line
 * typed on the input (`sendMsg`). `quit`, `exit` or the end of the input
 * leaves the chat.
 *
 * Arguments: `[port]` (default 9801).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/chat_client.ts 9801`
 *
 * @module
 */
import { AsyncSocket, Scheduler, spawn, type Task } from "../mod.ts";

const decoder = new TextDecoder();

/** Prints what the server relays until it closes the connection. */
async function receiverProc(_task: Task, sock: AsyncSocket): Promise<void> {
  for await (const msg of sock.messages()) console.log(decoder.decode(msg));
  console.log("*** connection closed");
}

/** The lines typed on the input, one at a time. */
async function* inputLines(): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    for (let i; (i = pending.indexOf("\n")) >= 0; pending = pending.slice(i + 1)) {
      yield pending.slice(0, i).replace(/\r$/, "");
    }
  }
  if (pending !== "") yield pending;
}

const port = Number(Deno.args[0] ?? 9801);
const sock = await AsyncSocket.connect({ hostname: "127.0.0.1", port, timeout: 10_000 });
console.log(`connected to 127.0.0.1:${port} as ${sock.localAddr.hostname}:${sock.localAddr.port}`);
const receiver = spawn(receiverProc, sock);
for await (const line of inputLines()) {
  const cmd = line.trim().toLowerCase();
  if (cmd === "quit" || cmd === "exit") break;
  await sock.sendMsg(line);
}
// Leaving: the server sees the end of our stream, says goodbye and closes.
await sock.closeWrite();
await receiver.finish();
sock.close();
await Scheduler.default().finish();
