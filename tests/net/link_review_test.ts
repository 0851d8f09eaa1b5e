/**
 * Link-level adversarial cases, driven without a hub: two `PeerLink`s whose
 * connections are made by hand on a `SimulatedNetwork` (already
 * "authenticated"), so that each case sets up exactly the connections it
 * needs, in the order it needs, and decides who learns of which.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import type { TransportConn, TransportListener } from "../../src/net/transport.ts";
import { Connection } from "../../src/net/_connection.ts";
import { type LinkContext, PeerLink } from "../../src/net/_link.ts";
import type { PeerIdentity } from "../../src/net/_handshake.ts";
import type { DialTarget } from "../../src/net/_hub.ts";
import { enc, FaultyTransport, LIMIT, recorder } from "./_hub_util.ts";

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
    const waiters = new Set<() => void>();
    const kick = () => {
      for (const w of [...waiters]) w();
    };
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
    side.until = (what, pred, limit = LIMIT) =>
      new Promise<void>((resolve, reject) => {
        if (pred()) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${id}: timed out waiting for ${what}; events: ${events.join(" | ")}`));
        }, limit);
        const check = () => {
          if (!pred()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
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
