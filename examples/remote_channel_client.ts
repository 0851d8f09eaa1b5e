/**
 * Remote channel client: pycos's `remote_channel_client.py`.
 *
 * Locates the channel `news` on the peer (a `RemoteChannel`), subscribes a
 * local task to it and prints what the channel sends until `"quit"`. Start
 * `examples/remote_channel_server.ts` first, then two of these.
 *
 * Arguments: `[port]` of the server (default 9705).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/remote_channel_client.ts 9705`
 *
 * @module
 */
import { Channel, Scheduler, spawn } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
await scheduler.peer({ hostname: "127.0.0.1", port });

const news = await Channel.locate("news", { timeout: 5000 });
if (news === undefined) throw new Error("no channel 'news' found");
const reader = spawn(async (task) => {
  for (;;) {
    const msg = await task.receive<string>();
    console.log(`received: ${msg}`);
    if (msg === "quit") return;
  }
});
await news.subscribe(reader);
console.log("subscribed");
await reader.finish();
await scheduler.finish();
