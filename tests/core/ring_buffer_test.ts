import assert from "node:assert/strict";
import { RingBuffer } from "../../mod.ts";

Deno.test("RingBuffer is FIFO and reports its length", () => {
  const q = new RingBuffer<number>();
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
  assert.equal(q.peek(), undefined);
  q.push(1);
  q.push(2);
  q.push(3);
  assert.equal(q.length, 3);
  assert.equal(q.peek(), 1);
  assert.equal(q.shift(), 1);
  assert.equal(q.shift(), 2);
  assert.equal(q.length, 1);
  assert.equal(q.shift(), 3);
  assert.equal(q.shift(), undefined);
  assert.equal(q.length, 0);
});

Deno.test("RingBuffer keeps order when it grows while wrapped around", () => {
  const q = new RingBuffer<number>(4);
  const model: number[] = [];
  let next = 0;
  // Interleave pushes and shifts so the head wraps before each growth.
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < (round % 5) + 2; i++) {
      q.push(next);
      model.push(next++);
    }
    for (let i = 0; i < (round % 3) + 1 && model.length > 0; i++) {
      assert.equal(q.shift(), model.shift());
    }
    assert.equal(q.length, model.length);
    assert.deepEqual([...q], model);
  }
  while (model.length > 0) assert.equal(q.shift(), model.shift());
  assert.equal(q.length, 0);
});

Deno.test("RingBuffer holds undefined and null items", () => {
  const q = new RingBuffer<unknown>();
  q.push(undefined);
  q.push(null);
  assert.equal(q.length, 2);
  assert.equal(q.shift(), undefined);
  assert.equal(q.length, 1);
  assert.equal(q.shift(), null);
  assert.equal(q.length, 0);
});

Deno.test("RingBuffer clear empties it and it stays usable", () => {
  const q = new RingBuffer<string>();
  for (let i = 0; i < 100; i++) q.push(`${i}`);
  q.clear();
  assert.equal(q.length, 0);
  assert.deepEqual([...q], []);
  q.push("again");
  assert.equal(q.shift(), "again");
});

Deno.test("RingBuffer iteration does not consume", () => {
  const q = new RingBuffer<number>();
  for (let i = 0; i < 20; i++) q.push(i);
  for (let i = 0; i < 5; i++) q.shift();
  assert.deepEqual([...q], Array.from({ length: 15 }, (_, i) => i + 5));
  assert.equal(q.length, 15);
});

Deno.test("RingBuffer with a non-power-of-two capacity still works", () => {
  const q = new RingBuffer<number>(10);
  for (let i = 0; i < 100; i++) q.push(i);
  for (let i = 0; i < 100; i++) assert.equal(q.shift(), i);
});
