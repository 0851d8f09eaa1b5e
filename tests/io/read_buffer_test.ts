/** ReadBuffer: the receive memory behind AsyncSocket. */
import assert from "node:assert/strict";
import { ReadBuffer } from "../../mod.ts";

/** Appends `bytes` as a read would. */
function feed(rb: ReadBuffer, bytes: number[] | Uint8Array, need = 0): void {
  const room = rb.space(need);
  assert.ok(room.length >= bytes.length, `room ${room.length} for ${bytes.length} bytes`);
  room.set(bytes);
  rb.commit(bytes.length);
}

Deno.test("ReadBuffer: takes are views that later reads never overwrite", () => {
  const rb = new ReadBuffer(64);
  const kept: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    feed(rb, [i, i + 1, i + 2]);
    kept.push(rb.takeExactly(3)!);
  }
  kept.forEach((v, i) => assert.deepEqual([...v], [i & 255, (i + 1) & 255, (i + 2) & 255]));
  assert.equal(rb.length, 0);
  assert.equal(rb.takeUpTo(10), null);
  assert.equal(rb.takeExactly(1), null);
});

Deno.test("ReadBuffer: bytes copied out free their memory for the next read", () => {
  const rb = new ReadBuffer(1024);
  const dst = new Uint8Array(100);
  feed(rb, [1, 2, 3]);
  const at = rb.space().byteOffset;
  assert.equal(rb.copyTo(dst), 3);
  assert.deepEqual([...dst.subarray(0, 3)], [1, 2, 3]);
  // Drained by copying: the next read lands where the last one did.
  const again = rb.space();
  assert.equal(again.byteOffset, at - 3);
  feed(rb, [4, 5]);
  const view = rb.takeUpTo(1)!; // a view: the memory below it is kept from now on
  assert.equal(rb.copyTo(dst), 1);
  feed(rb, [6]);
  assert.deepEqual([...view], [4]);
  assert.equal(rb.copyTo(dst), 1);
  assert.equal(dst[0], 6);
  assert.equal(rb.copyTo(dst), 0);
  // More than 32 bytes take the set() path.
  feed(rb, Array.from({ length: 50 }, (_, i) => i));
  const small = new Uint8Array(40);
  assert.equal(rb.copyTo(small), 40);
  assert.deepEqual([...small], Array.from({ length: 40 }, (_, i) => i));
  assert.equal(rb.length, 10);
});

Deno.test("ReadBuffer: a big need gets a chunk of its own; unread bytes move along", () => {
  const rb = new ReadBuffer(64);
  feed(rb, [9, 9, 9, 9]);
  rb.skip(2);
  const room = rb.space(10_000);
  assert.ok(room.length >= 10_000 - 2);
  assert.equal(rb.length, 2);
  room.fill(7, 0, 9998);
  rb.commit(9998);
  const all = rb.takeExactly(10_000)!;
  assert.equal(all[0], 9);
  assert.equal(all[1], 9);
  assert.equal(all[2], 7);
  assert.equal(all[9999], 7);
});

Deno.test("ReadBuffer: frame header, lines, peek and skip, clear, bad size", () => {
  const rb = new ReadBuffer(64);
  assert.equal(rb.peekUint32(), -1);
  feed(rb, [0xff, 0, 0, 1, 65, 10, 66]);
  assert.equal(rb.peekUint32(), 0xff000001);
  rb.skip(4);
  assert.equal(rb.lineLength(), 2);
  assert.deepEqual([...rb.peek(2)], [65, 10]);
  assert.equal(rb.length, 3);
  rb.skip(2);
  assert.equal(rb.lineLength(), -1);
  rb.skip(100);
  assert.equal(rb.length, 0);
  rb.clear();
  assert.equal(rb.length, 0);
  assert.equal(rb.size, 64);
  assert.throws(() => new ReadBuffer(10), RangeError);
});
