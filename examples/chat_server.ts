/**
 * Chat server: the TypeScript twin of pycos's `chat_server.py` (in the
 * variant of `chat_server2.py`, where one task owns the set of members).
 *
 * Every connection gets a reader task that turns each message it receives
 * (`recvMsg`) into a mailbox message for the broadcaster task, and a writer
 * task that sends (`sendMsg`) what the broadcaster hands it, so one slow
 * client never holds up the others. The broadcaster relays each line to
 * every other member as `<who>: <line>`. Run `examples/chat_client.ts`
 * against it, twice or more.
 *
 * Arguments: `[port]` (default 9801; `0` picks a free one) and
 * `[clients]`: stop once that many clients have joined and left. Without it
 * the server runs until you type `quit` (or `exit`, or end the input).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/chat_server.ts 9801 2`
 *
 * @module
 */
import { type AsyncServer, AsyncSocket, Scheduler, spawn, type Task } from "../mod.ts";

type ChatEvent =
  | { type: "join"; who: string; writer: Task }
  | { type: "say"; who: string; text: string }
  | { type: "leave"; who: string };

const decoder = new TextDecoder();

/** Sends whatever the broadcaster hands it to one client, until terminated. */
async function writerProc(task: Task, conn: AsyncSocket): Promise<void> {
  task.setDaemon();
  for (;;) await conn.sendMsg(await task.receive<string>());
}

/** Reads one client's messages and reports them to the broadcaster. */
async function readerProc(
  _task: Task,
  conn: AsyncSocket<Deno.NetAddr>,
  broadcaster: Task,
): Promise<void> {
  const who = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
  const writer = spawn(writerProc, conn);
  broadcaster.send({ type: "join", who, writer } satisfies ChatEvent);
  try {
    for await (const msg of conn.messages()) {
      broadcaster.send({ type: "say", who, text: decoder.decode(msg) } satisfies ChatEvent);
    }
  } catch (e) {
    console.log(`error from ${who}: ${e}`);
  } finally {
    broadcaster.send({ type: "leave", who } satisfies ChatEvent);
    writer.terminate();
    conn.close();
  }
}

/** Owns the members; relays each line to everyone but its author. */
async function broadcasterProc(task: Task, server: AsyncServer, limit: number): Promise<void> {
  const members = new Map<string, Task>();
  let left = 0;
  const tell = (from: string, text: string): void => {
    for (const [who, writer] of members) if (who !== from) writer.send(text);
  };
  for (;;) {
    const ev = await task.receive<ChatEvent>();
    if (ev.type === "join") {
      members.set(ev.who, ev.writer);
      console.log(`joined: ${ev.who}`);
      tell(ev.who, `*** ${ev.who} joined`);
    } else if (ev.type === "say") {
      console.log(`${ev.who}: ${ev.text}`);
      tell(ev.who, `${ev.who}: ${ev.text}`);
    } else {
      members.delete(ev.who);
      console.log(`left: ${ev.who}`);
      tell(ev.who, `*** ${ev.who} left`);
      if (++left === limit) {
        server.close();
        return;
      }
    }
  }
}

/** Accepts connections until the server is closed, a reader task for each. */
async function acceptProc(
  task: Task,
  server: AsyncServer<Deno.NetAddr>,
  broadcaster: Task,
): Promise<void> {
  task.setDaemon();
  for await (const conn of server) spawn(readerProc, conn, broadcaster);
}

const port = Number(Deno.args[0] ?? 9801);
const limit = Deno.args[1] === undefined ? Infinity : Number(Deno.args[1]);
const server = AsyncSocket.listen({ hostname: "127.0.0.1", port });
console.log(`chat server on 127.0.0.1:${server.localAddr.port}`);
const broadcaster = spawn(broadcasterProc, server, limit);
spawn(acceptProc, server, broadcaster);

if (limit === Infinity) {
  broadcaster.setDaemon();
  for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const cmd = line.trim().toLowerCase();
    if (cmd === "quit" || cmd === "exit") break;
  }
}
await Scheduler.default().finish();
