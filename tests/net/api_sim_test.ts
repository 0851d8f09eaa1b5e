/**
 * The network API's semantics (DESIGN §5) on the simulated network:
 * location transparency, remote monitor/terminate/throw/finish/deliver,
 * peer loss, stale references, channels across peers, services.
 */
import assert from "node:assert/strict";
import {
  Channel,
  MonitorStatus,
  PeerLost,
  PeerStatus,
  RemoteChannel,
  RemoteTask,
  type Task,
  TaskTerminated,
} from "../../mod.ts";
import { Cluster, FAST, receiveMatching } from "./_cluster.ts";

const isStatus = (m: unknown): m is MonitorStatus => m instanceof MonitorStatus;
const isPeerStatus = (m: unknown): m is PeerStatus => m instanceof PeerStatus;

Deno.test("locate finds a task on a peer; messages arrive in order", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const got: number[] = [];
  const sink = b.spawn(async function sink(task) {
    task.register("sink");
    for (let i = 0; i < 1000; i++) got.push(await task.receive<number>());
  });
  await b.spawn(() => {}).finish(); // sink has registered
  const ref = await a.locate("sink", { timeout: 5000 });
  assert.ok(ref instanceof RemoteTask);
  assert.equal(ref.name, "sink");
  assert.deepEqual(ref.location, b.location);
  for (let i = 0; i < 1000; i++) assert.equal(ref.send(i), true);
  await sink.finish();
  assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i));
});

Deno.test("locate: not found anywhere resolves undefined; a location limits the search", async () => {
  await using c = new Cluster();
  const [a, b, d] = await c.star(3);
  assert.equal(await a.locate("nobody"), undefined);
  d.spawn(async (task) => {
    task.setDaemon();
    task.register("only-on-d");
    await task.sleep();
  });
  await d.spawn(() => {}).finish();
  assert.equal(await a.locate("only-on-d", { location: b.location, timeout: 50 }), undefined);
  assert.ok(await a.locate("only-on-d", { location: d.location, timeout: 5000 }));
});

Deno.test("a local Task sent in a message arrives as a RemoteTask that can answer", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  b.spawn(async (task) => {
    task.setDaemon();
    task.register("echo");
    for (;;) {
      const { from, text } = await task.receive<{ from: RemoteTask; text: string }>();
      from.send(`echo: ${text}`);
    }
  });
  await b.spawn(() => {}).finish();
  const asker = a.spawn(async (task) => {
    const echo = await task.scheduler.locate("echo", { timeout: 5000 });
    echo!.send({ from: task, text: "hi" });
    return await task.receive<string>({ timeout: 5000 });
  });
  assert.equal(await asker.finish(), "echo: hi");
});

Deno.test("remote deliver resolves 1 once queued, 0 for an ended task; send then returns false", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const t = b.spawn(async (task) => {
    task.register("once");
    return await task.receive();
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("once", { timeout: 5000 })) as unknown as RemoteTask;
  assert.equal(await ref.deliver("first", { timeout: 5000 }), 1);
  assert.equal(await t.finish(), "first");
  assert.equal(await ref.deliver("late", { timeout: 5000 }), 0);
  // The peer refuses a message for an ended task and says so; then send is false.
  ref.send("later");
  await ref.deliver("sync", { timeout: 5000 });
  assert.equal(ref.send("after"), false);
});

Deno.test("remote monitor, finish, terminate and throw", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const worker = b.spawn(async function worker(task) {
    task.register("worker");
    try {
      await task.receive();
    } catch (e) {
      if (e instanceof Error && e.message === "wake up") return "caught";
      throw e;
    }
    return "plain";
  });
  const sleeper = b.spawn(async function sleeper(task) {
    task.register("sleeper");
    await task.sleep();
  });
  await b.spawn(() => {}).finish();
  const watcher = a.spawn(async (task) => {
    const w = (await task.scheduler.locate("worker", { timeout: 5000 })) as unknown as RemoteTask;
    const s = (await task.scheduler.locate("sleeper", { timeout: 5000 })) as unknown as RemoteTask;
    task.monitor(w as unknown as Task);
    task.monitor(s as unknown as Task);
    w.throw(new Error("wake up"));
    assert.equal(await w.finish({ timeout: 5000 }), "caught");
    s.terminate();
    await assert.rejects(s.finish({ timeout: 5000 }), TaskTerminated);
    const statuses = [await receiveMatching(task, isStatus), await receiveMatching(task, isStatus)];
    const by = Object.fromEntries(statuses.map((st) => [st.task.name, st]));
    return [
      by.worker.type,
      by.worker.value,
      by.sleeper.type,
      by.sleeper.value instanceof TaskTerminated,
    ];
  });
  assert.deepEqual(await watcher.finish(), ["finished", "caught", "terminated", true]);
  await worker.finish();
  await sleeper.finish().catch(() => {});
});

Deno.test("a killed peer: monitors get 'unreachable', deliver 0, finish PeerLost", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  b.spawn(async (task) => {
    task.setDaemon();
    task.register("doomed");
    await task.sleep();
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("doomed", { timeout: 5000 })) as unknown as RemoteTask;
  const watcher = a.spawn(async (task) => {
    task.monitor(ref as unknown as Task);
    return await receiveMatching(task, isStatus);
  });
  const finishing = ref.finish();
  const delivering = a.spawn(async () => {
    // Held by the dead host, then settled by the loss.
    return await ref.deliver("x");
  });
  await a.spawn((t) => t.sleep(0)).finish();
  const started = performance.now();
  c.net.kill(b.location!.hostname);
  const status = await watcher.finish();
  assert.equal(status.type, "unreachable");
  assert.ok(status.value instanceof PeerLost);
  await assert.rejects(finishing, PeerLost);
  assert.equal(await delivering.finish(), 0);
  // Only a generous check of the bound: peerTimeout + heartbeatInterval.
  assert.ok(performance.now() - started < 20 * (FAST.peerTimeout + FAST.heartbeatInterval));
  assert.equal(ref.send("gone"), false);
  assert.equal(a.peers().length, 0);
});

Deno.test("a restarted peer is a new peer: old references are refused", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  const b1 = await c.add({ host: "b" });
  await a.peer({ hostname: "b", port: 9705 });
  b1.spawn(async (task) => {
    task.setDaemon();
    task.register("svc");
    await task.sleep();
  });
  await b1.spawn(() => {}).finish();
  const old = (await a.locate("svc", { timeout: 5000 })) as unknown as RemoteTask;
  const watch = a.spawn(async (task) => {
    a.peerStatus(task);
    await receiveMatching(task, (m): m is PeerStatus => isPeerStatus(m) && m.status === "offline");
  });
  await b1.finish();
  await watch.finish();
  const b2 = await c.add({ host: "b" });
  const got: unknown[] = [];
  const fresh = b2.spawn(async (task) => {
    task.register("svc");
    got.push(await task.receive());
  });
  await a.peer({ hostname: "b", port: 9705 });
  // Same address, same name, same task id even: the old reference is refused.
  assert.equal(old.send("to the old one"), false);
  const now = (await a.locate("svc", { timeout: 5000 })) as unknown as RemoteTask;
  assert.notEqual(now.peer, old.peer);
  now.send("to the new one");
  await fresh.finish();
  assert.deepEqual(got, ["to the new one"]);
});

Deno.test("channels across peers: subscribe, send, deliver with n", async () => {
  await using c = new Cluster();
  const [a, b, d] = await c.star(3);
  const news = new Channel("news", { scheduler: a });
  news.register();
  const readers = [b, d].map((s) =>
    s.spawn(async (task) => {
      const ch = await task.scheduler.locateChannel("news", { timeout: 5000 });
      assert.ok(ch instanceof RemoteChannel);
      await ch.subscribe(task);
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await task.receive());
      return got;
    })
  );
  assert.equal(await news.deliver("one", { n: 2, timeout: 5000 }), 2);
  news.send("two");
  const fromB = (await b.locateChannel("news", { timeout: 5000 })) as unknown as RemoteChannel;
  assert.equal(fromB.send("three"), true);
  for (const r of readers) assert.deepEqual(await r.finish(), ["one", "two", "three"]);
});

Deno.test("a cycle of channels across peers is cut after 16 hops", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const ca = new Channel("ring-a", { scheduler: a });
  ca.register();
  const cb = new Channel("ring-b", { scheduler: b });
  cb.register();
  const remoteB = (await a.locateChannel("ring-b", { timeout: 5000 })) as unknown as RemoteChannel;
  const remoteA = (await b.locateChannel("ring-a", { timeout: 5000 })) as unknown as RemoteChannel;
  await remoteB.subscribe(ca);
  await remoteA.subscribe(cb);
  const counter = a.spawn(async (task) => {
    await ca.subscribe(task);
    let n = 0;
    const timedOut = {};
    for (;;) {
      const m = await task.receive({ timeout: n < 9 ? 10_000 : 300, alarmValue: timedOut });
      if (m === timedOut) return n;
      n++;
    }
  });
  await a.spawn((t) => t.sleep(0)).finish();
  ca.send("loop");
  // Seen on ring-a at hops 0, 2, …, 16; the 17th hop is dropped.
  assert.equal(await counter.finish(), 9);
});

Deno.test("a service runs on its peer and hands back a RemoteTask", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  b.registerService("square", async (task: Task, n: number) => {
    await task.sleep(1);
    return n * n;
  });
  const { Service } = await import("../../mod.ts");
  const svc = await Service.locate("square", { scheduler: a, timeout: 5000 });
  assert.ok(svc);
  assert.deepEqual(svc.location, b.location);
  const job = await svc.run(7);
  assert.ok(job instanceof RemoteTask);
  assert.equal(await job.finish(), 49);
  assert.equal(await Service.locate("nothing", { scheduler: a }), undefined);
});

Deno.test("peerStatus: one message per current peer, then online/offline", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const watcher = a.spawn(async (task) => {
    a.peerStatus(task);
    const first = await receiveMatching(task, isPeerStatus);
    const next = await receiveMatching(task, isPeerStatus);
    return [first.peer.location.hostname, first.status, next.status];
  });
  await a.spawn((t) => t.sleep(0)).finish();
  assert.equal(await a.closePeer(b.location!), true);
  assert.deepEqual(await watcher.finish(), [b.location!.hostname, "online", "offline"]);
});

Deno.test("20 peers grown from one seed all find each other", async () => {
  await using c = new Cluster(7);
  const peers = await c.star(20);
  for (const p of peers) {
    const w = p.spawn(async (task) => {
      p.peerStatus(task);
      while (p.peers().length < 19) await receiveMatching(task, isPeerStatus);
    });
    await w.finish();
    assert.equal(p.peers().length, 19);
  }
});

Deno.test("send refuses a value the codec cannot carry before queuing anything", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const got: unknown[] = [];
  const t = b.spawn(async (task) => {
    task.register("picky");
    got.push(await task.receive());
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("picky", { timeout: 5000 })) as unknown as RemoteTask;
  assert.throws(() => ref.send({ f: () => 1 }), TypeError);
  ref.send("fine");
  await t.finish();
  assert.deepEqual(got, ["fine"]);
});
