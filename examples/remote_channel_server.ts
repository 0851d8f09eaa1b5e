/**
 * Remote channel server: pycos's `remote_channel_server.py`.
 *
 * A registered channel `news` on this peer; `deliver(msg, { n: 2 })` waits
 * until two subscribers (tasks on other peers, through
 * `examples/remote_channel_client.ts`) are there, then sends. A few more
 * messages follow, then `"quit"`, which ends the clients.
 *
 * Arguments: `[port]` (default 9705; `0` picks a free one).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/remote_channel_server.ts 9705`
 *
 * @module
 */
import { Channel, Scheduler } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const scheduler = Scheduler.default();
const location = await scheduler.listen({ hostname: "127.0.0.1", port, secret: "s3cret" });
const news = new Channel("news");
news.register();
console.log(`channel server listening on ${location.hostname}:${location.port}`);

const n = await news.deliver("first news", { n: 2, timeout: 30_000 });
console.log(`"first news" delivered to ${n} subscribers`);
for (let i = 1; i <= 3; i++) news.send(`update ${i}`);
// Delivered in order after the updates: every subscriber gets it.
console.log(`"quit" delivered to ${await news.deliver("quit", { n: 2, timeout: 5000 })}`);
await scheduler.finish();
