/**
 * Peer-loss outcomes (DESIGN §5) under the simulated network's faults:
 * partitions healing before and after peerTimeout, delay, resets, and
 * finish() while dials hang.
 */
import assert from "node:assert/strict";
import {
  Channel,
  MonitorStatus,
  PeerLost,
  PeerUnreachable,
  type RemoteTask,
  type Task,
} from "../../mod.ts";
import * as op from "../../src/net/_ops.ts";
import { Cluster, FAST, receiveMatching } from "./_cluster.ts";
import { hostile } from "./_hostile.ts";

const isStatus = (m: unknown): m is MonitorStatus => m instanceof MonitorStatus;

async function withSleeper(c: Cluster) {
  const a = await c.add({ host: "a" });
  const b = await c.add({ host: "b" });
  await a.peer({ hostname: "b", port: 9705 });
  const got: unknown[] = [];
  const sleeper = b.spawn(async (task) => {
    task.setDaemon();
    task.register("sleeper");
    for (;;) got.push(await task.receive());
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("sleeper", { timeout: 5000 })) as unknown as RemoteTask;
  return { a, b, ref, sleeper, got };
}

Deno.test("a partition healed before peerTimeout loses nothing", async () => {
  await using c = new Cluster();
  const { a, ref, got } = await withSleeper(c);
  const watcher = a.spawn(async (task) => {
    task.monitor(ref as unknown as Task);
    const timedOut = {};
    return await task.receive({ timeout: FAST.peerTimeout * 3, alarmValue: timedOut }) ===
      timedOut;
  });
  await a.spawn((t) => t.sleep(0)).finish();
  c.net.partition("a", "b");
  const delivering = a.spawn(() => ref.deliver("held", { timeout: 10_000 }));
  ref.send("sent while partitioned");
  await a.spawn((t) => t.sleep(FAST.peerTimeout / 3)).finish();
  c.net.heal();
  assert.equal(await delivering.finish(), 1);
  assert.deepEqual(got.slice(-2).sort(), ["held", "sent while partitioned"].sort());
  assert.equal(await watcher.finish(), true, "the monitor heard nothing");
  assert.equal(a.peers().length, 1);
});

Deno.test("a partition past peerTimeout: unreachable, deliver 0, finish PeerLost; healed, the peer comes back", async () => {
  await using c = new Cluster();
  const { a, b, ref } = await withSleeper(c);
  const ch = new Channel("news", { scheduler: b });
  ch.register();
  const remoteCh = await a.locateChannel("news", { timeout: 5000 });
  const listener = a.spawn(async (task) => {
    task.setDaemon();
    await task.sleep();
  });
  await remoteCh!.subscribe(listener);
  assert.equal(ch.send("one"), 1);
  const watcher = a.spawn(async (task) => {
    task.monitor(ref as unknown as Task);
    return await receiveMatching(task, isStatus);
  });
  await a.spawn((t) => t.sleep(0)).finish();
  const finishing = ref.finish();
  const delivering = a.spawn(() => ref.deliver("x"));
  c.net.partition("a", "b");
  const status = await watcher.finish();
  assert.equal(status.type, "unreachable");
  assert.ok(status.value instanceof PeerLost);
  await assert.rejects(finishing, PeerLost);
  assert.equal(await delivering.finish(), 0);
  assert.equal(ref.send("gone"), false);
  // b dropped the subscription a's task held.
  const bSide = b.spawn(async (task) => {
    for (;;) {
      if (ch.send("probe") === 0) return;
      await task.sleep(5);
    }
  });
  await bSide.finish();
  c.net.heal();
  await a.peer({ hostname: "b", port: 9705, timeout: 5000 });
  assert.equal(a.peers().length, 1);
  const again = (await a.locate("sleeper", { timeout: 5000 })) as unknown as RemoteTask;
  assert.equal(await again.deliver("back", { timeout: 5000 }), 1);
});

Deno.test("under delay, requests still pair with their answers", async () => {
  await using c = new Cluster();
  const { a, ref, got } = await withSleeper(c);
  c.net.delay(20);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => a.spawn(() => ref.deliver(i, { timeout: 10_000 })).finish(),
    ),
  );
  assert.deepEqual(results, Array(20).fill(1));
  assert.deepEqual([...got].sort((x, y) => (x as number) - (y as number)), [...Array(20).keys()]);
  c.net.delay(0);
});

Deno.test("a deliver that times out is forgotten; its late answer settles nothing", async () => {
  await using c = new Cluster();
  const { a, ref } = await withSleeper(c);
  c.net.partition("a", "b");
  const timedOut = a.spawn(() => ref.deliver("late", { timeout: 20 }));
  assert.equal(await timedOut.finish(), 0);
  c.net.heal();
  assert.equal(await a.spawn(() => ref.deliver("next", { timeout: 5000 })).finish(), 1);
});

Deno.test("finish() ends while a dial hangs on a partition (explicit peer and peer exchange)", async () => {
  const c = new Cluster();
  const a = await c.add({ host: "a" });
  const b = await c.add({ host: "b" });
  c.net.partition("a", "b");
  const dialing = a.peer({ hostname: "b", port: 9705 });
  const evil = await hostile(c.net.transport("evil"), a.location!);
  evil.send([op.PEERS, [["x1", "b", 9705], ["x2", "b", 9706]]]);
  await evil.hub.close();
  await a.finish();
  await assert.rejects(dialing, PeerUnreachable);
  c.net.heal();
  await b.finish();
});
