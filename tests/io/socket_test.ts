/**
 * AsyncSocket / AsyncServer over real TCP and Unix sockets on 127.0.0.1,
 * plus a fake connection where the exact arrival of bytes matters.
 */
import assert from "node:assert/strict";
import {
  AsyncServer,
  AsyncSocket,
  ConnectionClosed,
  Event,
  MessageTooLarge,
  TaskTerminated,
  TimeoutError,
} from "../../mod.ts";
import { dec, enc, fakeSocket, frame, LIMIT, output, pattern, tcpPair } from "./_net_util.ts";
import { spawnWaiting, terminateWhileWaiting, withScheduler } from "../core/_util.ts";

Deno.test("echo: a task per connection echoes what each client sends", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const acceptor = s.spawn(async () => {
      for await (const conn of server) {
        s.spawn(async () => {
          await using c = conn;
          for (;;) {
            const data = await c.recv(1024, { timeout: LIMIT });
            if (data.length === 0) return;
            await c.sendAll(data);
          }
        });
      }
    });
    const clients = Array.from({ length: 5 }, (_, i) =>
      s.spawn(async () => {
        await using sock = await AsyncSocket.connect({
          hostname: "127.0.0.1",
          port: server.localAddr.port,
          noDelay: true,
        });
        const out: string[] = [];
        for (let r = 0; r < 20; r++) {
          const msg = `client ${i} round ${r}`;
          await sock.sendAll(msg);
          out.push(dec.decode(await sock.recvAll(msg.length, { timeout: LIMIT })));
        }
        return out;
      }));
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(
        await c.finish({ timeout: LIMIT }),
        Array.from({ length: 20 }, (_, r) => `client ${i} round ${r}`),
      );
    }
    server.close();
    await acceptor.finish({ timeout: LIMIT });
  });
});

Deno.test("addresses, noDelay and the server's for-await loop ending on close", async () => {
  await withScheduler(async (s) => {
    const [client, conn, server] = await tcpPair(s);
    assert.equal(client.remoteAddr.port, server.localAddr.port);
    assert.equal(conn.remoteAddr.port, client.localAddr.port);
    assert.equal(conn.localAddr.hostname, "127.0.0.1");
    assert.equal(client.tls, false);
    client.setNoDelay(true);
    client.setNoDelay(false);
    const loop = s.spawn(async () => {
      let n = 0;
      for await (const c of server) {
        n++;
        c.close();
      }
      return n;
    });
    const extra = await AsyncSocket.connect({ hostname: "127.0.0.1", port: server.localAddr.port });
    assert.equal((await extra.recv(10, { timeout: LIMIT })).length, 0); // the loop closed it
    extra.close();
    server.close();
    assert.equal(await loop.finish({ timeout: LIMIT }), 1);
    await assert.rejects(server.accept(), ConnectionClosed);
  });
});

Deno.test("recvAll: exactly n bytes across many writes; a short stream rejects with ConnectionClosed", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const data = pattern(100_000, 3);
    const writer = s.spawn(async () => {
      for (let i = 0; i < data.length; i += 7777) await client.sendAll(data.subarray(i, i + 7777));
      await client.sendAll(enc.encode("xyz"));
      client.close();
    });
    assert.deepEqual(await conn.recvAll(100_000, { timeout: LIMIT }), data);
    await writer.finish({ timeout: LIMIT });
    const err = await conn.recvAll(10, { timeout: LIMIT }).catch((e) => e);
    assert.ok(err instanceof ConnectionClosed, String(err));
    assert.match(err.message, /after 3 of 10 bytes/);
    // The partial bytes were not thrown away.
    assert.equal(dec.decode(await conn.recv(10)), "xyz");
    assert.equal((await conn.recv(10)).length, 0);
    assert.equal((await conn.recv(10)).length, 0); // end of stream stays end of stream
    assert.equal((await conn.recvAll(0)).length, 0);
  });
});

Deno.test("recvInto: copies into the caller's memory; all fills it; null at the end", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const buf = new Uint8Array(8);
    await client.sendAll("abc");
    assert.equal(await conn.recvInto(buf, { timeout: LIMIT }), 3);
    assert.equal(dec.decode(buf.subarray(0, 3)), "abc");
    assert.equal(await conn.recvInto(new Uint8Array(0)), 0);
    await assert.rejects(conn.recvInto("x" as unknown as Uint8Array), TypeError);
    // all: waits until the whole buffer can be filled.
    const filling = conn.recvInto(buf, { all: true, timeout: LIMIT });
    await client.sendAll("12345");
    await client.sendAll("678xy");
    assert.equal(await filling, 8);
    assert.equal(dec.decode(buf), "12345678");
    // Up to the buffer's length from what is buffered.
    const two = new Uint8Array(1);
    assert.equal(await conn.recvInto(two), 1);
    assert.equal(dec.decode(two), "x");
    await client.closeWrite();
    const err = await conn.recvInto(new Uint8Array(4), { all: true }).catch((e) => e);
    assert.ok(err instanceof ConnectionClosed);
    assert.match(err.message, /after 1 of 4 bytes/);
    assert.equal(await conn.recvInto(buf), 1); // "y" stayed buffered
    assert.equal(await conn.recvInto(buf), null);
  });
});

Deno.test("recvInto: an interrupted call leaves the buffer alone and loses nothing", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const buf = new Uint8Array(16).fill(0xee);
    await terminateWhileWaiting(s, () => conn.recvInto(buf));
    await client.sendAll("later");
    const mine = new Uint8Array(16);
    assert.equal(await conn.recvInto(mine, { timeout: LIMIT }), 5);
    assert.equal(dec.decode(mine.subarray(0, 5)), "later");
    assert.ok(buf.every((b) => b === 0xee));
  });
});

Deno.test("arrays from recv, recvAll and recvMsg stay intact while the socket reads on", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s, { bufferSize: 256 });
    const kept: [Uint8Array, Uint8Array][] = [];
    const scratch = new Uint8Array(64);
    for (let i = 0; i < 300; i++) {
      const want = pattern(1 + (i % 50), i);
      await client.sendMsg(want);
      await client.sendAll(want);
      let got: Uint8Array;
      if (i % 3 === 0) got = (await conn.recvMsg({ timeout: LIMIT }))!;
      else {
        await conn.recvAll(4, { timeout: LIMIT });
        if (i % 3 === 1) got = await conn.recvAll(want.length, { timeout: LIMIT });
        else got = await conn.recv(want.length, { timeout: LIMIT });
        while (got.length < want.length) {
          got = new Uint8Array([...got, ...await conn.recv(want.length - got.length)]);
        }
      }
      kept.push([want, got]);
      // The raw copy goes through recvInto, whose memory is reused.
      const raw = scratch.subarray(0, want.length);
      assert.equal(await conn.recvInto(raw, { all: true, timeout: LIMIT }), want.length);
      assert.deepEqual(raw, want);
    }
    for (const [want, got] of kept) assert.deepEqual(got, want);
  });
});

Deno.test("recvMsg/sendMsg: framing, empty messages, strings, messages(), null at a clean end", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const sizes = [0, 1, 5, 1000, 16380, 16384, 70_000, 3];
    const sender = s.spawn(async () => {
      for (const [i, n] of sizes.entries()) await client.sendMsg(pattern(n, i));
      await client.sendMsg("text ✓");
      await client.closeWrite();
    });
    for (const [i, n] of sizes.entries()) {
      assert.deepEqual(await conn.recvMsg({ timeout: LIMIT }), pattern(n, i));
    }
    const rest: string[] = [];
    for await (const m of conn.messages({ timeout: LIMIT })) rest.push(dec.decode(m));
    assert.deepEqual(rest, ["text ✓"]);
    assert.equal(await conn.recvMsg(), null);
    await sender.finish({ timeout: LIMIT });
    await assert.rejects(client.sendAll("x"), ConnectionClosed); // write side is shut
  });
});

Deno.test("recvMsg: a frame split across writes at every byte is reassembled (real socket)", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s, { noDelay: true });
    const f = frame(pattern(40, 9));
    const receiver = s.spawn(() => conn.recvMsg({ timeout: LIMIT }));
    for (let i = 0; i < f.length; i++) await client.sendAll(f.subarray(i, i + 1));
    assert.deepEqual(await receiver.finish({ timeout: LIMIT }), pattern(40, 9));
  });
});

Deno.test("recvMsg: a frame fed one byte at a time stays whole in the buffer (fake connection)", async () => {
  await withScheduler(async (s) => {
    const [sock, fake] = fakeSocket(s);
    const f = frame(pattern(10, 1));
    const p = sock.recvMsg({ timeout: LIMIT });
    for (let i = 0; i < f.length - 1; i++) {
      assert.ok(fake.reading, `a read is outstanding before byte ${i}`);
      const taken = fake.nextRead();
      fake.feed(f.subarray(i, i + 1));
      await taken; // the byte is buffered and the socket wants more
    }
    assert.equal(sock.buffered, f.length - 1);
    fake.feed(f.subarray(f.length - 1));
    assert.deepEqual(await p, pattern(10, 1));
    assert.equal(sock.buffered, 0);
    fake.feed(null);
    assert.equal(await sock.recvMsg(), null);
    sock.close();
  });
});

Deno.test("recvMsg: end of stream inside a frame rejects with ConnectionClosed", async () => {
  await withScheduler(async (s) => {
    const [sock, fake] = fakeSocket(s);
    fake.feed(frame(pattern(10)).subarray(0, 8));
    fake.feed(null);
    const err = await sock.recvMsg().catch((e) => e);
    assert.ok(err instanceof ConnectionClosed);
    assert.match(err.message, /inside a message of 10 bytes/);
    const [sock2, fake2] = fakeSocket(s);
    fake2.feed(new Uint8Array([0, 0]));
    fake2.feed(null);
    await assert.rejects(sock2.recvMsg(), /inside a message header/);
  });
});

Deno.test("oversized message: the sender refuses it; the receiver closes only that connection", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({
      hostname: "127.0.0.1",
      port: 0,
      maxMessageSize: 1024,
      scheduler: s,
    });
    const results: unknown[] = [];
    const handler = s.spawn(async () => {
      for await (const conn of server) {
        s.spawn(async () => {
          try {
            for (let m; (m = await conn.recvMsg({ timeout: LIMIT })) !== null;) {
              await conn.sendMsg(m);
            }
            results.push("eof");
          } catch (e) {
            results.push(e);
          } finally {
            conn.close();
          }
        });
      }
    });
    const port = server.localAddr.port;
    const good = await AsyncSocket.connect({ hostname: "127.0.0.1", port, scheduler: s });
    const bad = await AsyncSocket.connect({
      hostname: "127.0.0.1",
      port,
      maxMessageSize: 4096,
      scheduler: s,
    });
    // Sending side: over its own limit, nothing is sent and the socket is fine.
    const refused = await bad.sendMsg(new Uint8Array(5000)).catch((e) => e);
    assert.ok(refused instanceof MessageTooLarge);
    assert.equal(refused.size, 5000);
    assert.equal(refused.limit, 4096);
    await assert.rejects(bad.sendMsg("abc", { maxSize: 2 }), MessageTooLarge);
    await bad.sendMsg("fine");
    assert.equal(dec.decode((await bad.recvMsg({ timeout: LIMIT }))!), "fine");
    // Receiving side: the server's limit is 1024.
    await bad.sendMsg(new Uint8Array(2000));
    assert.equal(await bad.recvMsg({ timeout: LIMIT }), null); // server closed this connection
    const err = results[0];
    assert.ok(err instanceof MessageTooLarge, String(err));
    assert.equal(err.size, 2000);
    assert.equal(err.limit, 1024);
    // The other connection and the server are undisturbed.
    await good.sendMsg("still here");
    assert.equal(dec.decode((await good.recvMsg({ timeout: LIMIT }))!), "still here");
    const late = await AsyncSocket.connect({ hostname: "127.0.0.1", port, scheduler: s });
    await late.sendMsg("new");
    assert.equal(dec.decode((await late.recvMsg({ timeout: LIMIT }))!), "new");
    // recvMsg's own maxSize applies too.
    const [c2, d2] = await tcpPair(s);
    await c2.sendMsg(new Uint8Array(100));
    await assert.rejects(d2.recvMsg({ maxSize: 99, timeout: LIMIT }), MessageTooLarge);
    assert.equal(d2.closed, true);
    good.close();
    late.close();
    bad.close();
    server.close();
    await handler.finish({ timeout: LIMIT });
  });
});

Deno.test("timeouts reject with TimeoutError and lose nothing; bad options are RangeErrors", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    await assert.rejects(conn.recv(10, { timeout: 1 }), TimeoutError);
    await assert.rejects(conn.recvAll(10, { timeout: 0 }), TimeoutError);
    await assert.rejects(conn.recvMsg({ timeout: 1 }), TimeoutError);
    await assert.rejects(conn.readLine({ timeout: 1 }), TimeoutError);
    await assert.rejects(conn.recv(10, { timeout: -1 }), RangeError);
    await assert.rejects(conn.recv(0), RangeError);
    await assert.rejects(conn.recvAll(-1), RangeError);
    await assert.rejects(conn.recvMsg({ maxSize: -5 }), RangeError);
    // Half a frame arrives, the reader times out; the rest arrives later.
    const f = frame(pattern(30_000, 4));
    await client.sendAll(f.subarray(0, 100));
    await assert.rejects(conn.recvMsg({ timeout: 1 }), TimeoutError);
    await client.sendAll(f.subarray(100));
    assert.deepEqual(await conn.recvMsg({ timeout: LIMIT }), pattern(30_000, 4));
  });
});

Deno.test("an aborted signal rejects with its reason and leaves the socket usable", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const ac = new AbortController();
    const p = conn.recvMsg({ signal: ac.signal });
    ac.abort(new Error("stop"));
    await assert.rejects(p, /stop/);
    await assert.rejects(
      conn.recv(5, { signal: AbortSignal.abort("already") }),
      (e) => e === "already",
    );
    await client.sendMsg("after abort");
    assert.equal(dec.decode((await conn.recvMsg({ timeout: LIMIT }))!), "after abort");
  });
});

Deno.test("terminate while waiting in recvMsg: TaskTerminated, and the next message arrives whole", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const victim = await spawnWaiting(s, () => conn.recvMsg());
    // Part of a frame arrives while the victim waits.
    const f = frame(pattern(50_000, 7));
    await client.sendAll(f.subarray(0, 20_000));
    victim.terminate();
    await assert.rejects(victim.finish({ timeout: LIMIT }), TaskTerminated);
    await client.sendAll(f.subarray(20_000));
    await client.sendMsg("second");
    const next = s.spawn(async () => [await conn.recvMsg(), await conn.recvMsg()]);
    const [a, b] = (await next.finish({ timeout: LIMIT }))!;
    assert.deepEqual(a, pattern(50_000, 7));
    assert.equal(dec.decode(b!), "second");
  });
});

Deno.test("terminate while waiting in recv and in recvAll: nothing is lost", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    for (const how of ["recv", "recvAll"] as const) {
      await terminateWhileWaiting(s, () => how === "recv" ? conn.recv(100) : conn.recvAll(8));
      await client.sendAll(`${how}-data`);
      assert.equal(
        dec.decode(await conn.recvAll(how.length + 5, { timeout: LIMIT })),
        `${how}-data`,
      );
    }
  });
});

Deno.test("terminate a task queued behind another reader: the other one is served from the buffer", async () => {
  await withScheduler(async (s) => {
    const [sock, fake] = fakeSocket(s);
    const first = await spawnWaiting(s, () => sock.recvAll(10));
    const second = await spawnWaiting(s, () => sock.recv(10));
    const taken = fake.nextRead();
    fake.feed(enc.encode("12345"));
    await taken;
    // `first` waits for 10 bytes, `second` waits behind it; 5 are buffered.
    assert.equal(sock.buffered, 5);
    first.terminate();
    await assert.rejects(first.finish(), TaskTerminated);
    assert.equal(dec.decode((await second.finish({ timeout: LIMIT }))!), "12345");
    sock.close();
  });
});

Deno.test("readers and writers are served in order; concurrent sendMsg frames never interleave", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const big = pattern(300_000, 1);
    const senders = Array.from({ length: 8 }, (_, i) =>
      s.spawn(async () => {
        for (let r = 0; r < 5; r++) await client.sendMsg(i % 2 ? big : enc.encode(`m${i}.${r}`));
      }));
    const got: string[] = [];
    for (let k = 0; k < 40; k++) {
      const m = (await conn.recvMsg({ timeout: LIMIT }))!;
      if (m.length === big.length) {
        assert.deepEqual(m, big);
        got.push("big");
      } else got.push(dec.decode(m));
    }
    for (const t of senders) await t.finish({ timeout: LIMIT });
    assert.equal(got.filter((g) => g === "big").length, 20);
    for (let i = 0; i < 8; i += 2) {
      assert.deepEqual(
        got.filter((g) => g.startsWith(`m${i}.`)),
        [0, 1, 2, 3, 4].map((r) => `m${i}.${r}`),
      );
    }
    // Two readers at once get consecutive messages in the order they asked.
    await client.sendMsg("a");
    await client.sendMsg("b");
    const [x, y] = await Promise.all([conn.recvMsg(), conn.recvMsg()]);
    assert.deepEqual([dec.decode(x!), dec.decode(y!)], ["a", "b"]);
  });
});

Deno.test("send writes once; sendAll and a big sendMsg survive partial writes", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    const n = await client.send(enc.encode("hello"));
    assert.equal(n, 5);
    assert.equal(dec.decode(await conn.recvAll(5, { timeout: LIMIT })), "hello");
    const huge = pattern(8 * 1024 * 1024, 5);
    const sender = s.spawn(() => client.sendMsg(huge));
    const got = await conn.recvMsg({ timeout: LIMIT });
    assert.deepEqual(got, huge);
    await sender.finish({ timeout: LIMIT });
    assert.equal(await client.send(new Uint8Array(0)), 0);
  });
});

Deno.test("a send given up on mid-way still goes out whole; one that had not started is dropped", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    // Far more than the kernel buffers hold while nobody reads: this send blocks.
    const big = pattern(32 * 1024 * 1024, 3);
    await assert.rejects(client.sendAll(big, { timeout: 20 }), TimeoutError);
    await assert.rejects(client.sendMsg("dropped", { timeout: 1 }), TimeoutError);
    const third = client.sendMsg("third");
    assert.deepEqual(await conn.recvAll(big.length, { timeout: LIMIT }), big);
    await third;
    assert.equal(dec.decode((await conn.recvMsg({ timeout: LIMIT }))!), "third");
  });
});

Deno.test("readLine: LF and CRLF, keepEnd, a last line without newline, null at the end, too long", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    await client.sendAll("one\ntwo\r\n\nthré");
    assert.equal(await conn.readLine({ timeout: LIMIT }), "one");
    assert.equal(await conn.readLine({ timeout: LIMIT, keepEnd: true }), "two\r\n");
    assert.equal(await conn.readLine({ timeout: LIMIT }), "");
    await client.sendAll("e\n" + "x".repeat(100) + "\nlast");
    assert.equal(await conn.readLine({ timeout: LIMIT }), "thrée");
    await assert.rejects(conn.readLine({ maxLength: 50, timeout: LIMIT }), MessageTooLarge);
    assert.equal(await conn.readLine({ timeout: LIMIT }), "x".repeat(100)); // kept buffered
    await client.closeWrite();
    assert.equal(await conn.readLine({ timeout: LIMIT }), "last");
    assert.equal(await conn.readLine(), null);
    // A line longer than the receive buffer.
    const [c2, d2] = await tcpPair(s, { bufferSize: 64 });
    const long = "y".repeat(5000);
    await c2.sendAll(long + "\n");
    assert.equal(await d2.readLine({ timeout: LIMIT }), long);
  });
});

Deno.test("close ends pending operations with ConnectionClosed and later ones too", async () => {
  await withScheduler(async (s) => {
    const [client, conn, server] = await tcpPair(s);
    const reader = await spawnWaiting(s, () => conn.recvMsg());
    const acceptor = await spawnWaiting(s, () => server.accept());
    conn.close();
    server.close();
    await assert.rejects(reader.finish({ timeout: LIMIT }), ConnectionClosed);
    await assert.rejects(acceptor.finish({ timeout: LIMIT }), ConnectionClosed);
    await assert.rejects(conn.recv(1), ConnectionClosed);
    await assert.rejects(conn.sendAll("x"), ConnectionClosed);
    await assert.rejects(conn.startTls(), ConnectionClosed);
    conn.close(); // idempotent
    assert.equal(conn.closed, true);
    // The peer sees the end of the stream.
    assert.equal((await client.recv(1, { timeout: LIMIT })).length, 0);
    await client[Symbol.asyncDispose]();
  });
});

Deno.test("a send to a peer that vanished rejects with ConnectionClosed", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    conn.close();
    assert.equal((await client.recv(1, { timeout: LIMIT })).length, 0);
    // The first writes may still be accepted by the kernel; keep writing until the reset shows.
    const err = await (async () => {
      for (let i = 0; i < 1000; i++) await client.sendAll(new Uint8Array(65536));
    })().catch((e) => e);
    assert.ok(err instanceof ConnectionClosed, String(err));
    await assert.rejects(client.sendAll("x"), ConnectionClosed);
  });
});

Deno.test("the owning scheduler's finish() closes its servers and sockets", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    let conn: AsyncSocket | undefined;
    const accepted = new Event();
    const daemon = s.spawn(async (task) => {
      task.setDaemon();
      conn = await server.accept();
      accepted.set();
      await conn.recvMsg(); // left waiting: finish() terminates the daemon
    });
    const client = await AsyncSocket.connect({
      hostname: "127.0.0.1",
      port: server.localAddr.port,
      scheduler: s,
    });
    await client.sendAll("x"); // left unread
    assert.equal(await accepted.wait({ timeout: LIMIT }), true);
    await s.finish();
    await assert.rejects(daemon.finish(), TaskTerminated);
    assert.equal(server.closed, true);
    assert.equal(client.closed, true);
    assert.equal(conn?.closed, true);
  });
});

Deno.test("sockets made inside a task belong to that task's scheduler", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async () => {
      const server = AsyncServer.listen({ hostname: "127.0.0.1", port: 0 });
      const c = await AsyncSocket.connect({ hostname: "127.0.0.1", port: server.localAddr.port });
      const d = await server.accept();
      return [server, c, d] as const;
    });
    const [server, c, d] = (await t.finish({ timeout: LIMIT }))!;
    await s.finish();
    assert.ok(server.closed && c.closed && d.closed);
  });
});

Deno.test("connect: refused, already aborted, and terminated while connecting", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const port = server.localAddr.port;
    server.close();
    await assert.rejects(
      AsyncSocket.connect({ hostname: "127.0.0.1", port, scheduler: s }),
      Deno.errors.ConnectionRefused,
    );
    await assert.rejects(
      AsyncSocket.connect({
        hostname: "127.0.0.1",
        port,
        signal: AbortSignal.abort(new Error("no")),
      }),
      /no/,
    );
    await assert.rejects(
      AsyncSocket.connect({ transport: "bogus", port } as unknown as { port: number }),
      TypeError,
    );
    const live = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    await assert.rejects(
      AsyncSocket.connect({ hostname: "127.0.0.1", port: live.localAddr.port, maxMessageSize: -1 }),
      RangeError,
    );
    const t = s.spawn(() =>
      AsyncSocket.connect({ hostname: "127.0.0.1", port: live.localAddr.port })
    );
    t.terminate();
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
  });
});

Deno.test("an accept given up on hands its connection to the next accept", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    await assert.rejects(server.accept({ timeout: 1 }), TimeoutError);
    await terminateWhileWaiting(s, () => server.accept());
    const client = await AsyncSocket.connect({
      hostname: "127.0.0.1",
      port: server.localAddr.port,
      scheduler: s,
    });
    const conn = await server.accept({ timeout: LIMIT });
    await client.sendAll("hi");
    assert.equal(dec.decode(await conn.recvAll(2, { timeout: LIMIT })), "hi");
  });
});

Deno.test("unix socket: echo over a socket file (in a program allowed to use that path)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/echo.sock`;
    const out = await output(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        `--allow-net=unix:${path}`,
        new URL("./fixtures/unix_echo.ts", import.meta.url).pathname,
        path,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const stdout = dec.decode(out.stdout);
    assert.equal(out.code, 0, stdout + dec.decode(out.stderr));
    assert.deepEqual(stdout.trim().split("\n"), [
      "listening on the path",
      "echo: over",
      "echo: unix",
      "startTls: TypeError",
      "server: client left",
      "done",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an aborted signal or a bad timeout takes no buffered bytes", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    await client.sendAll("hello\n");
    // Wait until the bytes are buffered on the server side, then take nothing.
    assert.equal(dec.decode(await conn.recvAll(1, { timeout: LIMIT })), "h");
    const reason = new Error("gave up");
    await assert.rejects(conn.recv(10, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(conn.readLine({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(conn.recvAll(2, { timeout: -1 }), RangeError);
    assert.equal(await conn.readLine({ timeout: LIMIT }), "ello"); // readLine drops the end
  });
});

Deno.test("listen with bad socket options throws RangeError before it listens", () => {
  for (const bad of [{ bufferSize: 1 }, { maxMessageSize: -1 }]) {
    assert.throws(() => AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, ...bad }), RangeError);
  }
});

Deno.test("accept with an aborted signal takes no waiting connection", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const client = await AsyncSocket.connect({
      hostname: "127.0.0.1",
      port: server.localAddr.port,
      scheduler: s,
    });
    // The first accept takes the connection, so it waits in the server for the next one.
    await client.sendMsg("hello");
    const reason = new Error("gave up");
    await assert.rejects(server.accept({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    const conn = await server.accept({ timeout: LIMIT });
    assert.equal(dec.decode((await conn.recvMsg({ timeout: LIMIT }))!), "hello");
    conn.close();
    client.close();
    server.close();
  });
});
