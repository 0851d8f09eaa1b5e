/**
 * The other process of the network shapes (B5, B9): a peer with a `sink`
 * task (counts messages, answers `{ report: task, n }` once it has `n`) and
 * an `echo` task, plus a bare TCP echo server for the reference ping-pong.
 * Prints `peer HOST:PORT bare PORT` when ready; ends with its input.
 *
 * @module
 */
import { type RemoteTask, Scheduler, type Task } from "../../mod.ts";

const scheduler = Scheduler.default();
const here = await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "bench" });
scheduler.spawn(async (task: Task) => {
  task.setDaemon();
  task.register("sink");
  let count = 0;
  let waiting: { report: RemoteTask; n: number } | null = null;
  for (;;) {
    const m = await task.receive();
    if (typeof m === "object" && m !== null && "report" in m) {
      waiting = m as { report: RemoteTask; n: number };
    } else count++;
    if (waiting !== null && count >= waiting.n) {
      waiting.report.send(count);
      waiting = null;
      count = 0;
    }
  }
});

const bare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
(async () => {
  for await (const conn of bare) {
    (async () => {
      conn.setNoDelay(true);
      const buf = new Uint8Array(64);
      for (;;) {
        let got = 0;
        while (got < 64) {
          const n = await conn.read(buf.subarray(got));
          if (n === null) return conn.close();
          got += n;
        }
        await conn.write(buf);
      }
    })().catch(() => {});
  }
})().catch(() => {});
await scheduler.spawn(() => {}).finish();
console.log(`peer ${here.hostname}:${here.port} bare ${bare.addr.port}`);
for await (const _ of Deno.stdin.readable) { /* run until the input ends */ }
bare.close();
await scheduler.finish();
Deno.exit(0);
