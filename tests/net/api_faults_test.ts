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

Deno.test("messages sent just before finish() all arrive", async () => {
  await using c = new Cluster();
  const { a, ref, got } = await withSleeper(c);
  c.net.delay(5);
  for (let i = 0; i < 2000; i++) ref.send(i);
  await a.finish();
  const b = c.peers[1];
  await b.spawn(async (task) => {
    while (got.length < 2000) await task.sleep(5);
  }).finish();
  assert.deepEqual(got, [...Array(2000).keys()]);
});

Deno.test("a caller terminated while its request is pending; the late answer harms nothing", async () => {
  await using c = new Cluster();
  const { a, b } = await withSleeper(c);
  const ender = b.spawn(async (task) => {
    task.register("ender");
    await task.receive();
    return "done";
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("ender", { timeout: 5000 })) as unknown as RemoteTask;
  const caller = a.spawn(async () => await ref.finish());
  await a.spawn((t) => t.sleep(0)).finish();
  caller.terminate();
  await assert.rejects(caller.finish());
  ref.send("go");
  assert.equal(await ender.finish(), "done");
  assert.equal(await ref.finish({ timeout: 5000 }), "done");
});

Deno.test("under resets (drop), every request settles and the link recovers", async () => {
  await using c = new Cluster(7);
  const { a, ref } = await withSleeper(c);
  c.net.drop(0.2);
  const results = await Promise.all(
    Array.from(
      { length: 30 },
      (_, i) => a.spawn(() => ref.deliver(i, { timeout: 2 * FAST.peerTimeout })).finish(),
    ),
  );
  for (const r of results) assert.ok(r === 0 || r === 1);
  c.net.drop(0);
  // The last redial may still fail on an old loss and give the peer up:
  // then dialling again must bring it back.
  let again: RemoteTask | undefined;
  for (let i = 0; i < 5 && again === undefined; i++) {
    await a.peer({ hostname: "b", port: 9705, timeout: 5000 });
    again = (await a.locate("sleeper", { timeout: 2 * FAST.peerTimeout })) as unknown as
      | RemoteTask
      | undefined;
  }
  assert.ok(again !== undefined);
  assert.equal(await again.deliver("after", { timeout: 5000 }), 1);
});

Deno.test("remote channel deliver: a subscriber arriving just before the peer's deadline is counted", async () => {
  await using c = new Cluster();
  // A delay shorter than peerTimeout, so that the link stays up.
  const a = await c.add({ host: "a", peerTimeout: 2000 });
  const b = await c.add({ host: "b", peerTimeout: 2000 });
  await a.peer({ hostname: "b", port: 9705 });
  const ch = new Channel("late", { scheduler: b });
  ch.register();
  const remote = await a.locateChannel("late", { timeout: 5000 });
  c.net.delay(200);
  const delivering = a.spawn(() => remote!.deliver("m", { n: 1, timeout: 400 }));
  // Subscribes on b at ~500 ms: after a's own 400 ms, before b's (200 + 400).
  const late = b.spawn(async (task) => {
    await task.sleep(500);
    await ch.subscribe(task);
    return await task.receive({ timeout: 5000 });
  });
  const count = await delivering.finish();
  assert.equal(await late.finish(), "m");
  assert.equal(count, 1, "the message was delivered, yet deliver said 0");
  c.net.delay(0);
});

Deno.test("finish() ends even when a peer has stopped reading (the flush gives up)", async () => {
  const c = new Cluster();
  const { a, b, ref } = await withSleeper(c);
  c.net.partition("a", "b");
  // More than the network holds for a partitioned pair: the writer must wait.
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 12; i++) ref.send(chunk);
  const done = a.finish().then(() => "finished");
  const limit = new Promise((r) => {
    const t = setTimeout(() => r("stuck"), 10_000);
    done.then(() => clearTimeout(t));
  });
  assert.equal(await Promise.race([done, limit]), "finished");
  c.net.heal();
  await b.finish();
});
