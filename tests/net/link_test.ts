import assert from "node:assert/strict";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import { enc, expected, FaultyTransport, LIMIT, recorder, sendMany } from "./_hub_util.ts";
import { tcpTransport } from "../../src/net/transport.ts";

Deno.test("link (sim): a reset connection is redialled; what was queued meanwhile arrives in order", async () => {
  const net = new SimulatedNetwork({ seed: 11 });
  const faulty = new FaultyTransport(net.transport(), () => net.drop(1), () => net.drop(0));
  const a = await recorder(faulty, { heartbeatInterval: 50, peerTimeout: 3000 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 3000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    const back = b.hub.link(a.id)!;
    sendMany(link, "m", 0, 100);
    await b.until("100", () => (b.received.get(a.id)?.length ?? 0) === 100);
    const before = net.stats().connections;
    // The next chunk a writes is lost, and the stream is reset under both ends.
    const fired = faulty.arm();
    sendMany(link, "lost", 0, 1);
    await fired;
    // Sent while the connection is down or being replaced: all must arrive.
    sendMany(link, "m", 100, 200);
    sendMany(back, "r", 0, 200);
    await b.until("a's 200 more", () => b.received.get(a.id)!.at(-1) === "m299");
    await a.until("b's 200", () => a.received.get(b.id)?.at(-1) === "r199");
    assert.ok(
      net.stats().resets >= 1 && net.stats().connections > before,
      "it was reset and redialled",
    );
    const got = b.received.get(a.id)!.filter((m) => !m.startsWith("lost"));
    assert.deepEqual(got, expected("m", 0, 300));
    assert.deepEqual(a.received.get(b.id), expected("r", 0, 200));
    assert.ok(link.online && back.online);
    assert.deepEqual(a.events.filter((e) => e.startsWith("offline")), []);
    assert.deepEqual(b.events.filter((e) => e.startsWith("offline")), []);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("link (sim): a reset peer that never comes back is offline after peerTimeout", async () => {
  const net = new SimulatedNetwork({ seed: 12 });
  const faulty = new FaultyTransport(net.transport(), () => net.drop(1), () => net.drop(0));
  const a = await recorder(faulty, { heartbeatInterval: 50, peerTimeout: 400 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 400 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    // b stops listening (without saying goodbye), then the connection resets.
    net.kill(b.hub.location);
    const fired = faulty.arm();
    sendMany(link, "x", 0, 1);
    await fired;
    await a.until("a offline", () => !link.online);
    assert.match(a.events.at(-1)!, /not back within 400 ms|silent/);
  } finally {
    await a.hub.close();
    await b.hub.close();
  }
});

Deno.test("link (tcp): a peer process killed mid-stream is offline within the bound", async () => {
  const a = await recorder(tcpTransport, { heartbeatInterval: 100, peerTimeout: 500 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("./fixtures/hub_child.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let out = "";
    while (!/listening (\d+)/.test(out)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`child ended: ${out}`);
      out += value;
    }
    const port = Number(/listening (\d+)/.exec(out)![1]);
    const link = await a.hub.connect({ hostname: "127.0.0.1", port }, { timeout: LIMIT });
    await a.until("streaming", () => (a.received.get("child")?.length ?? 0) >= 1000);
    const killed = performance.now();
    child.kill("SIGKILL");
    await a.until("offline", () => !link.online);
    const took = performance.now() - killed;
    assert.ok(took < 600 + 2000, `offline after ${took} ms`);
    const got = a.received.get("child")!;
    assert.deepEqual(got, expected("c", 0, got.length), "in order, nothing skipped");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already dead
    }
    await lines.cancel().catch(() => {});
    await child.status;
    await a.hub.close();
  }
});

Deno.test("link (sim): a redial that reaches a peer still holding the half-open old connection replaces it at once", async () => {
  const net = new SimulatedNetwork({ seed: 13 });
  const faulty = new FaultyTransport(net.transport(), () => {}, () => {});
  // A long peerTimeout: anything waiting on the old connection would show.
  const a = await recorder(faulty, { heartbeatInterval: 50, peerTimeout: 60_000 });
  const b = await recorder(net.transport(), { heartbeatInterval: 50, peerTimeout: 60_000 });
  try {
    const link = await a.hub.connect(b.hub.location, { timeout: LIMIT });
    await b.until("b online", () => b.hub.link(a.id)?.online === true);
    sendMany(link, "m", 0, 50);
    await b.until("50", () => (b.received.get(a.id)?.length ?? 0) === 50);
    const before = net.stats().connections;
    faulty.sever();
    // Keep sending, as an application would: what goes to the dead
    // connection is lost (at most once), what follows the redial arrives,
    // in order, without waiting for the old connection's timeout.
    let n = 0;
    const timer = setInterval(() => link.send(enc.encode(`p${n++}`)), 5);
    try {
      await b.until(
        "a probe after the redial",
        () => b.received.get(a.id)!.some((m) => m.startsWith("p")),
        5000,
      );
    } finally {
      clearInterval(timer);
    }
    link.send(enc.encode("last"));
    b.hub.link(a.id)!.send(enc.encode("back"));
    await b.until("last", () => b.received.get(a.id)!.at(-1) === "last", 5000);
    await a.until("back", () => a.received.get(b.id)?.at(-1) === "back", 5000);
    assert.ok(net.stats().connections > before, "redialled");
    const probes = b.received.get(a.id)!.slice(50, -1).map((m) => Number(m.slice(1)));
    assert.deepEqual(probes, [...probes].sort((x, y) => x - y), "in order");
    assert.equal(new Set(probes).size, probes.length, "no duplicates");
    assert.deepEqual(b.received.get(a.id)!.slice(0, 50), expected("m", 0, 50));
    assert.deepEqual(a.events, [`online ${b.id}`]);
    assert.deepEqual(b.events, [`online ${a.id}`]);
  } finally {
    await a.hub.close();
    await b.hub.close();
    faulty.release();
  }
});
