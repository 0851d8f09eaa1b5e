/** ReadBuffer: the receive memory behind AsyncSocket. */
import assert from "node:assert/strict";
import { MessageTooLarge, ReadBuffer } from "../../mod.ts";

/** Appends `bytes` as a read would. */
function feed(rb: ReadBuffer, bytes: number[] | Uint8Array, need = 0): void {
  const room = rb.space(need);
  assert.ok(room.length >= bytes.length, `room ${room.length} for ${bytes.length} bytes`);
  room.set(bytes);
  rb.commit(bytes.length);
}

// First in this file, so that it is the first take of this module: an
// empty one before the shared block exists.
Deno.test("ReadBuffer: an empty take", () => {
  const rb = new ReadBuffer(64);
  assert.equal(rb.takeExactly(0)!.length, 0);
  feed(rb, [1]);
  assert.equal(rb.takeExactly(0)!.length, 0);
  assert.deepEqual([...rb.takeExactly(1)!], [1]);
});

Deno.test("ReadBuffer: later reads never overwrite what was taken", () => {
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
  const view = rb.takeUpTo(1)!; // small: copied out, the chunk stays reusable
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

Deno.test("ReadBuffer: small takes are copied side by side, big ones are views of the chunk", () => {
  const rb = new ReadBuffer(1024);
  feed(rb, Array.from({ length: 100 }, (_, i) => i));
  const a = rb.takeExactly(40)!;
  const b = rb.takeExactly(60)!;
  assert.deepEqual([...a], Array.from({ length: 40 }, (_, i) => i));
  assert.deepEqual([...b], Array.from({ length: 60 }, (_, i) => i + 40));
  // Both in the shared block, one after the other, not in the chunk.
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.byteOffset, a.byteOffset + 40);
  const room = rb.space();
  assert.notEqual(room.buffer, a.buffer);
  // The chunk was only copied from: the next read lands at its start again.
  assert.equal(room.byteOffset, 0);
  feed(rb, new Uint8Array(600).fill(7));
  const big = rb.takeExactly(600)!;
  assert.equal(big.buffer, room.buffer); // a view, not a copy
  feed(rb, [1, 2, 3]);
  assert.ok(rb.space().byteOffset >= 603); // memory under a view is never reused
  assert.equal(big[599], 7);
  assert.deepEqual([...a.subarray(0, 3)], [0, 1, 2]);
  // Thousands of small takes stay intact as blocks fill up.
  const kept: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) {
    feed(rb, Array.from({ length: 20 }, () => i & 255));
    rb.skip(rb.length - 20);
    kept.push(rb.takeExactly(20)!);
  }
  kept.forEach((k, i) => assert.ok(k.length === 20 && k.every((x) => x === (i & 255))));
  assert.equal(rb.takeExactly(0)!.length, 0);
});

Deno.test("ReadBuffer: takeLine", () => {
  const rb = new ReadBuffer(64);
  const text = new TextEncoder();
  feed(rb, text.encode("héllo\r\nworld\n\nlast\r"));
  assert.equal(rb.takeLine(100, false, false), "héllo");
  assert.equal(rb.takeLine(100, true, false), "world\n");
  assert.equal(rb.takeLine(100, false, false), "");
  // No `\n` yet: nothing taken until the stream ends; then the rest, as it is.
  assert.equal(rb.takeLine(100, false, false), undefined);
  assert.equal(rb.length, 5);
  assert.equal(rb.takeLine(100, false, true), "last\r");
  assert.equal(rb.takeLine(100, false, true), undefined);
  // Too long: refused, nothing taken (with or without its `\n`).
  feed(rb, text.encode("0123456789\n"));
  assert.throws(() => rb.takeLine(9, false, false), MessageTooLarge);
  assert.equal(rb.length, 11);
  assert.equal(rb.takeLine(10, false, false), "0123456789");
  feed(rb, text.encode("0123456789"));
  assert.throws(() => rb.takeLine(9, false, true), MessageTooLarge);
  assert.equal(rb.takeLine(10, false, true), "0123456789");
  // Lines are decoded in place: the chunk is read into again from its start.
  feed(rb, text.encode("x\n"));
  const at = rb.space().byteOffset;
  assert.equal(rb.takeLine(10, false, false), "x");
  assert.equal(rb.space().byteOffset, at - 2);
});

Deno.test("ReadBuffer: an announced length is reserved only as bytes arrive, and never passed", () => {
  const rb = new ReadBuffer(1024);
  const total = (1 << 20) + 4;
  feed(rb, [0, 0x10, 0, 0]); // a header announcing 1 MiB
  let room = rb.space(total, true);
  assert.ok(room.length <= 1024, `${room.length} bytes offered for 4 received`);
  assert.ok(rb.capacity <= 2048);
  while (rb.length < total) {
    room = rb.space(total, true);
    const n = Math.min(room.length, 1000, total - rb.length);
    room.fill(7, 0, n);
    rb.commit(n);
    assert.ok(rb.capacity <= 2 * rb.length + 1024, `${rb.capacity} held for ${rb.length}`);
    assert.ok(rb.capacity <= total);
  }
  assert.equal(rb.capacity, total); // the last growth stopped at the frame's end
  rb.skip(4);
  const payload = rb.takeExactly(1 << 20)!;
  assert.ok(payload.every((b) => b === 7));
  // A trusted need (recvAll's) still gets its memory at once.
  assert.ok(rb.space(100_000).length >= 100_000);
});

Deno.test("ReadBuffer: a line's end is searched for only in new bytes, also after the memory is reused", () => {
  const rb = new ReadBuffer(64);
  const text = new TextEncoder();
  feed(rb, text.encode("abc"));
  assert.equal(rb.takeLine(100, false, false), undefined);
  assert.equal(rb.lineLength(), -1);
  feed(rb, text.encode("d\nef"));
  assert.equal(rb.lineLength(), 5);
  assert.equal(rb.takeLine(100, false, false), "abcd");
  assert.equal(rb.takeLine(100, false, false), undefined); // "ef" searched
  // Drained by copying: the next read lands at the floor, over searched bytes.
  assert.equal(rb.copyTo(new Uint8Array(10)), 2);
  feed(rb, text.encode("x\ny"));
  assert.equal(rb.takeLine(100, false, false), "x");
  assert.equal(rb.takeLine(100, false, false), undefined);
  rb.clear();
  feed(rb, text.encode("z\n"));
  assert.equal(rb.takeLine(100, false, false), "z");
  // Bytes waiting for a line end double the chunk, so they move few times.
  const big = new ReadBuffer(64);
  let moves = 0;
  for (let i = 0; i < 10_000; i++) {
    const before = big.capacity;
    feed(big, text.encode("0123456789"));
    if (big.capacity !== before) moves++;
    assert.equal(big.takeLine(1 << 20, false, false), undefined);
  }
  assert.ok(moves <= 20, `${moves} chunk moves for 100,000 bytes`);
  feed(big, text.encode("\n"));
  assert.equal(big.takeLine(1 << 20, false, false), "0123456789".repeat(10_000));
});
