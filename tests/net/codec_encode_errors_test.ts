/**
 * What the codec cannot carry is a TypeError (limits: RangeError) at encode,
 * naming the value and where it sits, before any byte is produced.
 */
import assert from "node:assert/strict";
import { codec } from "./_codec_util.ts";

function encodeError(value: unknown, c = codec()): Error {
  try {
    c.encode(value);
  } catch (e) {
    return e as Error;
  }
  assert.fail("encode did not throw");
}

Deno.test("codec: functions and symbols are TypeErrors naming the path", () => {
  const cases: [unknown, RegExp][] = [
    [() => 1, /cannot encode an anonymous function at value$/],
    [{ jobs: [{ done: function done() {} }] }, /function done at value\.jobs\[0\]\.done$/],
    [[1, Symbol("s")], /symbol Symbol\(s\) at value\[1\]$/],
    [{ "odd key": [0, 1, () => 1] }, /at value\["odd key"\]\[2\]$/],
    [new Map([[1, { f: () => 1 }]]), /at value\.<Map value #0>\.f$/],
    [new Map([[() => 1, 1]]), /at value\.<Map key #0>$/],
    [new Set([1, 2, Symbol.iterator]), /at value\.<Set member #2>$/],
  ];
  for (const [value, message] of cases) {
    const e = encodeError(value);
    assert.ok(e instanceof TypeError, String(e));
    assert.match(e.message, message);
  }
});

Deno.test("codec: platform objects and unregistered classes are TypeErrors", () => {
  class Point {
    constructor(readonly x: number) {}
  }
  for (const value of [new WeakMap(), new WeakSet(), Promise.resolve(1), new WeakRef({})]) {
    const e = encodeError({ v: value });
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /an instance of \w+ at value\.v$/);
  }
  const e = encodeError([new Point(1)]);
  assert.ok(e instanceof TypeError);
  assert.match(
    e.message,
    /an instance of Point at value\[0\] \(register its class with registerMessageClass\)/,
  );
});

Deno.test("codec: cyclic values are TypeErrors, not stack overflows", () => {
  const a: unknown[] = [1];
  a.push(a);
  let e = encodeError(a);
  assert.ok(e instanceof TypeError);
  assert.match(e.message, /cyclic value: value\[1\] refers back to value$/);
  const o: Record<string, unknown> = { x: { y: {} } };
  (o.x as { y: Record<string, unknown> }).y.back = o.x;
  e = encodeError({ o });
  assert.match(e.message, /cyclic value: value\.o\.x\.y\.back refers back to value\.o\.x$/);
  const m = new Map<string, unknown>();
  m.set("self", [m]);
  e = encodeError(m);
  assert.ok(e instanceof TypeError);
  assert.match(e.message, /cyclic/);
});

Deno.test("codec: a __proto__ key is refused", () => {
  const e = encodeError({ a: JSON.parse('{"__proto__": {"polluted": true}}') });
  assert.ok(e instanceof TypeError);
  assert.match(e.message, /"__proto__" key at value\.a\.__proto__/);
});

Deno.test("codec: limits are RangeErrors at encode", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 65; i++) deep = [deep];
  const e = encodeError(deep);
  assert.ok(e instanceof RangeError);
  assert.match(e.message, /nesting deeper than maxDepth \(64\)/);
  const c = codec({ maxDepth: 3, maxStringLength: 10, maxArrayLength: 3, maxBigIntBytes: 16 });
  assert.ok(encodeError([[[[1]]]], c) instanceof RangeError);
  assert.doesNotThrow(() => c.encode([[[1]]]));
  // A Map, Set or reference takes two levels (tag, contents).
  assert.ok(encodeError([[new Map([[1, 1]])]], c) instanceof RangeError);
  assert.doesNotThrow(() => c.encode([new Map([[1, 1]])]));
  assert.ok(encodeError("x".repeat(11), c) instanceof RangeError);
  assert.ok(encodeError("é".repeat(6), c) instanceof RangeError); // 12 bytes
  assert.doesNotThrow(() => c.encode("é".repeat(5)));
  assert.ok(encodeError([1, 2, 3, 4], c) instanceof RangeError);
  assert.ok(encodeError({ a: 1, b: 2, c: 3, d: 4 }, c) instanceof RangeError);
  assert.ok(encodeError(new Set([1, 2, 3, 4]), c) instanceof RangeError);
  assert.ok(encodeError(new Map([[1, 1], [2, 2], [3, 3], [4, 4]]), c) instanceof RangeError);
  assert.ok(encodeError(2n ** 200n, c) instanceof RangeError);
  assert.doesNotThrow(() => c.encode(2n ** 100n));
  const small = codec({ maxMessageSize: 100 });
  assert.ok(encodeError(new Uint8Array(101), small) instanceof RangeError);
  assert.ok(encodeError("x".repeat(90) + "y".repeat(90), small) instanceof RangeError);
});

Deno.test("codec: a value that shares subtrees exponentially is refused, fast", () => {
  let v: unknown = 1;
  for (let i = 0; i < 40; i++) v = [v, v]; // 2^40 leaves, 40 levels
  const e = encodeError(v, codec({ maxMessageSize: 10_000 }));
  assert.ok(e instanceof RangeError);
  assert.match(e.message, /more values than fit in maxMessageSize/);
});

Deno.test("codec: bad limits are refused", () => {
  for (
    const limits of [{ maxDepth: 0 }, { maxStringLength: -1 }, { maxArrayLength: 1.5 }, {
      maxMessageSize: 2 ** 33,
    }]
  ) {
    assert.throws(() => codec(limits), RangeError);
  }
});

Deno.test("codec: after a failed encode the next one works", () => {
  const c = codec();
  assert.throws(() => c.encode([[[() => 1]]]), TypeError);
  assert.deepEqual(c.decode(c.encode([1, [2]])), [1, [2]]);
});
