/**
 * Hostile peers at the API layer: a peer that knows the secret but sends
 * operations a correct peer never would. Each must fail only that link or
 * be ignored; the scheduler goes on serving everyone else.
 */
import assert from "node:assert/strict";
import {
  Channel,
  MonitorStatus,
  type RemoteTask,
  Scheduler,
  Service,
  type Task,
  TaskTerminated,
} from "../../mod.ts";
import * as op from "../../src/net/_ops.ts";
import { networkOf } from "../../src/net/scheduler.ts";
import { MAX_SERVING } from "../../src/net/_network.ts";
import { Cluster } from "./_cluster.ts";
import { fakeStatus, hostile, Ref } from "./_hostile.ts";
import type { Transport, TransportConn } from "../../src/net/transport.ts";

async function victimSetup() {
  const c = new Cluster();
  const a = await c.add({ host: "a" });
  const victim = a.spawn(async (task) => {
    task.register("victim");
    return await task.receive({ timeout: 10_000 });
  });
  await a.spawn(() => {}).finish();
  const evil = await hostile(c.net.transport("evil"), a.location!);
  evil.send([op.LOCATE, 1, op.KIND_TASK, "victim"]);
  const [, , ref] = await evil.next((m) => m[0] === op.REPLY && m[1] === 1);
  assert.ok(ref instanceof Ref);
  return { c, a, victim, evil, ref };
}

Deno.test("hostile: STATUS for a task the peer never watched reaches nobody, marks nothing ended", async () => {
  const { c, victim, evil, ref } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  const [a] = c.peers;
  const b = await c.add({ host: "b" });
  b.spawn(async (task) => {
    task.setDaemon();
    task.register("bystander");
    await task.sleep();
  });
  await a.peer({ hostname: "b", port: 9705 });
  const bystander = (await a.locate("bystander", { timeout: 5000 })) as unknown as RemoteTask;
  const record = {
    peer: bystander.peer,
    incarnation: bystander.incarnation,
    id: bystander.id,
    name: "bystander",
    location: bystander.location,
  };
  const { id, incarnation } = ref.record;
  for (let i = 0; i < 100; i++) {
    evil.send([op.STATUS, id, incarnation, fakeStatus(ref)]);
    // Naming another peer's task: that peer's task did not end.
    evil.send([op.STATUS, id, incarnation, fakeStatus(new Ref(record))]);
  }
  evil.send([op.SEND, id, incarnation, "sentinel"]);
  assert.equal(await victim.finish(), "sentinel");
  assert.equal(bystander.send("still there"), true);
  assert.ok(evil.online);
});

Deno.test("hostile: replies to requests never sent and FILE_DATA without FILE_OPEN are ignored or refused", async () => {
  const { c, victim, evil, ref } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  for (let req = 0; req < 50; req++) {
    evil.send([op.REPLY, req, "unasked"]);
    evil.send([op.FAIL, req, new Error("unasked")]);
  }
  evil.send([op.FILE_DATA, 7, 12345, new Uint8Array(10)]);
  evil.send([op.FILE_END, 8, 12345]);
  const failed = await evil.next((m) => m[0] === op.FAIL && m[1] === 7);
  assert.ok(failed[2] instanceof Error);
  await evil.next((m) => m[0] === op.FAIL && m[1] === 8);
  evil.send([op.SEND, ref.record.id, ref.record.incarnation, "fine"]);
  assert.equal(await victim.finish(), "fine");
  assert.ok(evil.online);
});

Deno.test("hostile: a malformed operation fails that link only", async () => {
  const { c, a, victim, evil, ref } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  const good = await hostile(c.net.transport("good"), a.location!);
  await using _g = good;
  evil.send([op.SEND, "not an id", 1, 2]);
  await evil.closed();
  good.send([op.SEND, ref.record.id, ref.record.incarnation, "from a good peer"]);
  assert.equal(await victim.finish(), "from a good peer");
  assert.ok(good.online);
});

Deno.test("hostile: MonitorStatus results and STATUS without a watcher do not throw", async () => {
  const { c, victim, evil, ref } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  const { id, incarnation } = ref.record;
  evil.send([op.STATUS, 999, incarnation, new MonitorStatus(ref as never, "finished", 1)]);
  evil.send([op.STATUS, id, incarnation, { type: "unreachable", id: 1, incarnation: 1 }]);
  evil.send([op.STATUS, id, incarnation, "junk"]);
  evil.send([op.SEND, id, incarnation, "after"]);
  assert.equal(await victim.finish(), "after");
});

Deno.test("hostile: a subscription whose peer leaves at once is dropped with it", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  const ch = new Channel("news", { scheduler: a });
  ch.register();
  const evil = await hostile(c.net.transport("evil"), a.location!);
  const me = new Ref({
    peer: evil.id,
    incarnation: 1,
    id: 1,
    name: "me",
    location: evil.hub.location,
  });
  // Subscribed once properly, then again in the same breath as goodbye.
  evil.send([op.CH_SUB, 1, "news", me]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 1);
  evil.send([op.CH_UNSUB, 2, "news", me]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 2);
  for (let i = 0; i < 100; i++) evil.send([op.CH_SUB, 3 + i, "news", me]);
  await evil.hub.close();
  // Once a has seen the goodbye, the channel has no subscriber left.
  await a.spawn(async (task) => {
    while (a.peers().length > 0) await task.sleep(5);
  }).finish();
  assert.equal(ch.send("anyone?"), 0);
});

/**
 * Peer `a` whose writes can be made to hang (`gate`), with a small send
 * queue, and a hostile peer `evil` linked to it.
 */
async function stalledPeer(c: Cluster) {
  const gate = stalling(c.net.transport("a"));
  const a = new Scheduler();
  c.peers.push(a);
  await a.listen({
    port: 9705,
    secret: "s3cret",
    discover: false,
    transport: gate.transport,
    peerTimeout: 10_000,
    maxQueuedBytes: 64 * 1024,
  });
  const evil = await hostile(c.net.transport("evil"), a.location!, { peerTimeout: 10_000 });
  return { gate, a, evil };
}

/**
 * A task on `a` whose link to `evil` is full when it runs `act`: evil
 * locates it, sends it a reference to a task of evil's and waits for a
 * delivered "fill"; the task fills its link back to evil until `send`
 * throws, then runs `act`, while `gate` keeps the queue from draining.
 * Resolves what `act` returned; `gate` is stalled on return.
 */
async function actOnFullLink(
  setup: Awaited<ReturnType<typeof stalledPeer>>,
  act: (task: Task, back: RemoteTask) => string | Promise<string>,
): Promise<string> {
  const { gate, a, evil } = setup;
  const victim = a.spawn(async (task) => {
    task.register("victim");
    const back = (await task.receive<RemoteTask>({ timeout: 10_000 }))!;
    await task.receive({ timeout: 10_000 }); // "fill"
    for (let size = 32 * 1024; size >= 1; size >>= 1) {
      try {
        for (let i = 0; i < 100_000; i++) back.send(new Uint8Array(size));
      } catch { /* full at this size */ }
    }
    return await act(task, back);
  });
  await a.spawn(() => {}).finish();
  evil.send([op.LOCATE, 1, op.KIND_TASK, "victim"]);
  const [, , ref] = await evil.next((m) => m[0] === op.REPLY && m[1] === 1) as [0, 0, Ref];
  const { id, incarnation } = ref.record;
  const mine = new Ref({
    peer: evil.id,
    incarnation: 1,
    id: 9,
    name: "mine",
    location: evil.hub.location,
  });
  evil.send([op.SEND, id, incarnation, mine]);
  evil.send([op.DELIVER, 2, id, incarnation, "fill"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 2);
  gate.stall();
  return await victim.finish();
}

/** A transport whose connections' writes hang while `stalled` (a peer that stopped reading). */
function stalling(inner: Transport) {
  const gate = { stalled: false, release: [] as (() => void)[] };
  const wrap = (c: TransportConn): TransportConn => ({
    get localAddr() {
      return c.localAddr;
    },
    get remoteAddr() {
      return c.remoteAddr;
    },
    read: (p) => c.read(p),
    write: async (p) => {
      while (gate.stalled) await new Promise<void>((r) => gate.release.push(r));
      return await c.write(p);
    },
    close: () => c.close(),
  });
  const transport: Transport = {
    listen: (spec) =>
      inner.listen(spec).then((l) => ({
        addr: l.addr,
        close: () => l.close(),
        accept: () => l.accept().then(wrap),
        async *[Symbol.asyncIterator]() {
          for await (const c of l) yield wrap(c);
        },
      })),
    dial: (spec) => inner.dial(spec).then(wrap),
  };
  return {
    transport,
    stall: () => gate.stalled = true,
    resume: () => {
      gate.stalled = false;
      for (const r of gate.release.splice(0)) r();
    },
  };
}

Deno.test("hostile: a peer that stops reading while it monitors a task cannot crash the process", async () => {
  await using c = new Cluster();
  const { gate, a, evil } = await stalledPeer(c);
  await using _e = evil;
  const victim = a.spawn(async (task) => {
    task.register("victim");
    const back = await task.receive<RemoteTask>({ timeout: 10_000 });
    await task.receive({ timeout: 10_000 }); // "fill"
    // Writes to that peer hang now: fill the queue, halving sizes down to
    // one byte, so that not even a status fits.
    let refused = "";
    for (let size = 32 * 1024; size >= 1; size >>= 1) {
      try {
        for (let i = 0; i < 100_000; i++) back!.send(new Uint8Array(size));
      } catch (e) {
        refused = (e as Error).name;
      }
    }
    return refused;
  });
  await a.spawn(() => {}).finish();
  evil.send([op.LOCATE, 1, op.KIND_TASK, "victim"]);
  const [, , ref] = await evil.next((m) => m[0] === op.REPLY && m[1] === 1) as [0, 0, Ref];
  const { id, incarnation } = ref.record;
  const mine = new Ref({
    peer: evil.id,
    incarnation: 1,
    id: 9,
    name: "mine",
    location: evil.hub.location,
  });
  evil.send([op.MONITOR, id, incarnation, mine]);
  evil.send([op.SEND, id, incarnation, mine]);
  evil.send([op.DELIVER, 2, id, incarnation, "fill"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 2);
  gate.stall();
  // The victim ends with the queue full: its status for the monitor cannot
  // be queued, and that must not become an unhandled rejection.
  assert.equal(await victim.finish(), "MailboxFull");
  await a.spawn((task) => task.sleep(0)).finish();
  gate.resume();
});

Deno.test("hostile: PEERS floods toward a silent host dial a bounded number at once", async () => {
  await using c = new Cluster();
  const inner = c.net.transport("a");
  let inFlight = 0;
  let most = 0;
  const counting: Transport = {
    listen: (spec) => inner.listen(spec),
    dial: async (spec) => {
      most = Math.max(most, ++inFlight);
      try {
        return await inner.dial(spec);
      } finally {
        inFlight--;
      }
    },
  };
  const a = new Scheduler();
  c.peers.push(a);
  await a.listen({ port: 9705, secret: "s3cret", discover: false, transport: counting });
  await c.add({ host: "silent" });
  c.net.partition("a", "silent");
  const evil = await hostile(c.net.transport("evil"), a.location!);
  await using _e = evil;
  for (let m = 0; m < 5; m++) {
    evil.send([
      op.PEERS,
      Array.from({ length: 1024 }, (_, i) => [`x${m}-${i}`, "silent", 1 + m * 1024 + i]),
    ]);
  }
  evil.send([op.LOCATE, 1, op.KIND_TASK, "nobody"]);
  await evil.next((r) => r[0] === op.REPLY && r[1] === 1);
  assert.ok(most <= 64, `${most} dials at once`);
  assert.ok(evil.online);
});

Deno.test("hostile: a reply from the wrong peer never settles a request sent elsewhere", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a", peerTimeout: 5000 });
  const b = await c.add({ host: "b", peerTimeout: 5000 });
  await a.peer({ hostname: "b", port: 9705 });
  b.spawn(async (task) => {
    task.setDaemon();
    task.register("sink");
    for (;;) await task.receive();
  });
  await b.spawn(() => {}).finish();
  const ref = (await a.locate("sink", { timeout: 5000 })) as unknown as RemoteTask;
  const evil = await hostile(c.net.transport("evil"), a.location!);
  await using _e = evil;
  c.net.partition("a", "b");
  const delivering = a.spawn(() => ref.deliver("x", { timeout: 10_000 }));
  const finishing = a.spawn(() => ref.finish({ timeout: 10_000 }).catch((e) => e));
  await a.spawn((t) => t.sleep(0)).finish();
  for (let req = 0; req < 1000; req++) {
    evil.send([op.REPLY, req, 42]);
    evil.send([op.FAIL, req, new Error("forged")]);
  }
  evil.send([op.LOCATE, 1, op.KIND_TASK, "nobody"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 1);
  c.net.heal();
  assert.equal(await delivering.finish(), 1);
  finishing.terminate();
});

Deno.test("hostile: a LOCATE flood is answered; a PEERS list over 1,024 fails the link", async () => {
  const { c, evil, victim } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  victim.terminate();
  for (let i = 0; i < 10_000; i++) evil.send([op.LOCATE, 100 + i, op.KIND_TASK, "victim"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 100 + 9_999);
  assert.ok(evil.online);
  evil.send([op.PEERS, Array.from({ length: 1025 }, (_, i) => [`p${i}`, "h", 1 + i])]);
  await evil.closed();
});

Deno.test("hostile: answers of the wrong type never reach callers as if they were right", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  const evil = await hostile(c.net.transport("evil"), a.location!);
  await using _e = evil;
  // A fake task and service on the hostile peer, answering every request with junk.
  const fake = new Ref({
    peer: evil.id,
    incarnation: 1,
    id: 5,
    name: "fake",
    location: evil.hub.location,
  });
  let answering = true;
  const answer = async () => {
    while (answering) {
      const m = await evil.next((x) =>
        (typeof x[1] === "number" && x[0] !== op.REPLY) || (x[0] === op.REPLY && x[1] === 999)
      );
      if (m[0] === op.REPLY) return;
      if (m[0] === op.LOCATE) {
        evil.send([op.REPLY, m[1], m[2] === op.KIND_SERVICE ? m[3] : fake]);
      } else if (typeof m[1] === "number") {
        evil.send([op.REPLY, m[1], "junk"]);
      }
    }
  };
  const answering$ = answer();
  const ref = (await a.locate("fake", { timeout: 5000 })) as unknown as RemoteTask;
  assert.equal(ref.peer, evil.id);
  const delivered = await ref.deliver("x", { timeout: 5000 });
  assert.ok(delivered === 0 || delivered === 1, `deliver resolved ${delivered}`);
  const svc = await Service.locate("svc", { scheduler: a, timeout: 5000 });
  assert.ok(svc !== undefined);
  await assert.rejects(svc.run(), TypeError);
  answering = false;
  evil.send([op.LOCATE, 999, op.KIND_TASK, "stop"]);
  await answering$;
});

Deno.test("locate while a peer's send queue is full settles (no synchronous throw, no stuck search)", async () => {
  await using c = new Cluster();
  const setup = await stalledPeer(c);
  await using _e = setup.evil;
  const how = await actOnFullLink(setup, async (task) => {
    try {
      const p = task.scheduler.locate("nobody", { timeout: 50 });
      return `settled: ${await p.then((v) => String(v), (e) => (e as Error).name)}`;
    } catch (e) {
      return `threw: ${(e as Error).name}`;
    }
  });
  assert.match(how, /^settled: /);
  setup.gate.resume();
});

Deno.test("hostile: a CH_SUB flood of one subscriber is one subscription, dropped with its peer", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  const ch = new Channel("news", { scheduler: a });
  ch.register();
  const evil = await hostile(c.net.transport("evil"), a.location!);
  const me = new Ref({
    peer: evil.id,
    incarnation: 1,
    id: 1,
    name: "me",
    location: evil.hub.location,
  });
  for (let i = 0; i < 1000; i++) evil.send([op.CH_SUB, 1 + i, "news", me]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 1000);
  assert.equal(ch.subscribers().length, 1);
  evil.send([op.CH_UNSUB, 2000, "news", me]);
  assert.deepEqual(await evil.next((m) => m[1] === 2000), [op.REPLY, 2000, true]);
  assert.equal(ch.subscribers().length, 0);
  evil.send([op.CH_SUB, 2001, "news", me]);
  await evil.next((m) => m[1] === 2001);
  assert.equal(ch.subscribers().length, 1);
  await evil.hub.close();
  await a.spawn(async (task) => {
    while (ch.subscribers().length > 0) await task.sleep(5);
  }).finish();
});

Deno.test("hostile: a FINISH flood for a live task is refused past a cap, not piled up", async () => {
  const { c, evil, ref, victim } = await victimSetup();
  await using _c = c;
  await using _e = evil;
  const { id, incarnation } = ref.record;
  const n = MAX_SERVING + 50;
  for (let i = 0; i < n; i++) evil.send([op.FINISH, 10 + i, id, incarnation]);
  // The last ones are refused at once; the first wait for the task.
  const last = await evil.next((m) => m[1] === 10 + n - 1);
  assert.equal(last[0], op.FAIL);
  assert.ok(last[2] instanceof Error);
  evil.send([op.SEND, id, incarnation, "end"]);
  assert.equal(await victim.finish(), "end");
  const first = await evil.next((m) => m[1] === 10);
  assert.deepEqual(first, [op.REPLY, 10, "end"]);
});

/** What `s`'s network still holds; all zero once nothing is in flight. */
function held(s: Scheduler) {
  return networkOf(s)!.held;
}

const NOTHING = { pending: 0, searches: 0, peerPending: 0, monitors: 0, services: 0 };

/** `a` and a raw peer that answers nothing unless told; `a` knows it is online. */
async function silentPeer(c: Cluster, a: Scheduler) {
  const evil = await hostile(c.net.transport("evil"), a.location!);
  evil.send([op.LOCATE, 1, op.KIND_TASK, "anyone"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 1);
  return evil;
}

Deno.test("locate: a peer that never answers does not outlive the locate's timeout", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  await using evil = await silentPeer(c, a);
  assert.equal(await a.locate("nobody", { timeout: 50 }), undefined);
  assert.equal(await a.locateChannel("nothing", { timeout: 50 }), undefined);
  assert.equal(await Service.locate("none", { scheduler: a, timeout: 50 }), undefined);
  for (let i = 0; i < 3; i++) await evil.next((m) => m[0] === op.LOCATE);
  assert.deepEqual(held(a), NOTHING);
  assert.ok(evil.online);
});

Deno.test("locate: found elsewhere, a silent peer's LOCATE is dropped; without a timeout it ends when that peer is lost", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const target = b.spawn(async (task) => {
    task.register("target");
    await task.receive({ timeout: 10_000 });
  });
  await b.spawn(() => {}).finish();
  const evil = await silentPeer(c, a);
  // No timeout: b's answer ends it; evil's request must not stay behind.
  const found = await a.locate("target");
  assert.equal((found as RemoteTask | undefined)?.id, target.id);
  await evil.next((m) => m[0] === op.LOCATE && m[3] === "target");
  assert.deepEqual(held(a), NOTHING);
  // No timeout, b says no, evil says nothing: it ends once evil is lost.
  const search = a.locate("nowhere");
  await evil.next((m) => m[0] === op.LOCATE && m[3] === "nowhere");
  await evil.hub.close();
  assert.equal(await search, undefined);
  assert.deepEqual(held(a), NOTHING);
  found!.send("done");
  await target.finish();
});

Deno.test("locate: a task terminated while it searches leaves nothing pending", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a" });
  await using evil = await silentPeer(c, a);
  const seeker = a.spawn((task) => task.scheduler.locate("nobody"));
  const ask = await evil.next((m) => m[0] === op.LOCATE && m[3] === "nobody");
  seeker.terminate();
  await assert.rejects(seeker.finish(), TaskTerminated);
  assert.deepEqual(held(a), NOTHING);
  // Its late answer is nobody's, and harmless.
  evil.send([op.REPLY, ask[1], null]);
  evil.send([op.LOCATE, 2, op.KIND_TASK, "anyone"]);
  await evil.next((m) => m[0] === op.REPLY && m[1] === 2);
  assert.deepEqual(held(a), NOTHING);
  assert.ok(evil.online);
});

Deno.test("monitor: a MONITOR that finds the link's queue full throws MailboxFull and leaves no entry", async () => {
  await using c = new Cluster();
  const setup = await stalledPeer(c);
  await using _e = setup.evil;
  const outcome = await actOnFullLink(setup, (task, back) => {
    try {
      task.monitor(back);
      return "monitored";
    } catch (e) {
      return (e as Error).name;
    }
  });
  assert.equal(outcome, "MailboxFull");
  assert.equal(held(setup.a).monitors, 0);
  setup.gate.resume();
});

Deno.test("services: past maxServiceTasks a peer's run is refused with RangeError; the link stays", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a", maxServiceTasks: 2 });
  const b = await c.add({ host: "b" });
  await b.peer({ hostname: "a", port: 9705 });
  a.registerService("hold", async (task: Task) => await task.receive({ timeout: 10_000 }));
  const svc = (await Service.locate("hold", { scheduler: b, timeout: 10_000 }))!;
  const one = await svc.run() as RemoteTask;
  const two = await svc.run() as RemoteTask;
  await assert.rejects(
    svc.run(),
    (e) => e instanceof RangeError && /maxServiceTasks/.test(e.message),
  );
  assert.equal(held(a).services, 2);
  assert.equal(b.peers().length, 1);
  // One ends: there is room for one more.
  one.send("go");
  assert.equal(await one.finish({ timeout: 10_000 }), "go");
  const three = await svc.run() as RemoteTask;
  await assert.rejects(svc.run(), RangeError);
  two.send(2);
  three.send(3);
  assert.equal(await two.finish({ timeout: 10_000 }), 2);
  assert.equal(await three.finish({ timeout: 10_000 }), 3);
  assert.equal(held(a).services, 0);
  assert.throws(() => new Scheduler().listen({ maxServiceTasks: 0 }), RangeError);
});

Deno.test("services: a peer flooding SVC_RUN gets maxServiceTasks tasks, the rest refused", async () => {
  await using c = new Cluster();
  const a = await c.add({ host: "a", maxServiceTasks: 10 });
  let started = 0;
  a.registerService("wait", async (task: Task) => {
    started++;
    await task.receive({ timeout: 10_000 });
  });
  const evil = await hostile(c.net.transport("evil"), a.location!);
  for (let r = 1; r <= 100; r++) evil.send([op.SVC_RUN, r, "wait", []]);
  let refused = 0;
  const refs: Ref[] = [];
  for (let r = 1; r <= 100; r++) {
    const m = await evil.next((x) => (x[0] === op.REPLY || x[0] === op.FAIL) && x[1] === r);
    if (m[0] === op.FAIL) refused++;
    else refs.push(m[2] as Ref);
  }
  assert.equal(refused, 90);
  assert.ok(evil.online);
  await a.spawn(() => {}).finish();
  assert.equal(started, 10);
  for (const ref of refs) evil.send([op.SEND, ref.record.id, ref.record.incarnation, "end"]);
  await evil.hub.close();
});
