/**
 * `tcpTransport` on 127.0.0.1 (port 0): TCP and TLS with the test-only key
 * pair in tests/io/fixtures, dial timeouts and aborts, listener close.
 */
import assert from "node:assert/strict";
import { tcpTransport, type TransportConn } from "../../src/net/transport.ts";

const LIMIT = 10_000;
const fixtures = new URL("../io/fixtures/", import.meta.url);
const ca = await Deno.readTextFile(new URL("ca.pem", fixtures));
const cert = await Deno.readTextFile(new URL("server.pem", fixtures));
const key = await Deno.readTextFile(new URL("server.key", fixtures));

/** Reads exactly `n` bytes (the transport may hand them over in pieces). */
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

async function writeAll(conn: TransportConn, p: Uint8Array): Promise<void> {
  for (let off = 0; off < p.length;) off += await conn.write(p.subarray(off));
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 255;
  return b;
}

Deno.test("tcpTransport: TCP dial and accept exchange bytes both ways; close ends the stream", async () => {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.equal(listener.addr.hostname, "127.0.0.1");
    assert.ok(listener.addr.port > 0);
    const accepted = listener.accept();
    const client = await tcpTransport.dial({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      timeout: LIMIT,
    });
    const server = await accepted;
    assert.equal(client.remoteAddr.port, listener.addr.port);
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    const big = pattern(300_000);
    const sending = writeAll(client, big);
    assert.deepEqual(await readN(server, big.length), big);
    await sending;
    await writeAll(server, new Uint8Array([9, 8, 7]));
    assert.deepEqual(await readN(client, 3), new Uint8Array([9, 8, 7]));
    client.close();
    client.close(); // idempotent
    assert.equal(await server.read(new Uint8Array(4)), null);
    server.close();
  } finally {
    listener.close();
  }
});

Deno.test("tcpTransport: listening on a taken port rejects with AddrInUse", async () => {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      tcpTransport.listen({ hostname: "127.0.0.1", port: listener.addr.port }),
      Deno.errors.AddrInUse,
    );
  } finally {
    listener.close();
  }
});

Deno.test("tcpTransport: a dial to a closed port is refused", async () => {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    tcpTransport.dial({ hostname: "127.0.0.1", port, timeout: LIMIT }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("tcpTransport: accept rejects once the listener is closed; iteration ends", async () => {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  const pending = listener.accept();
  listener.close();
  listener.close(); // idempotent
  await assert.rejects(pending);
  const listener2 = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: number[] = [];
  const loop = (async () => {
    for await (const conn of listener2) {
      seen.push(conn.remoteAddr.port);
      conn.close();
      listener2.close();
    }
  })();
  const c = await tcpTransport.dial({ hostname: "127.0.0.1", port: listener2.addr.port });
  await loop;
  assert.deepEqual(seen, [c.localAddr.port]);
  c.close();
});

Deno.test("tcpTransport: TLS with the test CA exchanges bytes", async () => {
  const listener = await tcpTransport.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert, key },
  });
  try {
    const accepted = listener.accept();
    const client = await tcpTransport.dial({
      hostname: "localhost",
      port: listener.addr.port,
      tls: true,
      caCerts: [ca],
      timeout: LIMIT,
    });
    const server = await accepted;
    const big = pattern(200_000);
    const sending = writeAll(client, big);
    assert.deepEqual(await readN(server, big.length), big);
    await sending;
    await writeAll(server, new Uint8Array([1]));
    assert.deepEqual(await readN(client, 1), new Uint8Array([1]));
    client.close();
    server.close();
  } finally {
    listener.close();
  }
});

Deno.test("tcpTransport: a TLS dial that does not trust the server fails; the listener carries on", async () => {
  const listener = await tcpTransport.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert, key },
  });
  try {
    const first = listener.accept();
    await assert.rejects(
      tcpTransport.dial({
        hostname: "127.0.0.1",
        port: listener.addr.port,
        tls: true,
        timeout: LIMIT,
      }),
    );
    // The server side of the failed handshake fails on first use.
    const bad = await first;
    await assert.rejects(bad.read(new Uint8Array(10)));
    bad.close();
    const accepted = listener.accept();
    const good = await tcpTransport.dial({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: true,
      caCerts: [ca],
      timeout: LIMIT,
    });
    const server = await accepted;
    await writeAll(good, new Uint8Array([42]));
    assert.deepEqual(await readN(server, 1), new Uint8Array([42]));
    good.close();
    server.close();
  } finally {
    listener.close();
  }
});

// A plain TCP server that never answers the TLS ClientHello makes a dial that
// hangs for as long as we like: its timeout and signal are what end it.
function silentServer(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    try {
      for await (const c of listener) conns.push(c);
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await loop;
      for (const c of conns) c.close();
    },
  };
}

Deno.test("tcpTransport: a dial that hangs rejects with TimedOut after its timeout", async () => {
  const server = silentServer();
  try {
    await assert.rejects(
      tcpTransport.dial({
        hostname: "127.0.0.1",
        port: server.port,
        tls: true,
        caCerts: [ca],
        timeout: 50,
      }),
      Deno.errors.TimedOut,
    );
  } finally {
    await server.close();
  }
});

Deno.test("tcpTransport: a dial that hangs rejects with the signal's reason when it aborts", async () => {
  const server = silentServer();
  try {
    const controller = new AbortController();
    const reason = new Error("gave up");
    const dialing = tcpTransport.dial({
      hostname: "127.0.0.1",
      port: server.port,
      tls: true,
      caCerts: [ca],
      signal: controller.signal,
    });
    queueMicrotask(() => controller.abort(reason));
    await assert.rejects(dialing, (e) => e === reason);
    await assert.rejects(
      tcpTransport.dial({ hostname: "127.0.0.1", port: server.port, signal: controller.signal }),
      (e) => e === reason,
    );
  } finally {
    await server.close();
  }
});
