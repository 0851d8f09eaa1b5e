import assert from "node:assert/strict";
import { framedSize, Outbox } from "../../src/net/_outbox.ts";

function bytes(seq: number, n: number): Uint8Array {
  return new Uint8Array(n).fill(seq & 0xff);
}

function list(out: Outbox, from: number): [number, number, boolean][] {
  const got: [number, number, boolean][] = [];
  out.each(from, (body, large) => got.push([body[0], body.length, large]));
  return got;
}

Deno.test("outbox: messages are numbered, resent from any seq, released by acks", () => {
  const out = new Outbox();
  const sizes = [1, 63, 64, 1000, 65_536, 65_537, 200_000, 5, 40_000, 40_000, 40_000, 2];
  let total = 0;
  for (let i = 0; i < sizes.length; i++) {
    const kept = out.append(bytes(i + 1, sizes[i]));
    assert.equal(kept !== undefined, sizes[i] > 65_536, `large message ${i + 1} kept as it is`);
    total += framedSize(sizes[i]);
  }
  assert.equal(out.last, sizes.length);
  assert.equal(out.released, 0);
  assert.equal(out.bytes, total);
  const all = sizes.map((n, i) => [i + 1, n, n > 65_536]);
  assert.deepEqual(list(out, 1), all);
  assert.deepEqual(list(out, 7), all.slice(6));
  assert.deepEqual(list(out, 13), []);
  for (let upTo = 1; upTo <= sizes.length; upTo++) {
    out.release(upTo);
    total -= framedSize(sizes[upTo - 1]);
    assert.equal(out.released, upTo);
    assert.equal(out.bytes, total);
    assert.deepEqual(list(out, upTo + 1), all.slice(upTo));
  }
  assert.equal(out.bytes, 0);
  out.append(bytes(13, 3));
  assert.deepEqual(list(out, 13), [[13, 3, false]]);
  out.clear();
  assert.equal(out.last, 0);
  assert.equal(out.bytes, 0);
});

Deno.test("outbox: a long stream released as it goes keeps its memory bounded and its order", () => {
  const out = new Outbox();
  let acked = 0;
  for (let seq = 1; seq <= 100_000; seq++) {
    out.append(bytes(seq, 1 + (seq % 300)));
    if (seq % 64 === 0) {
      // Every message between the last ack and now is still there, in order.
      const seen: number[] = [];
      out.each(acked + 1, (body) => seen.push(body[0]));
      assert.deepEqual(seen, Array.from({ length: seq - acked }, (_, i) => (acked + 1 + i) & 0xff));
      out.release(acked = seq - 10);
      assert.ok(out.bytes < 10 * 310, `${out.bytes} bytes retained`);
    }
  }
});
