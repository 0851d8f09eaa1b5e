/**
 * Chat client over a remote channel: pycos's `chat_chan_client.py`.
 *
 * Locates the channel `chat` on the server (`examples/chat_chan_server.ts`),
 * subscribes a task that prints what the channel carries, and sends each
 * line typed; `quit` (or the end of the input) leaves. Lines in capitals
 * are dropped by the server's transform.
 *
 * Arguments: `[port]` of the server (default 9705) and `[name]`.
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/chat_chan_client.ts 9705`
 *
 * @module
 */
import { Channel, Scheduler, spawn } from "../mod.ts";

/** The lines of a byte stream (a read may hold several lines, or part of one). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    yield* parts;
  }
  if (pending !== "") yield pending;
}

const port = Number(Deno.args[0] ?? 9705);
const scheduler = Scheduler.default();
const here = await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
const who = Deno.args[1] ?? `user-${here.port}`;
await scheduler.peer({ hostname: "127.0.0.1", port });

const chat = await Channel.locate("chat", { timeout: 5000 });
if (chat === undefined) throw new Error("no channel 'chat' found");
const printer = spawn(async (task) => {
  task.setDaemon();
  for (;;) console.log(await task.receive());
});
await chat.subscribe(printer);
console.log(`joined as ${who}`);
await chat.deliver({ who, text: "has joined" });
for await (const line of lines(Deno.stdin.readable)) {
  const text = line.trim();
  if (text === "quit" || text === "exit") break;
  if (text !== "") chat.send({ who, text });
}
await chat.unsubscribe(printer);
await chat.deliver({ who, text: "has left" });
await scheduler.finish();
