import assert from "node:assert/strict";
import { AuthenticationFailed, PeerUnreachable } from "../../src/net/errors.ts";
import { dialHandshake, importHandshakeKey } from "../../src/net/_handshake.ts";
import { MAX_HANDSHAKING } from "../../src/net/_hub.ts";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import { tcpTransport, type Transport } from "../../src/net/transport.ts";
import { MailboxFull } from "../../src/core/errors.ts";
import { MessageTooLarge } from "../../src/io/errors.ts";
import { enc, expected, LIMIT, recorder, sendMany } from "./_hub_util.ts";

function both(name: string, fn: (t: () => Transport) => Promise<void>) {
  Deno.test(`hub (sim): ${name}`, async () => {
    const net = new SimulatedNetwork({ seed: 7 });
    await fn(() => net.transport());
  });
  Deno.test(`hub (tcp): ${name}`, async () => {
    await fn(() => tcpTransport);
  });
}

both("two hubs connect and exchange messages in order", async (t) => {
  const a = await recorder(t());
  const b = await recorder(t());
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    assert.equal(link.peer.id, b.id);
    assert.ok(link.online);
    await b.until("b sees a", () => b.hub.link(a.id)?.online === true);
    sendMany(link, "m", 0, 1000);
    const back = b.hub.link(a.id)!;
    sendMany(back, "r", 0, 500);
    await b.until("1000 at b", () => (b.received.get(a.id)?.length ?? 0) >= 1000);
    await a.until("500 at a", () => (a.received.get(b.id)?.length ?? 0) >= 500);
    assert.deepEqual(b.received.get(a.id), expected("m", 0, 1000));
    assert.deepEqual(a.received.get(b.id), expected("r", 0, 500));
    // A second connect returns the same link.
    assert.equal(await a.hub.connect(b.hub.location), link);
    assert.deepEqual(a.hub.links().map((l) => l.peer.id), [b.id]);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

both("a wrong secret or a foreign cluster is refused, the hub serves others", async (t) => {
  const b = await recorder(t());
  const wrong = await recorder(t(), { secret: "nope" });
  const foreign = await recorder(t(), { cluster: "other" });
  const good = await recorder(t());
  try {
    await assert.rejects(
      wrong.hub.connect(b.hub.location, { timeout: LIMIT }),
      AuthenticationFailed,
    );
    await assert.rejects(
      foreign.hub.connect(b.hub.location, { timeout: LIMIT }),
      AuthenticationFailed,
    );
    const link = await good.hub.connect(b.hub.location, { timeout: LIMIT });
    link.send(enc.encode("hi"));
    await b.until("hi", () => b.received.get(good.id)?.[0] === "hi");
    assert.deepEqual(b.hub.links().map((l) => l.peer.id), [good.id]);
  } finally {
    await Promise.all([b, wrong, foreign, good].map((r) => r.hub.close()));
  }
});

both("nothing listening: PeerUnreachable", async (t) => {
  const a = await recorder(t());
  const b = await recorder(t());
  const where = b.hub.location;
  await b.hub.close();
  try {
    await assert.rejects(a.hub.connect(where, { timeout: 300 }), PeerUnreachable);
  } finally {
    await a.hub.close();
  }
});

both("simultaneous dials end in one link, no message lost", async (t) => {
  const a = await recorder(t());
  const b = await recorder(t());
  try {
    const [ab, ba] = await Promise.all([
      a.hub.connect(b.hub.location, { timeout: LIMIT }),
      b.hub.connect(a.hub.location, { timeout: LIMIT }),
    ]);
    sendMany(ab, "a", 0, 300);
    sendMany(ba, "b", 0, 300);
    await b.until("a's at b", () => (b.received.get(a.id)?.length ?? 0) >= 300);
    await a.until("b's at a", () => (a.received.get(b.id)?.length ?? 0) >= 300);
    // Once the duplicate is gone, more traffic still flows, in order.
    sendMany(ab, "a", 300, 300);
    sendMany(ba, "b", 300, 300);
    await b.until("more at b", () => (b.received.get(a.id)?.length ?? 0) >= 600);
    await a.until("more at a", () => (a.received.get(b.id)?.length ?? 0) >= 600);
    assert.deepEqual(b.received.get(a.id), expected("a", 0, 600));
    assert.deepEqual(a.received.get(b.id), expected("b", 0, 600));
    assert.equal(a.hub.links().length, 1);
    assert.equal(b.hub.links().length, 1);
    assert.equal(a.events.filter((e) => e.startsWith("online")).length, 1, a.events.join(" | "));
    assert.equal(b.events.filter((e) => e.startsWith("online")).length, 1);
    assert.equal(a.events.filter((e) => e.startsWith("offline")).length, 0);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

both("GOODBYE marks the peer offline at once", async (t) => {
  // A peerTimeout far beyond the wait: only the GOODBYE can explain the offline.
  const a = await recorder(t(), { peerTimeout: 60_000 });
  const b = await recorder(t(), { peerTimeout: 60_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.hub.close();
    await a.until("offline", () => !link.online, 5000);
    assert.match(a.events.at(-1)!, /said goodbye/);
    assert.equal(link.send(enc.encode("late")), false);
  } finally {
    await a.hub.close();
  }
});

Deno.test("hub (tcp): a closed link says goodbye; the other side goes offline", async () => {
  const a = await recorder(tcpTransport, { peerTimeout: 60_000 });
  const b = await recorder(tcpTransport, { peerTimeout: 60_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    await link.close();
    assert.equal(link.status, "closed");
    assert.match(a.events.at(-1)!, /offline .* closed/);
    await b.until("b offline", () => b.hub.link(a.id)?.online === false, 5000);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): a killed peer is offline within peerTimeout + heartbeatInterval", async () => {
  const net = new SimulatedNetwork({ seed: 3 });
  const a = await recorder(net.transport(), { heartbeatInterval: 100, peerTimeout: 500 });
  const b = await recorder(net.transport(), { heartbeatInterval: 100, peerTimeout: 500 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    sendMany(link, "m", 0, 10);
    await b.until("10", () => (b.received.get(a.id)?.length ?? 0) === 10);
    const killed = performance.now();
    net.kill(b.hub.location);
    await a.until("offline", () => !link.online);
    const took = performance.now() - killed;
    // Generous margin: the bound is 600 ms; a loaded machine may add some.
    assert.ok(took < 600 + 2000, `offline after ${took} ms`);
    assert.match(a.events.at(-1)!, /silent for/);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): a partition healed before peerTimeout loses nothing and stays online", async () => {
  const net = new SimulatedNetwork({ seed: 5 });
  const a = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 3000 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 3000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    net.partition(a.hub.location, b.hub.location);
    sendMany(link, "m", 0, 200);
    sendMany(b.hub.link(a.id)!, "r", 0, 200);
    // The scenario itself: let several heartbeat intervals pass cut off.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(b.received.get(a.id), undefined, "held by the partition");
    net.heal();
    await b.until("200 at b", () => (b.received.get(a.id)?.length ?? 0) >= 200);
    await a.until("200 at a", () => (a.received.get(b.id)?.length ?? 0) >= 200);
    assert.deepEqual(b.received.get(a.id), expected("m", 0, 200));
    assert.deepEqual(a.received.get(b.id), expected("r", 0, 200));
    assert.ok(link.online);
    assert.deepEqual(a.events.filter((e) => e.startsWith("offline")), []);
    assert.deepEqual(b.events.filter((e) => e.startsWith("offline")), []);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): a partition past peerTimeout declares the peer offline", async () => {
  const net = new SimulatedNetwork({ seed: 5 });
  const a = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 300 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 300 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    net.partition(a.hub.location, b.hub.location);
    await a.until("a offline", () => !link.online);
    await b.until("b offline", () => b.hub.link(a.id)?.online === false);
    net.heal();
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (tcp): a handshaken peer that never reads makes send throw MailboxFull", async () => {
  const b = await recorder(tcpTransport, { maxQueuedBytes: 256 * 1024, peerTimeout: 60_000 });
  const raw = await tcpTransport.dial({ ...b.hub.location, timeout: LIMIT });
  try {
    await dialHandshake(raw, {
      key: await importHandshakeKey("s3cret"),
      cluster: "test",
      identity: {
        id: "slow",
        name: "slow",
        incarnation: 1,
        location: { hostname: "127.0.0.1", port: 1 },
      },
    });
    await b.until("slow online", () => b.hub.link("slow")?.online === true);
    const link = b.hub.link("slow")!;
    const chunk = new Uint8Array(16 * 1024);
    let thrown: unknown;
    const pumped = new Promise<void>((resolve) => {
      // Fill in rounds so the writer gets to write (and the socket to fill up).
      const round = () => {
        try {
          for (let i = 0; i < 8; i++) link.send(chunk); // 128 KiB a round: fits unless nobody reads
          setTimeout(round, 0);
        } catch (e) {
          thrown = e;
          resolve();
        }
      };
      round();
    });
    await pumped;
    assert.ok(thrown instanceof MailboxFull, String(thrown));
    assert.ok(link.online, "a full queue does not break the link");
  } finally {
    raw.close();
    await b.hub.close();
  }
});

async function hostileClient(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (bytes.length) await conn.write(bytes);
    // The hub closes its side; reading ends (or fails, if it reset us).
    const buf = new Uint8Array(1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
    }
  } finally {
    conn.close();
  }
}

Deno.test("hub (tcp): garbage, an oversized pre-auth frame and a slow handshake are closed; good peers are served", async () => {
  const b = await recorder(tcpTransport, { handshakeTimeout: 300 });
  const good = await recorder(tcpTransport);
  try {
    const port = b.hub.location.port;
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, 1 << 30);
    huge[4] = 0x10;
    await Promise.all([
      hostileClient(port, enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
      hostileClient(port, huge),
      hostileClient(port, new Uint8Array([0, 0, 0, 38, 0x10, 0x44])), // a HELLO that never finishes
      hostileClient(port, new Uint8Array(0)), // silence
    ]);
    const link = await good.hub.connect(b.hub.location, { timeout: LIMIT });
    link.send(enc.encode("still here"));
    await b.until("served", () => b.received.get(good.id)?.[0] === "still here");
  } finally {
    await b.hub.close();
    await good.hub.close();
  }
});

Deno.test("hub (sim): simultaneous dials under varied delays: one link, everything in order", async () => {
  for (let seed = 1; seed <= 8; seed++) {
    const net = new SimulatedNetwork({ seed });
    net.delay(seed % 3);
    const a = await recorder(net.transport());
    const b = await recorder(net.transport());
    try {
      const [ab, ba] = await Promise.all([
        a.hub.connect(b.hub.location, { timeout: LIMIT }),
        b.hub.connect(a.hub.location, { timeout: LIMIT }),
      ]);
      for (let round = 0; round < 5; round++) {
        sendMany(ab, "a", round * 50, 50);
        sendMany(ba, "b", round * 50, 50);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      await b.until("a's at b", () => (b.received.get(a.id)?.length ?? 0) >= 250);
      await a.until("b's at a", () => (a.received.get(b.id)?.length ?? 0) >= 250);
      assert.deepEqual(b.received.get(a.id), expected("a", 0, 250), `seed ${seed}`);
      assert.deepEqual(a.received.get(b.id), expected("b", 0, 250), `seed ${seed}`);
      assert.equal(a.hub.links().length, 1);
      assert.deepEqual(a.events, [`online ${b.id}`], `seed ${seed}`);
      assert.deepEqual(b.events, [`online ${a.id}`], `seed ${seed}`);
    } finally {
      await a.hub.close();
      await b.hub.close();
    }
  }
});

Deno.test("hub (sim): an idle link stays online well past peerTimeout (heartbeats)", async () => {
  const net = new SimulatedNetwork({ seed: 9 });
  const a = await recorder(net.transport(), { heartbeatInterval: 40, peerTimeout: 200 });
  const b = await recorder(net.transport(), { heartbeatInterval: 40, peerTimeout: 200 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    const before = net.stats().chunksDelivered;
    // The scenario: several peerTimeouts of application silence.
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.ok(link.online && b.hub.link(a.id)!.online, a.events.join(" | "));
    assert.ok(net.stats().chunksDelivered > before + 4, "heartbeats went both ways");
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

both("a message over 64 KiB travels in fragments", async (t) => {
  const a = await recorder(t());
  const b = await recorder(t());
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    const big = "x".repeat(300_000);
    link.send(enc.encode("before"));
    link.send(enc.encode(big));
    link.send(enc.encode("after"));
    await b.until("3", () => (b.received.get(a.id)?.length ?? 0) === 3);
    const got = b.received.get(a.id)!;
    // Small frames may overtake the fragments of a large one (the writer's
    // choice, so they are never stuck behind it): compare as a set.
    assert.equal(got[0], "before");
    assert.deepEqual([...got].sort(), ["after", "before", big]);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): port 9705 taken falls back to an ephemeral port; another port taken fails", async () => {
  const net = new SimulatedNetwork();
  const transport = net.transport("sim-host");
  const first = await recorder(transport, { port: 9705 });
  const second = await recorder(transport, { port: 9705 });
  try {
    assert.equal(first.hub.location.port, 9705);
    assert.notEqual(second.hub.location.port, 9705);
    await assert.rejects(
      recorder(transport, {
        port: first.hub.location.port === 9705 ? second.hub.location.port : 1,
      }),
      PeerUnreachable,
    );
  } finally {
    await first.hub.close();
    await second.hub.close();
  }
});

both("connecting to itself is refused", async (t) => {
  const a = await recorder(t());
  try {
    await assert.rejects(a.hub.connect(a.hub.location, { timeout: LIMIT }), AuthenticationFailed);
    assert.deepEqual(a.hub.links(), []);
  } finally {
    await a.hub.close();
  }
});

both("a peer that was offline comes back online on the same link", async (t) => {
  const a = await recorder(t(), { peerTimeout: 60_000 });
  const b = await recorder(t(), { peerTimeout: 60_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    await b.hub.link(a.id)!.close();
    await a.until("a offline", () => !link.online);
    const again = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    assert.equal(again, link, "same peer, same incarnation: same link");
    assert.ok(link.online);
    link.send(enc.encode("back"));
    await b.until("back", () => b.received.get(a.id)?.at(-1) === "back");
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (tcp): a TLS hub is reached with caCerts", async () => {
  const fixtures = new URL("../io/fixtures/", import.meta.url);
  const [ca, cert, key] = await Promise.all(
    ["ca.pem", "server.pem", "server.key"].map((f) => Deno.readTextFile(new URL(f, fixtures))),
  );
  const b = await recorder(tcpTransport, { tls: { cert, key } });
  const a = await recorder(tcpTransport);
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT, caCerts: [ca] });
    link.send(enc.encode("over tls"));
    await b.until("tls", () => b.received.get(a.id)?.[0] === "over tls");
    // Plain TCP to a TLS listener fails cleanly.
    const c = await recorder(tcpTransport);
    try {
      await assert.rejects(c.hub.connect(b.hub.location, { timeout: 2000 }));
    } finally {
      await c.hub.close();
    }
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): a message over maxMessageSize is refused by send; the link stays up", async () => {
  const net = new SimulatedNetwork();
  const a = await recorder(net.transport(), { maxMessageSize: 100_000 });
  const b = await recorder(net.transport(), { maxMessageSize: 100_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    assert.throws(() => link.send(new Uint8Array(100_001)), MessageTooLarge);
    assert.throws(() => link.send(new Uint8Array(0)), RangeError);
    link.send(enc.encode("fine"));
    await b.until("fine", () => b.received.get(a.id)?.[0] === "fine");
    assert.ok(link.online);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): a connect aborted while the peer is cut off rejects PeerUnreachable", async () => {
  const net = new SimulatedNetwork();
  const a = await recorder(net.transport());
  const b = await recorder(net.transport());
  try {
    net.partition(a.hub.location, b.hub.location);
    const controller = new AbortController();
    const connecting = a.hub.connect(b.hub.location, { signal: controller.signal });
    controller.abort();
    await assert.rejects(connecting, PeerUnreachable);
    net.heal();
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    assert.ok(link.online);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("hub (sim): past MAX_HANDSHAKING silent connections, newcomers are turned away until they go", async () => {
  const net = new SimulatedNetwork();
  const b = await recorder(net.transport(), { handshakeTimeout: 200 });
  const attacker = net.transport();
  const good = await recorder(net.transport());
  const raw = [];
  try {
    for (let i = 0; i < MAX_HANDSHAKING; i++) raw.push(await attacker.dial({ ...b.hub.location }));
    const extra = await attacker.dial({ ...b.hub.location });
    raw.push(extra);
    // The hub closes the one over the cap without waiting for its deadline.
    assert.equal(await extra.read(new Uint8Array(8)).catch(() => null), null);
    // The silent ones hit their deadline and are closed by the hub.
    await Promise.all(raw.map((c) => c.read(new Uint8Array(8)).catch(() => null)));
    const link = await good.hub.connect(b.hub.location, { timeout: LIMIT });
    assert.ok(link.online);
  } finally {
    for (const c of raw) c.close();
    await b.hub.close();
    await good.hub.close();
  }
});
