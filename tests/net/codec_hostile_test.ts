/**
 * Decoding hostile bytes: every input either decodes or throws
 * `ProtocolError`, without deep recursion, unbounded allocation or hanging.
 */
import assert from "node:assert/strict";
import { MonitorStatus } from "../../src/core/monitor_status.ts";
import { ProtocolError, RemoteError } from "../../src/net/errors.ts";
import { bytes, codec, FakeTask, mulberry32, utf8 } from "./_codec_util.ts";

const c = codec();

function refused(input: Uint8Array, pattern?: RegExp): void {
  let result: unknown;
  try {
    result = c.decode(input);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `${e} is not a ProtocolError`);
    if (pattern) assert.match(e.message, pattern);
    return;
  }
  assert.fail(`decoded: ${Deno.inspect(result)}`);
}

function repeat(n: number, ...b: number[]): number[] {
  const out = new Array(n * b.length);
  for (let i = 0; i < n; i++) for (let j = 0; j < b.length; j++) out[i * b.length + j] = b[j];
  return out;
}

Deno.test("codec hostile: a million levels of nesting", () => {
  const n = 1_000_000;
  refused(bytes(repeat(n, 0x91), 0x01), /nesting deeper than maxDepth \(64\)/);
  refused(bytes(repeat(n, 0x81, 0xa1, 0x61), 0x01), /nesting deeper/); // {a:{a:...}}
  refused(bytes(repeat(n, 0xd4, 0x73, 0x00, 0x91), 0x01), /nesting deeper/); // Set in Set
  refused(bytes(repeat(n, 0xdc, 0x00, 0x01), 0x01), /nesting deeper/); // array 16
  // At the limit is fine, one past it is not.
  assert.equal(
    JSON.stringify(c.decode(bytes(repeat(64, 0x91), 0x01))),
    "[".repeat(64) + "1" + "]".repeat(64),
  );
  refused(bytes(repeat(65, 0x91), 0x01), /nesting deeper/);
});

Deno.test("codec hostile: headers announcing huge lengths with no body", () => {
  refused(bytes(0xdd, 0xff, 0xff, 0xff, 0xff), /exceeds maxArrayLength/);
  refused(bytes(0xdd, 0x00, 0x0f, 0x42, 0x40), /truncated/); // 1,000,000 announced, none there
  refused(bytes(0xdf, 0xff, 0xff, 0xff, 0xff), /exceeds maxArrayLength/);
  refused(bytes(0xdf, 0x00, 0x00, 0x10, 0x00), /truncated/);
  refused(bytes(0xdb, 0xff, 0xff, 0xff, 0xff), /exceeds maxStringLength/);
  refused(bytes(0xdb, 0x00, 0x10, 0x00, 0x00, 0x61), /truncated/); // 1 MiB announced
  refused(bytes(0xc6, 0xff, 0xff, 0xff, 0xff), /truncated/);
  refused(bytes(0xc9, 0xff, 0xff, 0xff, 0xff, 0x74, 0x01), /truncated/);
  refused(bytes(0xc8, 0xff, 0xff, 0x42), /truncated/);
  // Nested arrays each announcing as many elements as bytes are left.
  refused(bytes(repeat(30, 0xdc, 0xff, 0xff)), /truncated/);
});

Deno.test("codec hostile: extension types the codec does not accept", () => {
  const cases: number[][] = [
    [0xd4, 0x72, 0x00, 0x91, 0xa1, 0x61], // msgpackr record definition
    [0xd5, 0x72, 0x00, 0x00, 0x91, 0xa1, 0x61],
    [0xd6, 0x69, 0x00, 0x00, 0x00, 0x01, 0x90], // structured-clone id
    [0xd6, 0x70, 0x00, 0x00, 0x00, 0x01], // structured-clone pointer
    [0xd6, 0x62, 0x00, 0x00, 0x00, 0x08], // string bundle
    [0xd4, 0x65, 0x00, 0x93, 0xa1, 0x45, 0xa1, 0x6d, 0xc0], // msgpackr's error
    [0xd4, 0x78, 0x00, 0x92, 0xa1, 0x61, 0xa0], // RegExp
    [0xd4, 0x1e, 0x00, 0x01], // the Box encoder's type
    [0xd4, 0x50, 0x00], // unknown
    [0xc7, 0x01, 0x01, 0x00], // a wrapper type in ext 8 form
    [0xd5, 0x00, 0x00, 0x00], // undefined in the wrong form
    [0xc1], // never-used byte
    [0xc7, 0x03, 0x74, 0x08, 0x00, 0x00], // Float64Array of 2 bytes
    [0xc7, 0x02, 0x74, 0x63, 0x00], // typed-array code 99
    [0xd5, 0xff, 0x00, 0x00], // timestamp of 2 bytes
    [0xd4, 0x03, 0x00, 0x01], // Map wrapping a number
    [0xd4, 0x73, 0x00, 0xa3, 0x61, 0x62, 0x63], // Set wrapping a string
    [0xd4, 0x01, 0x00, 0x92, 0x01, 0x02], // task reference, wrong record
    [0xd4, 0x02, 0x00, 0x90], // channel reference, empty record
    [0xd4, 0x03, 0x00, 0x91, 0x01], // Map with a key and no value
    [0xd4, 0x04, 0x00, 0x91, 0x01], // error, wrong payload
    [0xd4, 0x05, 0x00, 0x93, 0xc0, 0xa1, 0x78, 0xc0], // MonitorStatus, bad type
    [0xd4, 0x1f, 0x00, 0x92, 0xcd, 0xff, 0xfe, 0x01], // user tag nobody registered
    [0xd4, 0x1f, 0x00, 0x91, 0x01], // user value, no payload
  ];
  for (const b of cases) refused(new Uint8Array(b));
  const big = codec({ maxBigIntBytes: 8 });
  assert.throws(() => big.decode(codec().encode(2n ** 100n).slice()), ProtocolError);
  // An error key this side never registered (registerErrorClass on the
  // sender only) is a RemoteError, not a reason to drop the link.
  const zap = c.decode(
    bytes(0xd4, 0x04, 0x00, 0x97, 0xa3, ...utf8("Zap"), 0xa0, 0xa0, 0xc0, 0xc0, 0xc2, 0xc0),
  );
  assert.ok(zap instanceof RemoteError, String(zap));
});

Deno.test("codec hostile: CVE-2023-52079 shapes (self-referencing and container map keys)", () => {
  // A map whose key is an array holding a pointer to itself: msgpackr once
  // looped converting that key to a string. The pre-scan refuses the
  // structured-clone id/pointer types outright.
  refused(
    bytes(0x81, 0xd6, 0x69, 0x00, 0x00, 0x00, 0x01, 0x91, 0xd6, 0x70, 0x00, 0x00, 0x00, 0x01, 0xc0),
  );
  // Containers as object keys are refused too (by msgpackr, as ProtocolError).
  refused(bytes(0x81, 0x91, 0x91, 0x01, 0xc0));
  refused(bytes(0x81, 0x81, 0xa1, 0x61, 0x01, 0xc0));
});

Deno.test("codec hostile: __proto__ keys are refused and pollute nothing", () => {
  const key = [0xa9, ...utf8("__proto__")];
  const inner = [0x81, 0xa8, ...utf8("polluted"), 0xc3];
  refused(bytes(0x81, key, inner), /"__proto__" key/);
  refused(bytes(0x91, 0x81, 0xd9, 0x09, utf8("__proto__"), inner), /"__proto__" key/);
  refused(bytes(0xde, 0x00, 0x02, 0xa1, 0x61, 0x01, key, inner), /"__proto__" key/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // As a value, or as a Map key, it is only a string.
  assert.deepEqual(c.decode(bytes(0x81, 0xa1, 0x61, key)), { a: "__proto__" });
  assert.deepEqual(c.decode(bytes(0x91, key)), ["__proto__"]);
});

Deno.test("codec hostile: truncated, empty and trailing input", () => {
  const full = c.encode({
    list: [1, "two", 3.5, 2n ** 70n, new Uint8Array(300)],
    m: new Map([[1, new Set(["x"])]]),
    t: new FakeTask(1),
    s: new MonitorStatus(new FakeTask(2) as never, "failed", new Error("e")),
    d: new Date(5),
  }).slice();
  assert.ok(full.length > 300);
  for (let n = 0; n < full.length; n++) refused(full.subarray(0, n));
  refused(bytes(full, 0x01), /bytes after the message/);
  refused(bytes(0x01, 0x01), /bytes after the message/);
  refused(new Uint8Array(0), /empty message/);
  assert.throws(() => c.decode("nope" as unknown as Uint8Array), TypeError);
});

Deno.test("codec hostile: limits are configurable", () => {
  const strict = codec({ maxDepth: 2, maxStringLength: 4, maxArrayLength: 2, maxMessageSize: 64 });
  const loose = codec();
  assert.deepEqual(strict.decode(loose.encode([[1]]).slice()), [[1]]);
  assert.throws(() => strict.decode(loose.encode([[[1]]]).slice()), ProtocolError);
  assert.throws(() => strict.decode(loose.encode("hello").slice()), ProtocolError);
  assert.throws(() => strict.decode(loose.encode([1, 2, 3]).slice()), ProtocolError);
  assert.throws(() => strict.decode(loose.encode({ a: 1, b: 2, c: 3 }).slice()), ProtocolError);
  assert.throws(() => strict.decode(loose.encode(new Uint8Array(64)).slice()), ProtocolError);
});

Deno.test("codec hostile: 20,000 random and mutated buffers decode or throw ProtocolError", () => {
  const random = mulberry32(0xc0dec);
  const samples = [
    c.encode([1, 12, 3456, { n: 1, text: "hello" }]).slice(),
    c.encode({ a: [new Map([[1, [2n ** 80n, new Set([new Date(1)])]]]), new Float64Array(3)] })
      .slice(),
    c.encode([new FakeTask(3), new MonitorStatus(new FakeTask(4) as never, "finished", undefined)])
      .slice(),
  ];
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = new Uint8Array(1 + Math.floor(random() * 64));
      for (let j = 0; j < input.length; j++) input[j] = Math.floor(random() * 256);
      // Bias towards container and extension headers, where the bugs live.
      if (i % 4 === 0) input[0] = [0x91, 0x81, 0xdc, 0xdd, 0xde, 0xd4, 0xc7, 0xdb][i % 8];
    } else {
      const sample = samples[i % samples.length];
      input = sample.slice();
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) {
        input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
    }
    try {
      c.decode(input);
      decoded++;
    } catch (e) {
      if (!(e instanceof ProtocolError)) {
        throw new Error(`input ${i} [${[...input].map((x) => x.toString(16))}] threw ${e}`);
      }
    }
  }
  assert.ok(decoded > 100, `only ${decoded} inputs decoded`);
});
