import assert from "node:assert/strict";
import { FrameReader, FrameWriter } from "../../src/compute/_server_protocol.ts";

/** Frames written by a `FrameWriter`, as the bytes of its writes. */
async function written(bodies: Uint8Array[]): Promise<{ bytes: Uint8Array; writes: number }> {
  const parts: Uint8Array[] = [];
  const w = new FrameWriter((b) => {
    parts.push(b.slice());
    return Promise.resolve();
  }, (e) => {
    throw e;
  });
  for (const b of bodies) w.frame(b);
  await w.flushed();
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, writes: parts.length };
}

Deno.test("frames: many frames in one write, read back whole from any split", async () => {
  const bodies = Array.from({ length: 300 }, (_, i) => new Uint8Array(i % 70 + 1).fill(i & 255));
  bodies.push(new Uint8Array(200_000).fill(7));
  const { bytes, writes } = await written(bodies);
  assert.equal(writes, 1);
  for (const step of [1, 3, 4096, bytes.length]) {
    const r = new FrameReader(1 << 20);
    const got: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += step) {
      r.push(bytes.subarray(i, i + step), (b) => got.push(b.slice()));
    }
    assert.equal(r.pending, 0);
    assert.deepEqual(got, bodies);
  }
});

Deno.test("frames: a length past the bound or zero is refused at its header", () => {
  const r = new FrameReader(1024);
  assert.throws(() => r.push(new Uint8Array([0, 0, 4, 1]), () => {}), RangeError);
  assert.throws(
    () => new FrameReader(1024).push(new Uint8Array([0, 0, 0, 0]), () => {}),
    RangeError,
  );
  // A header announcing the largest allowed frame is only a pending frame.
  const big = new FrameReader(64 * 1024 * 1024);
  big.push(new Uint8Array([4, 0, 0, 0, 1]), () => assert.fail("not whole"));
  assert.equal(big.pending, 5);
});

Deno.test("frames: a failed write reports once and drops what is queued", async () => {
  const errors: unknown[] = [];
  const w = new FrameWriter(() => Promise.reject(new Error("gone")), (e) => errors.push(e));
  w.frame(new Uint8Array([1]));
  await w.flushed();
  w.frame(new Uint8Array([2]));
  await w.flushed();
  assert.equal(errors.length, 1);
});
