/**
 * Chat over a remote channel: pycos's `chat_chan_server.py`.
 *
 * The server registers the channel `chat`, whose transform drops lines
 * written in capitals (no shouting) and prefixes the others with who wrote
 * them. Clients (`examples/chat_chan_client.ts`) locate the channel,
 * subscribe, and send what is typed; every subscriber sees every line.
 *
 * Arguments: `[port]` (default 9705; `0` picks a free one) and `[clients]`:
 * stop once that many clients have left. Without it, runs until `quit`.
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/chat_chan_server.ts 9705 2`
 *
 * @module
 */
import { Channel, Scheduler, spawn, type Task } from "../mod.ts";

/** What a client sends on the channel. */
interface Line {
  who: string;
  text: string;
}

const port = Number(Deno.args[0] ?? 9705);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const scheduler = Scheduler.default();
const location = await scheduler.listen({ hostname: "127.0.0.1", port, secret: "s3cret" });

const chat = new Channel("chat", {
  transform(_name, msg) {
    const { who, text } = msg as Line;
    if (/[A-Z]/.test(text) && text === text.toUpperCase()) return undefined; // shouting
    return `${who}: ${text}`;
  },
});
chat.register();

/** Watches the channel like any member and stops after `limit` departures. */
async function moderator(task: Task): Promise<void> {
  if (limit === Infinity) task.setDaemon();
  await chat.subscribe(task);
  for (let left = 0; left < limit;) {
    const line = await task.receive<string>();
    console.log(line);
    if (line.endsWith(": has left")) left++;
  }
}

spawn(moderator);
console.log(`chat server listening on ${location.hostname}:${location.port}`);
if (limit === Infinity) {
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    if (["quit", "exit"].includes(line.trim().toLowerCase())) break;
  }
}
await scheduler.finish();
