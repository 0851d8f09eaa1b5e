/**
 * Resend across reconnections: connections reset under a stream (the
 * simulated network's `drop`, or a real TCP socket closed without GOODBYE)
 * and redialled within `peerTimeout` lose nothing and duplicate nothing.
 */
import assert from "node:assert/strict";
import { type RemoteTask, Scheduler } from "../../mod.ts";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import { tcpTransport, type Transport, type TransportConn } from "../../src/net/transport.ts";
import { FRAME_ACK, FRAME_RESUME } from "../../src/net/_frames.ts";
import { enc, LIMIT, rawPeer, recorder } from "./_hub_util.ts";

/** Fails (never resolves late) if `p` has not settled within `ms`: a lost request would hang. */
function within<T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  p.catch(() => {}); // if the limit wins, a late rejection is not an uncaught one
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const LARGE = 150_000; // three fragments

/** Message `i` of a stream: mostly small, every 97th over 64 KiB (fragmented). */
function message(prefix: string, i: number): string {
  const head = `${prefix}${i}`;
  return i % 97 === 50 ? head + ":" + "x".repeat(LARGE) : head;
}

Deno.test("link (sim): under drop(rate), thousands of messages each way arrive exactly once and in order", async () => {
  const net = new SimulatedNetwork({ seed: 4242 });
  const options = {
    heartbeatInterval: 50,
    peerTimeout: 30_000,
    maxMessageSize: 1 << 20,
    maxQueuedBytes: 4 << 20,
  };
  const a = await recorder(net.transport(), options);
  const b = await recorder(net.transport(), options);
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    const back = b.hub.link(a.id)!;
    const N = 4000;
    const ROUND = 100;
    net.drop(0.03);
    const count = (r: typeof a, from: string) => r.received.get(from)?.length ?? 0;
    for (let i = 0; i < N; i += ROUND) {
      for (let j = i; j < i + ROUND; j++) {
        assert.ok(link.send(enc.encode(message("a", j))));
        assert.ok(back.send(enc.encode(message("b", j))));
      }
      // Keep at most two rounds in flight, so that resets land mid-stream.
      const seen = i - ROUND;
      await b.until(`a's ${seen}`, () => count(b, a.id) >= seen);
      await a.until(`b's ${seen}`, () => count(a, b.id) >= seen);
    }
    await b.until("all of a's", () => count(b, a.id) >= N);
    await a.until("all of b's", () => count(a, b.id) >= N);
    const resets = net.stats().resets;
    net.drop(0);
    // One more message each way, after the last: nothing trails behind.
    link.send(enc.encode("end"));
    back.send(enc.encode("end"));
    await b.until("a's end", () => b.received.get(a.id)!.at(-1) === "end");
    await a.until("b's end", () => a.received.get(b.id)!.at(-1) === "end");
    assert.ok(resets >= 3, `only ${resets} resets`);
    const want = (p: string) => [...Array.from({ length: N }, (_, i) => message(p, i)), "end"];
    const gotA = b.received.get(a.id)!;
    const gotB = a.received.get(b.id)!;
    assert.equal(gotA.length, N + 1, "a's: none lost, none duplicated");
    assert.ok(gotA.every((m, i) => m === want("a")[i]), "a's in order");
    assert.equal(gotB.length, N + 1, "b's: none lost, none duplicated");
    assert.ok(gotB.every((m, i) => m === want("b")[i]), "b's in order");
    assert.deepEqual(a.events, [`online ${b.id}`], "no offline on a");
    assert.deepEqual(b.events, [`online ${a.id}`], "no offline on b");
  } finally {
    net.drop(0);
    await a.hub.close();
    await b.hub.close();
  }
});

/**
 * On `from`: a sink task "sink" that records numbers and strings, and
 * "waiter" that finishes with "done" once told "go".
 */
function serve(from: Scheduler) {
  const numbers: number[] = [];
  const strings: string[] = [];
  let sawLast!: () => void;
  const last = new Promise<void>((resolve) => sawLast = resolve);
  const waiting: { k: number; resolve: () => void }[] = [];
  /** Resolves once the sink has `k` numbers. */
  const reached = (k: number) =>
    numbers.length >= k
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiting.push({ k, resolve }));
  from.spawn(async (task) => {
    task.setDaemon();
    task.register("sink");
    for (;;) {
      const m = await task.receive();
      if (typeof m === "number") {
        numbers.push(m);
        while (waiting.length > 0 && waiting[0].k <= numbers.length) waiting.shift()!.resolve();
      } else strings.push(String(m));
      if (m === "last") sawLast();
    }
  });
  from.spawn(async (task) => {
    task.setDaemon(); // a failed test must not hold up finish()
    task.register("waiter");
    for (;;) if (await task.receive() === "go") return "done";
  });
  return { numbers, strings, last, reached };
}

/** Streams `n` numbers from a task on `a` to `sink`, deliver()s and finish() meanwhile, all without timeouts. */
async function exercise(
  a: Scheduler,
  b: Scheduler,
  n: number,
  during: (sent: number) => void,
): Promise<void> {
  const { numbers, strings, last, reached } = serve(b);
  await b.spawn(() => {}).finish();
  const sink = (await a.locate("sink", { timeout: LIMIT })) as unknown as RemoteTask;
  const waiter = (await a.locate("waiter", { timeout: LIMIT })) as unknown as RemoteTask;
  const finished = a.spawn((task) => {
    task.setDaemon();
    return waiter.finish();
  }).finish();
  finished.catch(() => {}); // awaited below; a failed test must not leave it uncaught
  const DELIVERS = 40;
  const delivered = Promise.all(
    Array.from({ length: DELIVERS }, (_, i) =>
      a.spawn(async (task) => {
        task.setDaemon();
        await task.sleep(0);
        return await sink.deliver(`d${i}`);
      }).finish()),
  );
  delivered.catch(() => {});
  const sender = a.spawn(async (task) => {
    task.setDaemon();
    for (let i = 0; i < n; i++) {
      assert.ok(sink.send(i));
      if (i % 100 === 99) {
        during(i + 1);
        // At most two rounds in flight, so that resets land mid-stream.
        await reached(i + 1 - 200);
      }
    }
    // A deliver behind the stream: once it is in, so is everything before it.
    return await sink.deliver("last");
  });
  assert.equal(await within(sender.finish(), "the stream's last deliver"), 1);
  await within(last, "the sink's last message");
  assert.deepEqual(await within(delivered, "the deliver()s"), Array(DELIVERS).fill(1));
  waiter.send("go");
  assert.equal(await within(finished, "finish()"), "done");
  assert.equal(numbers.length, n, "none lost, none duplicated");
  assert.ok(numbers.every((m, i) => m === i), "in order");
  const want = [...Array.from({ length: DELIVERS }, (_, i) => `d${i}`), "last"].sort();
  assert.deepEqual([...strings].sort(), want, "every deliver()ed message exactly once");
}

Deno.test("link (sim): under drop(rate), a task's stream, deliver()s and finish() without timeouts all settle once", async () => {
  const net = new SimulatedNetwork({ seed: 777 });
  const peers: Scheduler[] = [];
  try {
    for (const host of ["a", "b"]) {
      const s = new Scheduler();
      peers.push(s);
      await s.listen({
        secret: "s3cret",
        port: 9705,
        discover: false,
        heartbeatInterval: 50,
        peerTimeout: 30_000,
        transport: net.transport(host),
      });
    }
    const [a, b] = peers;
    await a.peer({ hostname: "b", port: 9705, timeout: LIMIT });
    let watching = false;
    await exercise(a, b, 6000, () => {
      if (!watching) net.drop(0.1);
      watching = true;
    });
    assert.ok(net.stats().resets >= 3, `only ${net.stats().resets} resets`);
    net.drop(0);
    assert.equal(a.peers().length, 1, "the peer never went offline");
  } finally {
    net.drop(0);
    await within(Promise.allSettled(peers.map((s) => s.finish())), "finish()", LIMIT);
  }
});

/** TCP, with the newest connection this side made or accepted closed on demand (no GOODBYE). */
function resettable(inner: Transport) {
  const conns: TransportConn[] = [];
  let resets = 0;
  const track = (c: TransportConn) => {
    conns.push(c);
    return c;
  };
  const transport: Transport = {
    listen: (spec) =>
      inner.listen(spec).then((l) => ({
        addr: l.addr,
        close: () => l.close(),
        accept: () => l.accept().then(track),
        async *[Symbol.asyncIterator]() {
          for await (const c of l) yield track(c);
        },
      })),
    dial: (spec) => inner.dial(spec).then(track),
  };
  return {
    transport,
    get resets() {
      return resets;
    },
    /** Closes the socket under the link: both ends see it end mid-stream. */
    reset() {
      const c = conns.at(-1);
      if (c === undefined) return;
      resets++;
      c.close();
    },
  };
}

Deno.test("link (tcp): sockets closed under a stream (no GOODBYE): stream, deliver()s and finish() lose nothing", async () => {
  const gate = resettable(tcpTransport);
  const peers: Scheduler[] = [];
  try {
    for (const transport of [gate.transport, tcpTransport]) {
      const s = new Scheduler();
      peers.push(s);
      await s.listen({
        hostname: "127.0.0.1",
        port: 0,
        secret: "s3cret",
        discover: false,
        heartbeatInterval: 100,
        peerTimeout: 30_000,
        transport,
      });
    }
    const [a, b] = peers;
    await a.peer({ hostname: "127.0.0.1", port: b.location!.port, timeout: LIMIT });
    await exercise(a, b, 10_000, (sent) => {
      if (sent % 2000 === 0) gate.reset();
    });
    assert.ok(gate.resets >= 4, `only ${gate.resets} resets`);
    assert.equal(a.peers().length, 1, "the peer never went offline");
  } finally {
    await within(Promise.allSettled(peers.map((s) => s.finish())), "finish()", LIMIT);
  }
});

function resumeBody(session: number, known: number, delivered: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, session);
  v.setUint32(4, known);
  v.setBigUint64(8, BigInt(delivered));
  return b;
}

function ackBody(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(seq));
  return b;
}

/** Reads until the hub ends the connection; fails if it keeps it past LIMIT. */
async function closedByHub(raw: Awaited<ReturnType<typeof rawPeer>>): Promise<void> {
  await within(
    (async () => {
      while (await raw.read() !== null) { /* drain */ }
    })(),
    "the hub closing the connection",
    LIMIT,
  );
}

Deno.test("link (tcp): an ACK for a seq never sent, an ACK going back, a RESUME out of range and a message before RESUME each end that connection only", async () => {
  const b = await recorder(tcpTransport, { peerTimeout: 60_000 });
  const good = await recorder(tcpTransport);
  const raws: TransportConn[] = [];
  try {
    const cases: [string, (raw: Awaited<ReturnType<typeof rawPeer>>) => Promise<void>][] = [
      ["ack never sent", async (raw) => {
        await raw.write(FRAME_RESUME, resumeBody(7, 0, 0));
        await raw.write(FRAME_ACK, ackBody(5));
      }],
      ["message before RESUME", async (raw) => {
        await raw.write(0x01, new Uint8Array([0x90]));
      }],
      ["ack going back", async (raw) => {
        await raw.write(FRAME_RESUME, resumeBody(7, 0, 0));
        const link = b.hub.link("raw2")!;
        for (let i = 0; i < 3; i++) link.send(enc.encode(`m${i}`));
        // The hub's RESUME, then its three messages.
        for (let got = 0; got < 3;) if ((await raw.read())?.[0] === 0x01) got++;
        await raw.write(FRAME_ACK, ackBody(3));
        await raw.write(FRAME_ACK, ackBody(1));
      }],
    ];
    let n = 0;
    for (const [what, act] of cases) {
      const raw = await rawPeer(b.hub.location, `raw${n++}`);
      raws.push(raw.conn);
      await act(raw);
      await closedByHub(raw).catch((e) => assert.fail(`${what}: ${e}`));
    }
    // A RESUME out of range: the hub's session is learnt from its RESUME on a
    // first connection, then a second one claims a seq it never sent.
    const first = await rawPeer(b.hub.location, "raw9");
    raws.push(first.conn);
    const hello = await first.read();
    assert.equal(hello?.[0], FRAME_RESUME);
    const hubSession = new DataView(hello![1].buffer).getUint32(0);
    await first.write(FRAME_RESUME, resumeBody(9, 0, 0));
    first.conn.close();
    const second = await rawPeer(b.hub.location, "raw9");
    raws.push(second.conn);
    await second.write(FRAME_RESUME, resumeBody(9, hubSession, 1000));
    await closedByHub(second);
    // The hub serves everyone else as before.
    const link = await good.hub.connect(b.hub.location, { timeout: LIMIT });
    link.send(enc.encode("still here"));
    await b.until("served", () => b.received.get(good.id)?.[0] === "still here");
  } finally {
    for (const c of raws) c.close();
    await b.hub.close();
    await good.hub.close();
  }
});

for (const seed of [1, 7]) {
  Deno.test(`link (sim): dials crossing from both sides under drop(rate) lose and duplicate nothing (seed ${seed})`, async () => {
    const net = new SimulatedNetwork({ seed });
    net.delay(seed % 3);
    const options = {
      heartbeatInterval: 50,
      peerTimeout: 30_000,
      maxMessageSize: 1 << 20,
      maxQueuedBytes: 4 << 20,
    };
    const a = await recorder(net.transport(), options);
    const b = await recorder(net.transport(), options);
    try {
      const [ab, ba] = await Promise.all([
        a.hub.connect(b.hub.location, { timeout: LIMIT }),
        b.hub.connect(a.hub.location, { timeout: LIMIT }),
      ]);
      const N = 3000;
      net.drop(0.05);
      const count = (r: typeof a, from: string) => r.received.get(from)?.length ?? 0;
      for (let i = 0; i < N; i += 100) {
        for (let j = i; j < i + 100; j++) {
          ab.send(enc.encode(`a${j}`));
          ba.send(enc.encode(`b${j}`));
        }
        await b.until(`a's ${i - 100}`, () => count(b, a.id) >= i - 100);
        await a.until(`b's ${i - 100}`, () => count(a, b.id) >= i - 100);
      }
      await b.until("all of a's", () => count(b, a.id) >= N);
      await a.until("all of b's", () => count(a, b.id) >= N);
      net.drop(0);
      assert.deepEqual(b.received.get(a.id), Array.from({ length: N }, (_, i) => `a${i}`));
      assert.deepEqual(a.received.get(b.id), Array.from({ length: N }, (_, i) => `b${i}`));
      assert.deepEqual(a.events, [`online ${b.id}`]);
      assert.deepEqual(b.events, [`online ${a.id}`]);
    } finally {
      net.drop(0);
      await a.hub.close();
      await b.hub.close();
    }
  });
}

Deno.test("link (sim): a peer that declared the link offline and comes back is a new session: the side that kept the old one reports offline then online", async () => {
  const net = new SimulatedNetwork({ seed: 31 });
  const a = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 300 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 60_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    const back = b.hub.link(a.id)!;
    link.send(enc.encode("a0"));
    await b.until("a0", () => b.received.get(a.id)?.length === 1);
    net.partition(a.hub.location, b.hub.location);
    await a.until("a offline", () => !link.online);
    back.send(enc.encode("held by b for the old session"));
    assert.ok(back.online, "b still waits (a long peerTimeout)");
    net.heal();
    const again = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b restarted the session", () => b.events.length === 3);
    assert.deepEqual(b.events.slice(0, 1), [`online ${a.id}`]);
    assert.match(b.events[1], /started a new session/);
    assert.equal(b.events[2], `online ${a.id}`);
    again.send(enc.encode("a1"));
    back.send(enc.encode("b1"));
    await b.until("a1", () => b.received.get(a.id)!.at(-1) === "a1");
    await a.until("b1", () => a.received.get(b.id)?.at(-1) === "b1");
    assert.deepEqual(b.received.get(a.id), ["a0", "a1"]);
    assert.deepEqual(a.received.get(b.id), ["b1"], "what b held for the old session is dropped");
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});
