/**
 * Link-level adversarial cases, driven without a hub: two `PeerLink`s whose
 * connections are made by hand on a `SimulatedNetwork` (already
 * "authenticated"), so that each case sets up exactly the connections it
 * needs, in the order it needs, and decides who learns of which.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import { tcpTransport } from "../../src/net/transport.ts";
import { FRAME_ACK, FRAME_MSG, FRAME_RESUME } from "../../src/net/_frames.ts";
import { MailboxFull } from "../../src/core/errors.ts";
import type { TransportConn, TransportListener } from "../../src/net/transport.ts";
import { Connection } from "../../src/net/_connection.ts";
import { type LinkContext, PeerLink } from "../../src/net/_link.ts";
import type { PeerIdentity } from "../../src/net/_handshake.ts";
import type { DialTarget } from "../../src/net/_hub.ts";
import {
  conditions,
  enc,
  FaultyTransport,
  LIMIT,
  rawPeer,
  type Recorder,
  recorder,
} from "./_hub_util.ts";

const dec = new TextDecoder();
const MAX = 1 << 20;

/** One side: its link to the other, what it heard, and waits on that. */
interface Side {
  id: string;
  link: PeerLink;
  received: string[];
  events: string[];
  listener: TransportListener;
  until(what: string, pred: () => boolean, limit?: number): Promise<void>;
}

interface Pair {
  net: SimulatedNetwork;
  a: Side;
  b: Side;
  /** Connections `from` dialled to the other side, both halves, not attached. */
  connect(from: Side): Promise<{ dialled: TransportConn; accepted: TransportConn }>;
  /** Dials from `from` and attaches both halves (what a hub's dial does). */
  dial(from: Side): Promise<void>;
  /** Redials made by either side so far. */
  redials: number;
  close(): Promise<void>;
}

function identity(id: string, port: number): PeerIdentity {
  return { id, name: id, incarnation: 1, location: { hostname: id, port } };
}

async function linkPair(
  options: { heartbeatInterval?: number; peerTimeout?: number; maxQueuedBytes?: number } = {},
  seed = 1,
): Promise<Pair> {
  const net = new SimulatedNetwork({ seed });
  const conns = new Set<TransportConn>();
  const sides: Side[] = [];
  const pending = new Set<Promise<unknown>>();
  const pair: Pair = {
    net,
    a: undefined!,
    b: undefined!,
    redials: 0,
    async connect(from) {
      const to = from === sides[0] ? sides[1] : sides[0];
      const [dialled, accepted] = await Promise.all([
        net.transport(from.id).dial({ hostname: to.id, port: to.listener.addr.port }),
        to.listener.accept(),
      ]);
      conns.add(dialled);
      conns.add(accepted);
      return { dialled, accepted };
    },
    async dial(from) {
      const to = from === sides[0] ? sides[1] : sides[0];
      const { dialled, accepted } = await pair.connect(from);
      const target: DialTarget = { hostname: to.id, port: to.listener.addr.port };
      from.link.attach(new Connection(dialled, identity(to.id, target.port), true, MAX), target);
      to.link.attach(
        new Connection(accepted, identity(from.id, from.listener.addr.port), false, MAX),
        null,
      );
    },
    async close() {
      await Promise.all(sides.map((s) => s.link.close()));
      while (pending.size > 0) await Promise.allSettled([...pending]);
      for (const c of conns) c.close();
      for (const s of sides) s.listener.close();
    },
  };
  for (const id of ["a", "b"]) {
    const listener = await net.transport(id).listen({ hostname: id, port: 0 });
    const received: string[] = [];
    const events: string[] = [];
    const { kick, until } = conditions(() => `; events: ${events.join(" | ")}`);
    const other = id === "a" ? "b" : "a";
    const side = { id, received, events, listener } as Side;
    const ctx: LinkContext = {
      selfId: id,
      heartbeatInterval: options.heartbeatInterval ?? 50,
      peerTimeout: options.peerTimeout ?? 60_000,
      maxQueuedBytes: options.maxQueuedBytes ?? 4 << 20,
      maxMessageSize: MAX,
      redial(_link, _to, _timeout) {
        pair.redials++;
        const p = pair.dial(side);
        pending.add(p);
        p.finally(() => pending.delete(p)).catch(() => {});
        return p;
      },
      online() {
        events.push("online");
        kick();
      },
      offline(_link, reason) {
        events.push(`offline ${reason}`);
        kick();
      },
      message(_link, body) {
        received.push(dec.decode(body));
        kick();
      },
    };
    side.link = new PeerLink(identity(other, 0), ctx);
    side.until = (what, pred, limit) => until(`${id}: ${what}`, pred, limit);
    sides.push(side);
  }
  [pair.a, pair.b] = sides;
  return pair;
}

Deno.test("link review: crossed dials where the winner reached only the acceptor (its dialler's handshake failed): the loser's dialler redials, nothing is lost", async () => {
  const p = await linkPair();
  const { a, b } = p;
  try {
    // b dials a (the loser of a cross: a's id is lower) and both take it.
    await p.dial(b);
    a.link.send(enc.encode("a0"));
    b.link.send(enc.encode("b0"));
    await b.until("a0", () => b.received.length === 1);
    await a.until("b0", () => a.received.length === 1);
    // a's own dial reaches b, which keeps it (a's dial wins) and closes its
    // own; but a's half failed its handshake, so a never saw it.
    const x = await p.connect(a);
    b.link.attach(
      new Connection(x.accepted, identity("a", a.listener.addr.port), false, MAX),
      null,
    );
    x.dialled.close();
    // Sent while no connection is left: someone must dial again.
    a.link.send(enc.encode("a1"));
    b.link.send(enc.encode("b1"));
    await b.until("a1", () => b.received.at(-1) === "a1");
    await a.until("b1", () => a.received.at(-1) === "b1");
    assert.deepEqual(b.received, ["a0", "a1"]);
    assert.deepEqual(a.received, ["b0", "b1"]);
    assert.deepEqual(a.events, ["online"]);
    assert.deepEqual(b.events, ["online"]);
  } finally {
    await p.close();
  }
});

Deno.test("link review: close() right after a message over 64 KiB: the GOODBYE waits behind its fragments and the messages after it", async () => {
  const p = await linkPair();
  const { a, b } = p;
  try {
    await p.dial(a);
    a.link.send(enc.encode("first"));
    await b.until("first", () => b.received.length === 1);
    a.link.send(enc.encode("big:" + "x".repeat(200_000)));
    a.link.send(enc.encode("after"));
    await a.link.close();
    await b.until("b offline", () => b.events.length === 2);
    assert.match(b.events[1], /said goodbye/);
    assert.deepEqual(b.received.map((m) => m.slice(0, 5)), ["first", "big:x", "after"]);
  } finally {
    await p.close();
  }
});

/** Resolves once a debug record of `["denocos", "net"]` matches `pred` (logging reset after `fn`). */
async function withLog<T>(
  fn: (seen: (pred: (r: LogRecord) => boolean) => Promise<void>) => Promise<T>,
): Promise<T> {
  const watchers = new Set<{ pred: (r: LogRecord) => boolean; resolve: () => void }>();
  await configure({
    reset: true,
    sinks: {
      watch: (r: LogRecord) => {
        for (const w of [...watchers]) if (w.pred(r)) watchers.delete(w), w.resolve();
      },
    },
    loggers: [
      { category: ["denocos", "net"], lowestLevel: "debug", sinks: ["watch"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    return await fn((pred) => new Promise((resolve) => watchers.add({ pred, resolve })));
  } finally {
    await reset();
  }
}

Deno.test("link review (hub): a link closed while its connection is being replaced stays closed; the peer hears GOODBYE instead of redialling into a new link", async () => {
  await withLog(async (seen) => {
    const net = new SimulatedNetwork({ seed: 21 });
    const faulty = new FaultyTransport(net.transport(), () => net.drop(1), () => net.drop(0));
    const a = await recorder(faulty, { heartbeatInterval: 50, peerTimeout: 60_000 });
    const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 60_000 });
    try {
      const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
      await b.until("b online", () => b.hub.link(a.id)?.online === true);
      const back = b.hub.link(a.id)!;
      back.send(enc.encode("b0"));
      await a.until("b0", () => a.received.get(b.id)?.length === 1);
      // b notices the reset (it waits for a to redial), then closes the link.
      const bLost = seen((r) =>
        String(r.properties.peer).startsWith(a.id) && String(r.rawMessage).includes("lost")
      );
      const fired = faulty.arm();
      link.send(enc.encode("lost with the connection, resent"));
      await fired;
      await bLost;
      back.send(enc.encode("b1, sent just before close"));
      await back.close();
      await a.until("a offline", () => a.events.length >= 2);
      assert.match(a.events[1], /said goodbye/, a.events.join(" | "));
      assert.deepEqual(b.events, [`online ${a.id}`, `offline ${a.id} closed`]);
      assert.deepEqual(b.received.get(a.id), ["lost with the connection, resent"]);
      assert.deepEqual(a.received.get(b.id), ["b0", "b1, sent just before close"]);
      assert.equal(b.hub.links().length, 0);
    } finally {
      await a.hub.close();
      await b.hub.close();
    }
  });
});

Deno.test("link review (hub): a redial still in flight when its link is closed does not bring the link back when it completes", async () => {
  await withLog(async (seen) => {
    const net = new SimulatedNetwork({ seed: 22 });
    const faulty = new FaultyTransport(net.transport(), () => net.drop(1), () => net.drop(0));
    const a = await recorder(faulty, { heartbeatInterval: 50, peerTimeout: 60_000 });
    const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 60_000 });
    try {
      const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
      await b.until("b online", () => b.hub.link(a.id)?.online === true);
      const redialing = seen((r) => String(r.rawMessage).startsWith("redialing"));
      const fired = faulty.arm();
      link.send(enc.encode("x"));
      await fired;
      // The redial hangs in the partition; close gives up on it after 2 s.
      net.partition(a.hub.location, b.hub.location);
      await redialing;
      await link.close();
      assert.deepEqual(a.events, [`online ${b.id}`, `offline ${b.id} closed`]);
      const failed = seen((r) => String(r.rawMessage).startsWith("redial of"));
      net.heal();
      await Promise.race([failed, a.until("a online again", () => a.events.length > 2)]);
      assert.deepEqual(a.events, [`online ${b.id}`, `offline ${b.id} closed`]);
      assert.equal(a.hub.links().length, 0);
    } finally {
      net.heal();
      await a.hub.close();
      await b.hub.close();
    }
  });
});

/** Connects, retrying while drops reset the dial or its handshake. */
async function connectRetrying(r: Recorder, to: { hostname: string; port: number }) {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await r.hub.connect(to, { timeout: 2000 });
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

Deno.test("link review (hub): crossed dials under drop and delay from the first byte, 50 seeds: exactly once and in order both ways, one online each", async () => {
  const N = 120;
  const text = (p: string, i: number) =>
    `${p}${i}` + (i % 41 === 7 ? ":" + "y".repeat(70_000) : "");
  for (let seed = 1; seed <= 50; seed++) {
    const net = new SimulatedNetwork({ seed });
    net.delay(seed % 4);
    const options = { heartbeatInterval: 30, peerTimeout: 20_000, maxQueuedBytes: 4 << 20 };
    const a = await recorder(net.transport(), options);
    const b = await recorder(net.transport(), options);
    try {
      net.drop(0.08);
      // Each connect may fail (a reset in its handshake) while the other's wins.
      await Promise.allSettled([
        connectRetrying(a, b.hub.location),
        connectRetrying(b, a.hub.location),
      ]);
      await a.until("a online", () => a.hub.link(b.id)?.online === true);
      await b.until("b online", () => b.hub.link(a.id)?.online === true);
      const ab = a.hub.link(b.id)!;
      const ba = b.hub.link(a.id)!;
      const count = (r: Recorder, from: string) => r.received.get(from)?.length ?? 0;
      for (let i = 0; i < N; i += 40) {
        for (let j = i; j < i + 40; j++) {
          assert.ok(ab.send(enc.encode(text("a", j))));
          assert.ok(ba.send(enc.encode(text("b", j))));
        }
        await b.until(`a's ${i}`, () => count(b, a.id) >= i);
        await a.until(`b's ${i}`, () => count(a, b.id) >= i);
      }
      await b.until("all of a's", () => count(b, a.id) >= N);
      await a.until("all of b's", () => count(a, b.id) >= N);
      net.drop(0);
      const want = (p: string) => Array.from({ length: N }, (_, i) => text(p, i));
      assert.ok(
        b.received.get(a.id)!.every((m, i) => m === want("a")[i]) && count(b, a.id) === N,
        `seed ${seed}: a's messages`,
      );
      assert.ok(
        a.received.get(b.id)!.every((m, i) => m === want("b")[i]) && count(a, b.id) === N,
        `seed ${seed}: b's messages`,
      );
      assert.deepEqual(a.events, [`online ${b.id}`], `seed ${seed}`);
      assert.deepEqual(b.events, [`online ${a.id}`], `seed ${seed}`);
    } finally {
      net.drop(0);
      await a.hub.close();
      await b.hub.close();
    }
  }
});

function u64(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(seq));
  return b;
}

function resume(session: number, known: number, delivered: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, session);
  v.setUint32(4, known);
  v.setBigUint64(8, BigInt(delivered));
  return b;
}

Deno.test("link review (tcp): a stream that stops at 63 messages is still acknowledged (with the heartbeat), the ACK names seq 63", async () => {
  const hub = await recorder(tcpTransport, { heartbeatInterval: 50, peerTimeout: 60_000 });
  const raw = await rawPeer(hub.hub.location, "raw63");
  try {
    assert.equal((await raw.read())?.[0], FRAME_RESUME);
    await raw.write(FRAME_RESUME, resume(5, 0, 0));
    for (let i = 0; i < 63; i++) await raw.write(FRAME_MSG, enc.encode(`m${i}`));
    await hub.until("63 delivered", () => hub.received.get("raw63")?.length === 63);
    let frame;
    while ((frame = await raw.read()) !== null && frame[0] !== FRAME_ACK) { /* heartbeats */ }
    assert.ok(frame !== null, "an ACK came");
    assert.equal(new DataView(frame[1].buffer).getBigUint64(0), 63n);
  } finally {
    raw.conn.close();
    await hub.hub.close();
  }
});

Deno.test("link review (tcp): a peer that reads but never acknowledges makes send throw MailboxFull at maxQueuedBytes; its ACK frees the queue and sends succeed again", async () => {
  const LIMIT_BYTES = 64 * 1024;
  const hub = await recorder(tcpTransport, {
    heartbeatInterval: 50,
    peerTimeout: 60_000,
    maxQueuedBytes: LIMIT_BYTES,
  });
  const raw = await rawPeer(hub.hub.location, "rawack");
  try {
    assert.equal((await raw.read())?.[0], FRAME_RESUME);
    await raw.write(FRAME_RESUME, resume(6, 0, 0));
    await hub.until("online", () => hub.hub.link("rawack")?.online === true);
    const link = hub.hub.link("rawack") as PeerLink;
    const body = new Uint8Array(1000).fill(7);
    let sent = 0;
    for (;;) {
      try {
        link.send(body);
        sent++;
      } catch (e) {
        assert.ok(e instanceof MailboxFull, String(e));
        break;
      }
    }
    assert.equal(sent, Math.floor(LIMIT_BYTES / 1005));
    assert.ok(link.queuedBytes <= LIMIT_BYTES);
    // Every message reached the peer: the bound is on what it has not acknowledged.
    for (let got = 0; got < sent;) if ((await raw.read())?.[0] === FRAME_MSG) got++;
    assert.throws(() => link.send(body), MailboxFull);
    await raw.write(FRAME_ACK, u64(sent - 10));
    // Frames are taken in order: once the message after the ACK is in, so is the ACK.
    await raw.write(FRAME_MSG, enc.encode("after the ack"));
    await hub.until("after the ack", () => hub.received.get("rawack")?.at(-1) === "after the ack");
    assert.equal(link.queuedBytes, 10 * 1005);
    for (let i = 0; i < sent - 10; i++) link.send(body);
    assert.throws(() => link.send(body), MailboxFull);
    assert.ok(link.online);
  } finally {
    raw.conn.close();
    await hub.hub.close();
  }
});

Deno.test("link review (tcp): RESUME at seq 2^64-1, a second RESUME and session 0 each end that connection only; an ACK flood does not", async () => {
  const hub = await recorder(tcpTransport, { heartbeatInterval: 50, peerTimeout: 60_000 });
  const raws: { conn: { close(): void } }[] = [];
  const ends = async (raw: Awaited<ReturnType<typeof rawPeer>>) => {
    while (await raw.read() !== null) { /* drain until the hub closes it */ }
  };
  try {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(0, 9);
    huge.fill(0xff, 8);
    const cases: [string, Uint8Array[]][] = [
      ["seq 2^64-1", [huge]],
      ["second RESUME", [resume(9, 0, 0), resume(9, 0, 0)]],
      ["session 0", [resume(0, 0, 0)]],
    ];
    let n = 0;
    for (const [what, frames] of cases) {
      const raw = await rawPeer(hub.hub.location, `hostile${n++}`);
      raws.push(raw);
      for (const f of frames) await raw.write(FRAME_RESUME, f);
      await within(ends(raw), what);
    }
    const flood = await rawPeer(hub.hub.location, "flood");
    raws.push(flood);
    await flood.write(FRAME_RESUME, resume(3, 0, 0));
    for (let i = 0; i < 10_000; i++) await flood.write(FRAME_ACK, u64(0));
    await flood.write(FRAME_MSG, enc.encode("still here"));
    await hub.until("still here", () => hub.received.get("flood")?.[0] === "still here");
    assert.ok(hub.hub.link("flood")!.online);
  } finally {
    for (const r of raws) r.conn.close();
    await hub.hub.close();
  }
});

/** Rejects if `p` has not settled within LIMIT. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled in time`)), LIMIT);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
