/**
 * Edge cases of the I/O read and write paths: wait options refused before the fast path
 * of file and pipe reads, the short `sendAll` path, and lines split across
 * reads and chunk moves in `ReadBuffer`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AsyncFile, ReadBuffer, Scheduler } from "../../mod.ts";
import { enc, LIMIT, tcpPair } from "./_net_util.ts";
import { withScheduler } from "../core/_util.ts";

/** Appends `bytes` as a read would. */
function feed(rb: ReadBuffer, bytes: Uint8Array, need = 0): void {
  const room = rb.space(need);
  assert.ok(room.length >= bytes.length, `room ${room.length} for ${bytes.length} bytes`);
  room.set(bytes);
  rb.commit(bytes.length);
}

Deno.test("file readLine with an aborted signal or a bad timeout takes no buffered line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denocos_read_edges_" });
  const scheduler = new Scheduler();
  try {
    const path = join(dir, "lines.txt");
    await Deno.writeTextFile(path, "one\ntwo\nthree\n");
    await using f = await AsyncFile.open(path, { scheduler });
    assert.equal(await f.readLine({ timeout: LIMIT }), "one");
    assert.ok(f.buffered > 0); // the rest was read ahead: the next reads take the fast path
    const reason = new Error("gave up");
    await assert.rejects(f.readLine({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(f.read(100, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(f.readLine({ timeout: -1 }), RangeError);
    assert.equal(await f.readLine({ timeout: LIMIT }), "two");
  } finally {
    await scheduler.terminate();
    await scheduler.finish();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendAll resolves undefined also after a send", async () => {
  await withScheduler(async (s) => {
    const [client, conn] = await tcpPair(s);
    assert.equal(await client.send(enc.encode("abc"), { timeout: LIMIT }), 3);
    assert.equal(await client.sendAll(enc.encode("defg"), { timeout: LIMIT }), undefined);
    assert.equal((await conn.recvAll(7, { timeout: LIMIT })).length, 7);
  });
});

Deno.test("ReadBuffer takeLine with \\r\\n split across reads and across a chunk move", () => {
  const rb = new ReadBuffer(64);
  feed(rb, enc.encode("ab\r"));
  assert.equal(rb.takeLine(100, false, false), undefined);
  feed(rb, enc.encode("\ncd\n"));
  assert.equal(rb.takeLine(100, false, false), "ab");
  assert.equal(rb.takeLine(100, true, false), "cd\n");
  // Fill the chunk so that the `\r` sits at its very end, then make the
  // unread bytes move to a fresh chunk before the `\n` arrives.
  const head = rb.space().length;
  feed(rb, enc.encode("x".repeat(head - 1) + "\r"));
  assert.equal(rb.takeLine(1000, false, false), undefined);
  const moved = rb.space(head + 10);
  assert.ok(moved.length >= 10);
  feed(rb, enc.encode("\nz\r\n"));
  assert.equal(rb.takeLine(1000, false, false), "x".repeat(head - 1));
  assert.equal(rb.takeLine(1000, false, false), "z");
  assert.equal(rb.length, 0);
});

Deno.test("ReadBuffer views taken before a chunk move stay intact", () => {
  const rb = new ReadBuffer(1024);
  const big = new Uint8Array(600).fill(1);
  feed(rb, big);
  const view = rb.takeExactly(600)!; // a view of the chunk
  const small = (feed(rb, new Uint8Array(10).fill(2)), rb.takeExactly(5)!); // copied out
  // A need larger than the chunk moves the 5 unread bytes to a fresh one.
  feed(rb, new Uint8Array(2000).fill(3), 2005);
  const rest = rb.takeExactly(2005)!;
  assert.ok(view.every((b) => b === 1));
  assert.ok(small.every((b) => b === 2));
  assert.ok(rest.subarray(0, 5).every((b) => b === 2));
  assert.ok(rest.subarray(5).every((b) => b === 3));
  // Memory freed by copyTo is reused, but never under a view handed out.
  feed(rb, new Uint8Array(40).fill(4));
  assert.equal(rb.copyTo(new Uint8Array(40)), 40);
  feed(rb, new Uint8Array(40).fill(5));
  assert.ok(rest.subarray(5).every((b) => b === 3));
});
