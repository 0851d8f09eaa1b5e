/**
 * `SimulatedNetwork`: in-memory connections that behave as `Deno.Conn`s, and
 * each fault (partition, delay, drop, kill) on its own, deterministically.
 * Nothing here sleeps: waits are on the event expected, and "nothing arrived"
 * is read from the network's counters, which change synchronously.
 */
import assert from "node:assert/strict";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import type { Transport, TransportConn, TransportListener } from "../../src/net/transport.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function readN(conn: TransportConn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new Error(`end of stream after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

/** Two hosts, a listener on b:9705 and one connection a → b. */
async function pair(net = new SimulatedNetwork()): Promise<{
  net: SimulatedNetwork;
  a: Transport;
  b: Transport;
  listener: TransportListener;
  client: TransportConn;
  server: TransportConn;
}> {
  const a = net.transport("a");
  const b = net.transport("b");
  const listener = await b.listen({ hostname: "0.0.0.0", port: 9705 });
  const client = await a.dial({ hostname: "b", port: 9705 });
  const server = await listener.accept();
  return { net, a, b, listener, client, server };
}

Deno.test("SimulatedNetwork: hosts, ports and addresses", async () => {
  const net = new SimulatedNetwork();
  const t1 = net.transport();
  const t2 = net.transport();
  assert.equal(net.transport("sim-1"), t1);
  const l1 = await t1.listen({ hostname: "127.0.0.1", port: 0 });
  const l2 = await t1.listen({ hostname: "127.0.0.1", port: 0 });
  const l3 = await t2.listen({ hostname: "127.0.0.1", port: 9705 });
  assert.deepEqual(l1.addr, { hostname: "sim-1", port: 20000 });
  assert.deepEqual(l2.addr, { hostname: "sim-1", port: 20001 });
  assert.deepEqual(l3.addr, { hostname: "sim-2", port: 9705 });
  await assert.rejects(t2.listen({ hostname: "x", port: 9705 }), Deno.errors.AddrInUse);
  await assert.rejects(t2.listen({ hostname: "x", port: -1 }), TypeError);
  const accepted = l3.accept();
  const c = await t1.dial({ hostname: "sim-2", port: 9705 });
  const s = await accepted;
  assert.deepEqual(c.remoteAddr, { hostname: "sim-2", port: 9705 });
  assert.deepEqual(s.localAddr, { hostname: "sim-2", port: 9705 });
  assert.deepEqual(s.remoteAddr, c.localAddr);
  assert.equal(c.localAddr.hostname, "sim-1");
  await assert.rejects(t1.dial({ hostname: "sim-2", port: 1 }), Deno.errors.ConnectionRefused);
  await assert.rejects(t1.dial({ hostname: "nowhere", port: 1 }), Deno.errors.NotFound);
  l3.close();
  // Closing the listener frees the port.
  (await t2.listen({ hostname: "x", port: 9705 })).close();
  c.close();
  s.close();
  l1.close();
  l2.close();
  assert.equal(net.stats().connections, 1);
});

Deno.test("SimulatedNetwork: reads are partial into the caller's buffer and span chunks", async () => {
  const { client, server, listener } = await pair();
  assert.equal(await client.write(enc.encode("hello ")), 6);
  assert.equal(await client.write(enc.encode("world")), 5);
  const small = new Uint8Array(4);
  assert.equal(await server.read(small), 4);
  assert.equal(dec.decode(small), "hell");
  const big = new Uint8Array(100);
  const n = await server.read(big);
  assert.equal(dec.decode(big.subarray(0, n!)), "o world");
  // A read waiting before the bytes come gets them straight into its buffer.
  const waiting = server.read(small);
  const buf = enc.encode("0123456789");
  await client.write(buf);
  buf.fill(0); // the writer may reuse its buffer once write resolved
  assert.equal(await waiting, 4);
  assert.equal(dec.decode(small), "0123");
  assert.equal(dec.decode(await readN(server, 6)), "456789");
  assert.equal(await server.read(new Uint8Array(0)), 0);
  client.close();
  server.close();
  listener.close();
});

Deno.test("SimulatedNetwork: close ends the other side's stream after its bytes; closed ends refuse use", async () => {
  const { client, server, listener } = await pair();
  const pending = client.read(new Uint8Array(8));
  await client.write(enc.encode("last words"));
  client.close();
  client.close(); // idempotent
  assert.equal(await pending, null); // a read pending at close resolves null
  await assert.rejects(client.read(new Uint8Array(8)), Deno.errors.BadResource);
  await assert.rejects(client.write(new Uint8Array(1)), Deno.errors.BadResource);
  assert.equal(dec.decode(await readN(server, 10)), "last words");
  assert.equal(await server.read(new Uint8Array(8)), null);
  assert.equal(await server.read(new Uint8Array(8)), null);
  await assert.rejects(server.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
  server.close();
  listener.close();
});

Deno.test("SimulatedNetwork: a closed listener rejects accept, ends iteration, and ends unaccepted dials", async () => {
  const net = new SimulatedNetwork();
  const a = net.transport("a");
  const listener = await a.listen({ hostname: "a", port: 0 });
  const pending = listener.accept();
  listener.close();
  await assert.rejects(pending, Deno.errors.BadResource);
  await assert.rejects(listener.accept(), Deno.errors.BadResource);

  const backlogged = await a.listen({ hostname: "a", port: 0 });
  const c1 = await a.dial({ hostname: "a", port: backlogged.addr.port });
  const c2 = await a.dial({ hostname: "a", port: backlogged.addr.port });
  backlogged.close(); // nobody accepted them: they end for their dialers
  assert.equal(await c1.read(new Uint8Array(1)), null);
  assert.equal(await c2.read(new Uint8Array(1)), null);
  c1.close();
  c2.close();

  const iterated = await a.listen({ hostname: "a", port: 0 });
  const seen: TransportConn[] = [];
  const loop = (async () => {
    for await (const c of iterated) {
      seen.push(c);
      iterated.close();
    }
  })();
  const c3 = await a.dial({ hostname: "a", port: iterated.addr.port });
  await loop;
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].remoteAddr, c3.localAddr);
  seen[0].close();
  c3.close();
});

Deno.test("SimulatedNetwork: partition holds bytes both ways and heal releases them in order", async () => {
  const { net, a, client, server, listener } = await pair();
  const first = new Uint8Array(64);
  const got = server.read(first);
  net.partition("a", { hostname: "b", port: 1 });
  await client.write(enc.encode("one,"));
  await client.write(enc.encode("two"));
  await server.write(enc.encode("back"));
  assert.equal(net.stats().bytesInFlight, 11);
  assert.equal(net.stats().chunksDelivered, 0);
  // Dials across the partition hang: the timeout ends them, or the heal.
  await assert.rejects(a.dial({ hostname: "b", port: 9705, timeout: 5 }), Deno.errors.TimedOut);
  const controller = new AbortController();
  const aborted = a.dial({ hostname: "b", port: 9705, signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  const hanging = a.dial({ hostname: "b", port: 9705 });
  net.heal();
  const n = await got;
  assert.equal(dec.decode(first.subarray(0, n!)), "one,"); // straight into the waiting read
  assert.equal(dec.decode(await readN(server, 3)), "two");
  assert.equal(dec.decode(await readN(client, 4)), "back");
  assert.equal(net.stats().bytesInFlight, 0);
  const third = await hanging;
  const s3 = await listener.accept();
  for (const c of [client, server, third, s3]) c.close();
  listener.close();
});

Deno.test("SimulatedNetwork: delay delivers later, in order, also when the delay changes", async () => {
  const { net, client, server, listener } = await pair();
  net.delay(5);
  await client.write(enc.encode("slow "));
  assert.equal(net.stats().chunksDelivered, 0);
  assert.equal(net.stats().bytesInFlight, 5);
  net.delay(0);
  await client.write(enc.encode("fast")); // must not overtake
  client.close(); // the FIN travels behind the bytes
  assert.equal(dec.decode(await readN(server, 9)), "slow fast");
  assert.equal(await server.read(new Uint8Array(1)), null);
  server.close();
  listener.close();
});

Deno.test("SimulatedNetwork: closing with chunks in transit leaves no timer behind", async () => {
  const { net, client, server, listener } = await pair();
  net.delay(60_000);
  await client.write(enc.encode("never"));
  await server.write(enc.encode("seen"));
  client.close();
  server.close();
  listener.close();
  assert.equal(net.stats().bytesInFlight, 0);
  // The test sanitizer fails this test if a delay timer is still pending.
});

Deno.test("SimulatedNetwork: drop resets the connection: both ends' reads fail", async () => {
  const { net, client, server, listener } = await pair();
  const pending = client.read(new Uint8Array(8));
  net.drop(1);
  assert.equal(await client.write(enc.encode("lost")), 4);
  await assert.rejects(pending, Deno.errors.ConnectionReset);
  await assert.rejects(server.read(new Uint8Array(8)), Deno.errors.ConnectionReset);
  await assert.rejects(server.write(new Uint8Array(1)), Deno.errors.ConnectionReset);
  assert.deepEqual([net.stats().chunksDropped, net.stats().resets], [1, 1]);
  client.close();
  server.close();
  listener.close();
});

/** Which writes (of 200 single-byte ones, on fresh connections after each reset) were lost. */
async function lossPattern(seed: number): Promise<number[]> {
  const net = new SimulatedNetwork({ seed });
  const a = net.transport("a");
  const listener = await net.transport("b").listen({ hostname: "b", port: 1 });
  net.drop(0.1);
  const lost: number[] = [];
  let client = await a.dial({ hostname: "b", port: 1 });
  let server = await listener.accept();
  for (let i = 0; i < 200; i++) {
    await client.write(new Uint8Array([i]));
    try {
      assert.deepEqual(await readN(server, 1), new Uint8Array([i]));
    } catch (e) {
      assert.ok(e instanceof Deno.errors.ConnectionReset);
      lost.push(i);
      client.close();
      server.close();
      client = await a.dial({ hostname: "b", port: 1 });
      server = await listener.accept();
    }
  }
  client.close();
  server.close();
  listener.close();
  return lost;
}

Deno.test("SimulatedNetwork: losses are the same for the same seed", async () => {
  const first = await lossPattern(42);
  assert.deepEqual(await lossPattern(42), first);
  assert.ok(first.length > 5 && first.length < 50, `lost ${first.length} of 200`);
  assert.notDeepEqual(await lossPattern(43), first);
});

Deno.test("SimulatedNetwork: kill: the host's ends stop, the others hear nothing, dials hang; revive", async () => {
  const { net, a, b, client, server, listener } = await pair();
  const acceptPending = listener.accept();
  const serverRead = server.read(new Uint8Array(8));
  const clientRead = client.read(new Uint8Array(8));
  let clientReadDone = false;
  clientRead.then(() => clientReadDone = true, () => clientReadDone = true);
  net.kill("b");
  await assert.rejects(acceptPending, Deno.errors.BadResource);
  assert.equal(await serverRead, null);
  assert.equal(await server.read(new Uint8Array(8)), null);
  await assert.rejects(server.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
  // The other end: its writes vanish, its read never ends.
  const before = net.stats().chunksDelivered;
  assert.equal(await client.write(enc.encode("anyone?")), 7);
  assert.equal(net.stats().chunksDelivered, before);
  await Promise.resolve();
  assert.equal(clientReadDone, false);
  await assert.rejects(a.dial({ hostname: "b", port: 9705, timeout: 5 }), Deno.errors.TimedOut);
  await assert.rejects(b.listen({ hostname: "b", port: 9705 }), Deno.errors.AddrNotAvailable);
  await assert.rejects(b.dial({ hostname: "a", port: 1 }), Deno.errors.NetworkUnreachable);
  const hanging = a.dial({ hostname: "b", port: 9705 });
  net.revive("b");
  // Retried at once: nobody listens yet on the revived host.
  await assert.rejects(hanging, Deno.errors.ConnectionRefused);
  const again = await b.listen({ hostname: "b", port: 9705 });
  const accepted = again.accept();
  const c2 = await a.dial({ hostname: "b", port: 9705 });
  const s2 = await accepted;
  await c2.write(enc.encode("back"));
  assert.equal(dec.decode(await readN(s2, 4)), "back");
  client.close(); // ends the forever-pending read
  assert.equal(await clientRead, null);
  for (const c of [server, c2, s2]) c.close();
  listener.close();
  again.close();
});

Deno.test("SimulatedNetwork: bad arguments are refused", () => {
  const net = new SimulatedNetwork();
  assert.throws(() => net.partition("x", "y"), RangeError);
  assert.throws(() => net.kill("x"), RangeError);
  assert.throws(() => net.delay(-1), TypeError);
  assert.throws(() => net.drop(2), TypeError);
  assert.throws(() => net.transport(""), TypeError);
});

Deno.test("SimulatedNetwork: past 4 MiB unread or held, writes wait (as socket buffers make them)", async () => {
  const { net, client, server, listener } = await pair();
  const MiB = 1 << 20;
  const chunk = new Uint8Array(MiB).fill(3);
  net.partition("a", "b");
  for (let i = 0; i < 4; i++) assert.equal(await client.write(chunk), MiB);
  const waiting = client.write(chunk);
  assert.equal(net.stats().bytesInFlight, 4 * MiB); // the fifth is not taken
  net.heal();
  // Delivered but unread: the window is still full until the reader reads.
  assert.equal(net.stats().bytesDelivered, 4 * MiB);
  assert.equal((await readN(server, 4 * MiB)).length, 4 * MiB);
  assert.equal(await waiting, MiB);
  assert.deepEqual(await readN(server, MiB), chunk);
  // A write waiting when its end closes fails; one into a closed end is taken.
  for (let i = 0; i < 4; i++) await client.write(chunk);
  const refused = client.write(chunk);
  client.close();
  await assert.rejects(refused, Deno.errors.BadResource);
  server.close();
  listener.close();
});
