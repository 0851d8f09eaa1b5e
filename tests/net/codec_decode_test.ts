/**
 * The codec's own decoder against msgpackr as the oracle: on random values
 * of the types both know, both decoders read the codec's bytes and
 * msgpackr's bytes to the same values. Then the parts msgpackr has no
 * counterpart for: the key cache, a decode inside a decode, and nesting
 * deeper than the stack.
 */
import assert from "node:assert/strict";
import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { Codec, registerMessageClass } from "../../src/net/codec.ts";
import { ProtocolError } from "../../src/net/errors.ts";
import { bytes, codec, fakeContext, mulberry32, roundTrip } from "./_codec_util.ts";

const unpackr = new Unpackr({ useRecords: false, moreTypes: true, mapsAsObjects: true });
const packr = new Packr({ useRecords: false, moreTypes: true });

/** Strings around the decoder's thresholds (16-byte chunks, 64-byte JS limit), ASCII and not. */
function randomString(random: () => number): string {
  const lengths = [0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200];
  const n = lengths[Math.floor(random() * lengths.length)];
  const alphabet = random() < 0.7 ? "abcxyz_-.0129 " : "aé€😀z";
  let s = "";
  while (s.length < n) s += alphabet[Math.floor(random() * alphabet.length)];
  return random() < 0.1 ? [...s].slice(0, n).join("") : s.slice(0, n);
}

const NUMBERS = [
  0,
  1,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32768,
  -32769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 53) + 1,
  0.5,
  -1.25,
  1e300,
  Number.MIN_VALUE,
  Infinity,
  -Infinity,
];

/** A random value of the types both the codec and msgpackr carry. */
function randomValue(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth > 2 ? 9 : 12));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return NUMBERS[Math.floor(random() * NUMBERS.length)];
    case 3:
    case 4:
      return randomString(random);
    case 5:
      return Uint8Array.from({ length: Math.floor(random() * 300) }, (_, i) => i * 7);
    case 6: {
      const n = Math.floor(random() * 5);
      const signs = Array.from({ length: n }, (_, i) => (i % 2 ? 3 : -5));
      switch (Math.floor(random() * 4)) {
        case 0:
          return Float64Array.from(signs);
        case 1:
          return Int16Array.from(signs);
        case 2:
          return Uint32Array.from(signs);
        default:
          return BigInt64Array.from(signs, BigInt);
      }
    }
    case 7:
      return new Date(Math.floor(random() * 4e12) - 1e12);
    case 8:
      return [1n, -(2n ** 63n), 2n ** 64n - 1n][Math.floor(random() * 3)];
    case 9: {
      const n = Math.floor(random() * 8);
      return Array.from({ length: n }, () => randomValue(random, depth + 1));
    }
    case 10: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(random() * 8);
      for (let i = 0; i < n; i++) o[randomString(random) || "k"] = randomValue(random, depth + 1);
      return o;
    }
    default:
      return new Set([randomValue(random, depth + 1), randomValue(random, depth + 1)]);
  }
}

Deno.test("codec decode: reads what msgpackr reads, on the codec's bytes and on msgpackr's", () => {
  const random = mulberry32(0xdec0de);
  const c = codec();
  for (let i = 0; i < 3000; i++) {
    const value = randomValue(random);
    const ours = c.encode(value).slice();
    assert.deepEqual(c.decode(ours), unpackr.unpack(ours), `value ${i}: ${Deno.inspect(value)}`);
    const theirs = packr.pack(value).slice();
    assert.deepEqual(
      c.decode(theirs),
      unpackr.unpack(theirs),
      `value ${i}: ${Deno.inspect(value)}`,
    );
  }
});

Deno.test("codec decode: every number form msgpackr writes", () => {
  const c = codec();
  const forms = [
    bytes(0xca, 0x3f, 0xc0, 0x00, 0x00), // float 32: 1.5
    bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // uint 64
    bytes(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), // int 64
    bytes(0xd0, 0x80), // int 8
    bytes(0xd1, 0x80, 0x00), // int 16
    bytes(0xd2, 0x80, 0, 0, 0), // int 32
    bytes(0xce, 0xff, 0xff, 0xff, 0xff), // uint 32
  ];
  for (const b of forms) assert.deepEqual(c.decode(b), unpackr.unpack(b));
  assert.equal(c.decode(bytes(0xca, 0x3f, 0xc0, 0x00, 0x00)), 1.5);
  assert.equal(
    c.decode(bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)),
    2n ** 64n - 1n,
  );
});

Deno.test("codec decode: object keys through the key cache stay exact", () => {
  const c = codec();
  const random = mulberry32(7);
  // More keys than the cache has slots, so slots are shared and replaced;
  // lengths on both sides of the cached 16 bytes; non-ASCII and empty keys.
  const keys = new Set<string>(["", "é", "😀", "a".repeat(16), "a".repeat(17), "abcdefghijklmnop"]);
  while (keys.size < 10_000) {
    const n = 1 + Math.floor(random() * 20);
    let k = "";
    for (let i = 0; i < n; i++) k += String.fromCharCode(97 + Math.floor(random() * 26));
    keys.add(k);
  }
  const all = [...keys];
  for (let round = 0; round < 3; round++) {
    const o: Record<string, number> = {};
    // A different subset and order each round: a cached key must never answer for another.
    for (let i = round; i < all.length; i += round + 1) o[all[i]] = i;
    const back = c.decode(c.encode(o).slice()) as Record<string, number>;
    assert.deepEqual(back, o);
    assert.deepEqual(Object.keys(back), Object.keys(o));
  }
  // A key another codec cached is still held to this codec's limits.
  const key = { abcdefghij: 1 };
  assert.deepEqual(c.decode(c.encode(key).slice()), key);
  assert.throws(
    () => codec({ maxStringLength: 4 }).decode(c.encode(key).slice()),
    /exceeds maxStringLength/,
  );
  // Number keys become strings, as in msgpackr; other key types are refused.
  assert.deepEqual(c.decode(bytes(0x81, 0x07, 0xc3)), { 7: true });
  assert.throws(() => c.decode(bytes(0x81, 0xc3, 0xc3)), ProtocolError);
});

Deno.test("codec decode: a decode inside a decode leaves the outer one intact", () => {
  class Sealed {
    constructor(readonly inner: unknown) {}
  }
  const inner = new Codec(fakeContext());
  registerMessageClass(1101, Sealed, {
    encode: (s) => inner.encode(s.inner).slice(),
    decode: (p) => new Sealed(inner.decode(p as Uint8Array)),
  });
  const value = { before: "x", s: new Sealed({ deep: [1, "two"] }), after: [3, { k: "v" }] };
  const back = roundTrip(value);
  assert.ok(back.s instanceof Sealed);
  assert.deepEqual(back.s.inner, { deep: [1, "two"] });
  assert.deepEqual(back.after, [3, { k: "v" }]);
  assert.equal(back.before, "x");
});

Deno.test("codec decode: nesting deeper than the stack is a ProtocolError, also with no depth limit", () => {
  const unlimited = codec({ maxDepth: 0xffff_ffff, maxArrayLength: 0xffff_ffff });
  const n = 1_000_000;
  const deep = new Uint8Array(n + 1).fill(0x91);
  deep[n] = 0x01;
  assert.throws(() => unlimited.decode(deep), ProtocolError);
  // The decoder is usable after the overflow.
  assert.deepEqual(unlimited.decode(bytes(0x92, 0x01, 0xa1, 0x61)), [1, "a"]);
});

Deno.test("codec decode: binaries are copies even when the input's slice is a view (Node's Buffer)", () => {
  class ViewSlicing extends Uint8Array {
    override slice(start?: number, end?: number): Uint8Array<ArrayBuffer> {
      return this.subarray(start, end) as Uint8Array<ArrayBuffer>;
    }
  }
  const input = new ViewSlicing(codec().encode([new Uint8Array([1, 2, 3]), new Int16Array([7])]));
  const [bin, typed] = codec().decode(input) as [Uint8Array, Int16Array];
  input.fill(0);
  assert.deepEqual(bin, new Uint8Array([1, 2, 3]));
  assert.equal(bin.constructor, Uint8Array);
  assert.deepEqual(typed, new Int16Array([7]));
});
