/**
 * Frames and lines far larger than a receive chunk: the memory held for them
 * grows with the bytes that have arrived, not with what a peer announces,
 * and the work to find a line end or to grow the buffer is linear in the
 * bytes received. Work is counted (`measureWork`), never timed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AsyncFile, AsyncPipe, ConnectionClosed, DEFAULT_MAX_MESSAGE_SIZE } from "../../mod.ts";
import { dec, enc, fakeSocket, frame, LIMIT, measureWork, pattern, tcpPair } from "./_net_util.ts";
import { withScheduler } from "../core/_util.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** What a connection may hold whatever it is sent: its default chunk, with room to spare. */
const SLACK = 64 * KiB;

/** A 4-byte big-endian length prefix announcing `n` bytes. */
function header(n: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, n);
  return h;
}

/** The arrays one after the other. */
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `n` bytes of printable ASCII other than `\n`, varying so that a shifted copy would not match. */
function text(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = 33 + (i % 89);
  return b;
}

Deno.test("recvMsg: headers announcing big frames reserve nothing; memory follows the bytes that arrive", async () => {
  await withScheduler(async (s) => {
    const N = 64;
    const announced = DEFAULT_MAX_MESSAGE_SIZE - 1; // allowed: just under maxSize
    const socks = Array.from({ length: N }, () => fakeSocket(s));
    const pending = socks.map(([sock]) => sock.recvMsg({ timeout: LIMIT }).catch((e) => e));
    for (const [, fake] of socks) {
      const again = fake.nextRead();
      fake.feed(header(announced));
      await again; // the header is in and the socket wants the payload
    }
    let held = 0;
    for (const [sock, fake] of socks) {
      assert.equal(sock.buffered, 4);
      assert.ok(fake.lastRoom <= SLACK, `a read offered ${fake.lastRoom} bytes for 4 received`);
      assert.ok(sock.bufferCapacity <= SLACK, `${sock.bufferCapacity} bytes held for 4 received`);
      held += sock.bufferCapacity;
    }
    assert.ok(held <= N * SLACK, `${N} connections that sent 4 bytes each hold ${held} bytes`);

    // One of them sends 1 MiB of the frame in 1 KiB pieces: at most twice that is held.
    const [sock, fake] = socks[0];
    const piece = pattern(KiB);
    for (let arrived = 0; arrived < MiB;) {
      const again = fake.nextRead();
      fake.feed(piece);
      await again;
      arrived += piece.length;
      const cap = sock.bufferCapacity;
      assert.ok(cap <= 2 * arrived + SLACK, `${cap} bytes held for ${arrived} received`);
    }
    for (const [sock] of socks) sock.close();
    for (const e of await Promise.all(pending)) assert.ok(e instanceof ConnectionClosed);
  });
});

Deno.test("recvMsg: a frame of exactly maxSize, fed in small pieces, arrives whole, and so does the next", async () => {
  await withScheduler(async (s) => {
    const size = 4 * MiB;
    const [sock, fake] = fakeSocket(s, { maxMessageSize: size });
    const payload = pattern(size, 3);
    // The tail of the big frame and a small frame share the last piece.
    const bytes = concat(frame(payload), frame(enc.encode("next")));
    const got = sock.recvMsg({ timeout: LIMIT });
    got.catch(() => {}); // awaited below; a failed check must not leave it unhandled
    const step = 16 * KiB;
    for (let at = 0; at < bytes.length; at += step) {
      const last = at + step >= bytes.length;
      const again = last ? undefined : fake.nextRead();
      fake.feed(bytes.subarray(at, at + step));
      await again;
      const arrived = Math.min(at + step, bytes.length);
      assert.ok(sock.bufferCapacity <= 2 * arrived + SLACK);
    }
    assert.deepEqual(await got, payload);
    assert.equal(dec.decode((await sock.recvMsg({ timeout: LIMIT }))!), "next");
    // The last growth stopped at the frame: no more than its size plus a chunk.
    assert.ok(sock.bufferCapacity <= size + 4 + SLACK, `${sock.bufferCapacity} bytes held`);
    sock.close();
  });
});

Deno.test("recvMsg: a large frame sent in 8 KiB pieces over TCP arrives intact", async () => {
  await withScheduler(async (s) => {
    const size = 8 * MiB;
    const [client, conn] = await tcpPair(s, { maxMessageSize: size });
    const payload = pattern(size, 11);
    const bytes = frame(payload);
    const got = s.spawn(() => conn.recvMsg({ timeout: LIMIT }));
    const sender = s.spawn(async () => {
      for (let at = 0; at < bytes.length; at += 8 * KiB) {
        await client.sendAll(bytes.subarray(at, at + 8 * KiB), { timeout: LIMIT });
      }
      await client.sendMsg("after", { timeout: LIMIT });
    });
    assert.deepEqual(await got.finish({ timeout: LIMIT }), payload);
    await sender.finish({ timeout: LIMIT });
    assert.equal(dec.decode((await conn.recvMsg({ timeout: LIMIT }))!), "after");
  });
});

Deno.test("readLine: a 32 MiB line from a peer in 64 KiB pieces is scanned and moved in linear work", async () => {
  await withScheduler(async (s) => {
    const size = 32 * MiB;
    const [client, conn] = await tcpPair(s);
    const body = text(size);
    const expected = dec.decode(body);
    let line: string | null = null;
    const work = await measureWork(async () => {
      const reader = s.spawn(() => conn.readLine({ maxLength: 64 * MiB, timeout: 4 * LIMIT }));
      const sender = s.spawn(async () => {
        for (let at = 0; at < size; at += 64 * KiB) {
          await client.sendAll(body.subarray(at, at + 64 * KiB), { timeout: LIMIT });
        }
        await client.sendAll("\r\nnext\n", { timeout: LIMIT });
      });
      line = await reader.finish({ timeout: 4 * LIMIT });
      await sender.finish({ timeout: LIMIT });
    });
    assert.equal(line, expected);
    assert.equal(await conn.readLine({ timeout: LIMIT }), "next");
    // Each received byte is searched once, and moved a bounded number of times.
    assert.ok(work.scanned <= 2 * size, `${work.scanned} bytes scanned for a ${size}-byte line`);
    assert.ok(work.copied <= 3 * size, `${work.copied} bytes copied for a ${size}-byte line`);
    assert.ok(conn.bufferCapacity <= 2 * size + SLACK, `${conn.bufferCapacity} bytes held`);
  });
});

Deno.test("readLine: a 16 MiB line from a file and from a pipe takes linear work", async () => {
  const size = 16 * MiB;
  const body = text(size);
  const expected = dec.decode(body);
  const dir = await Deno.makeTempDir({ prefix: "denocos_long_reads_" });
  try {
    const path = join(dir, "line.txt");
    await Deno.writeFile(path, concat(body, enc.encode("\ntail")));
    await withScheduler(async (scheduler) => {
      await using f = await AsyncFile.open(path, { scheduler });
      let line: string | null = null;
      const work = await measureWork(async () => {
        line = await f.readLine({ maxLength: size, timeout: 4 * LIMIT });
      });
      assert.equal(line, expected);
      assert.equal(await f.readLine({ timeout: LIMIT }), "tail");
      assert.ok(work.scanned <= 2 * size, `file: ${work.scanned} bytes scanned`);
      assert.ok(work.copied <= 3 * size, `file: ${work.copied} bytes copied`);

      const cat = AsyncPipe.spawn("cat", [path], { scheduler, stderr: "null" });
      try {
        const pipeWork = await measureWork(async () => {
          line = await cat.readLine({ maxLength: size, timeout: 4 * LIMIT });
        });
        assert.equal(line, expected);
        assert.equal(await cat.readLine({ timeout: LIMIT }), "tail");
        // A pipe's chunks are copied in once (the stream owns them), then moved.
        assert.ok(pipeWork.scanned <= 2 * size, `pipe: ${pipeWork.scanned} bytes scanned`);
        assert.ok(pipeWork.copied <= 4 * size, `pipe: ${pipeWork.copied} bytes copied`);
      } finally {
        await cat.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
