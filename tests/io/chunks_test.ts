/** `_chunks.ts`: bounded growth, and the accumulator the network layer reassembles messages with. */
import assert from "node:assert/strict";
import { ByteAccumulator, grownCapacity } from "../../src/io/_chunks.ts";
import { MessageTooLarge } from "../../mod.ts";
import { pattern } from "./_net_util.ts";

Deno.test("grownCapacity: doubles what is held, gives a trusted need at once, never passes most", () => {
  assert.equal(grownCapacity(0, 0, 100), 100);
  assert.equal(grownCapacity(10, 0, 100), 110);
  assert.equal(grownCapacity(500, 0, 100), 1000);
  assert.equal(grownCapacity(10, 5000, 100), 5000); // trusted: all at once
  assert.equal(grownCapacity(4, 0, 100, 1 << 30), 104); // announced: only a step
  assert.equal(grownCapacity(700, 0, 100, 1000), 1000); // the last step lands on it
  assert.equal(grownCapacity(10, 5000, 100, 1000), 1000);
});

Deno.test("ByteAccumulator: pieces are copied in; memory stays within twice what arrived; lands on the limit", () => {
  const total = 1 << 20;
  const acc = new ByteAccumulator(total, { step: 4096 });
  assert.equal(acc.capacity, 0); // nothing before bytes arrive
  const data = pattern(total, 5);
  for (let at = 0; at < total; at += 1000) {
    const piece = data.slice(at, at + 1000);
    acc.push(piece);
    piece.fill(0); // the caller's memory is its own again
    assert.ok(acc.capacity <= 2 * acc.length + 4096, `${acc.capacity} for ${acc.length}`);
  }
  assert.equal(acc.length, total);
  assert.equal(acc.capacity, total);
  assert.throws(() => acc.push(new Uint8Array(1)), MessageTooLarge);
  assert.equal(acc.length, total); // nothing taken
  const out = acc.take();
  assert.deepEqual(out, data);
  assert.equal(out.byteLength, out.buffer.byteLength); // no slack
  assert.equal(acc.length, 0);
  assert.equal(acc.capacity, 0);
});

Deno.test("ByteAccumulator: reads go straight into space(); commit is checked; take cuts the slack", () => {
  const acc = new ByteAccumulator(100, { step: 8, what: "fragment" });
  let room = acc.space();
  assert.equal(room.length, 8);
  room.set([1, 2, 3]);
  acc.commit(3);
  assert.throws(() => acc.commit(6), RangeError); // 5 bytes of space left
  assert.throws(() => acc.commit(-1), RangeError);
  room = acc.space();
  assert.equal(room.length, 5);
  room.fill(9);
  acc.commit(5);
  room = acc.space(); // full: grows to twice what it holds
  assert.equal(room.length, 8);
  acc.commit(2);
  const out = acc.take();
  assert.deepEqual([...out], [1, 2, 3, 9, 9, 9, 9, 9, 0, 0]);
  assert.throws(() => acc.push(new Uint8Array(101)), (e) => {
    assert.ok(e instanceof MessageTooLarge);
    assert.match(e.message, /fragment of 101 bytes/);
    return true;
  });
  // At the limit, there is no more space.
  const full = new ByteAccumulator(3);
  full.push(new Uint8Array([1, 2, 3]));
  assert.equal(full.space().length, 0);
  full.clear();
  assert.equal(full.length, 0);
  assert.equal(new ByteAccumulator(0).space().length, 0);
  assert.throws(() => new ByteAccumulator(-1), RangeError);
  assert.throws(() => new ByteAccumulator(1.5), RangeError);
  assert.throws(() => new ByteAccumulator(10, { step: 0 }), RangeError);
});
