/**
 * The API over real TCP on 127.0.0.1 in one process: sanitizers on, so a
 * link, listener or timer that `finish()` leaves behind fails the test.
 */
import assert from "node:assert/strict";
import { type RemoteTask, Scheduler } from "../../mod.ts";

Deno.test("TCP: finish() closes every link, listener and timer; sends just before it arrive", async () => {
  const a = new Scheduler();
  const b = new Scheduler();
  try {
    await a.listen({ hostname: "127.0.0.1", port: 0, secret: "s", heartbeatInterval: 20 });
    await b.listen({ hostname: "127.0.0.1", port: 0, secret: "s", heartbeatInterval: 20 });
    const got: number[] = [];
    const sink = b.spawn(async (task) => {
      task.register("sink");
      for (let i = 0; i < 50_000; i++) got.push(await task.receive<number>());
    });
    await b.spawn(() => {}).finish();
    await a.peer({ hostname: "127.0.0.1", port: b.location!.port, timeout: 5000 });
    const ref = (await a.locate("sink", { timeout: 5000 })) as unknown as RemoteTask;
    // finish() waits for a's tasks: this one until the sink has ended.
    const pending = a.spawn(() => ref.finish());
    for (let i = 0; i < 50_000; i++) ref.send(i);
    await a.finish();
    await sink.finish();
    assert.equal(got.length, 50_000);
    assert.deepEqual(got.slice(-3), [49_997, 49_998, 49_999]);
    assert.equal(await pending.finish(), undefined);
  } finally {
    await Promise.allSettled([a.finish(), b.finish()]);
  }
});
