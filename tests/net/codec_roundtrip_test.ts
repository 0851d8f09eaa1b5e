/**
 * Every type the codec carries comes back as itself.
 */
import assert from "node:assert/strict";
import { ChannelClosed, MailboxFull, TaskTerminated } from "../../src/core/errors.ts";
import { MonitorStatus } from "../../src/core/monitor_status.ts";
import { Codec } from "../../src/net/codec.ts";
import { PeerLost, ProtocolError, RemoteError } from "../../src/net/errors.ts";
import { codec, FakeChannel, fakeContext, FakeTask, LOCATION, roundTrip } from "./_codec_util.ts";

Deno.test("codec: primitives", () => {
  const values = [
    null,
    true,
    false,
    0,
    1,
    -1,
    127,
    128,
    -33,
    65535,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53 - 1,
    1.5,
    -0.25,
    Number.MAX_VALUE,
    Infinity,
    -Infinity,
    "",
    "hello",
    "ünïcødé ✓ 🎉",
    "x".repeat(70),
    "é".repeat(40_000),
  ];
  for (const v of values) assert.equal(roundTrip(v), v);
  assert.ok(Number.isNaN(roundTrip(NaN)));
});

Deno.test("codec: bigint stays bigint, number stays number", () => {
  const values = [
    0n,
    1n,
    -1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    2n ** 64n - 1n,
    2n ** 64n,
    -(2n ** 64n) - 5n,
    2n ** 200n + 12345n,
    -(3n ** 300n),
  ];
  for (const v of values) {
    const back = roundTrip(v);
    assert.equal(typeof back, "bigint");
    assert.equal(back, v);
  }
  assert.equal(typeof roundTrip(2 ** 40), "number");
  assert.equal(roundTrip(2 ** 40), 2 ** 40);
});

Deno.test("codec: undefined is distinct from null, also inside arrays and objects", () => {
  assert.equal(roundTrip(undefined), undefined);
  const back = roundTrip<[undefined, null, { a?: undefined; b: null }]>([undefined, null, {
    a: undefined,
    b: null,
  }]);
  assert.equal(back.length, 3);
  assert.equal(back[0], undefined);
  assert.equal(back[1], null);
  assert.ok("a" in back[2]);
  assert.equal(back[2].a, undefined);
  assert.equal(back[2].b, null);
  // A hole is read as undefined, as msgpackr packs it.
  assert.deepEqual(roundTrip([1, , 3]), [1, undefined, 3]);
});

Deno.test("codec: arrays and plain objects, including null-prototype and large ones", () => {
  const v = { a: [1, [2, [3, { b: "c" }]]], "not an identifier": 1, 5: "five" };
  assert.deepEqual(roundTrip(v), v);
  const bare = Object.assign(Object.create(null), { x: 1 });
  assert.deepEqual({ ...roundTrip(bare) }, { x: 1 });
  // More keys than msgpackr's 16-bit object writer takes.
  const big: Record<string, number> = {};
  for (let i = 0; i < 70_000; i++) big[`k${i}`] = i;
  const back = roundTrip(big);
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.equal(Object.keys(back).length, 70_000);
  assert.equal(back.k69999, 69999);
});

Deno.test("codec: Map keeps its key types, Set, Date", () => {
  const key = { k: 1 };
  const m = new Map<unknown, unknown>([[1, "one"], ["1", "string one"], [key, [2]], [
    undefined,
    new Map([[2n, 3]]),
  ]]);
  const back = roundTrip(m);
  assert.ok(back instanceof Map);
  assert.deepEqual([...back.entries()], [[1, "one"], ["1", "string one"], [{ k: 1 }, [2]], [
    undefined,
    new Map([[2n, 3]]),
  ]]);
  assert.deepEqual(roundTrip(new Map([["__proto__", 1]])), new Map([["__proto__", 1]]));
  const s = roundTrip(new Set([1, "a", new Set([2]), new Map([[3, 4]])]));
  assert.ok(s instanceof Set);
  assert.deepEqual(s, new Set([1, "a", new Set([2]), new Map([[3, 4]])]));
  for (
    const d of [new Date(0), new Date(1_700_000_000_123), new Date(-86_400_001), new Date(8.64e15)]
  ) {
    const back = roundTrip(d);
    assert.ok(back instanceof Date);
    assert.equal(back.getTime(), d.getTime());
  }
  assert.ok(Number.isNaN(roundTrip(new Date("nope")).getTime()));
});

Deno.test("codec: binaries come back as their class, as copies", () => {
  const u8 = new Uint8Array([1, 2, 3, 255]);
  const c = codec();
  const encoded = c.encode({ u8 }).slice();
  const back = c.decode(encoded) as { u8: Uint8Array };
  assert.ok(back.u8 instanceof Uint8Array);
  assert.deepEqual([...back.u8], [1, 2, 3, 255]);
  encoded.fill(0); // the decoded array must not be a view of the message
  assert.deepEqual([...back.u8], [1, 2, 3, 255]);
  const typed = [
    new Int8Array([-1, 2]),
    new Uint8ClampedArray([3]),
    new Int16Array([-300]),
    new Uint16Array([60000]),
    new Int32Array([-70000]),
    new Uint32Array([4e9]),
    new Float32Array([1.5]),
    new Float64Array([Math.PI]),
    new BigInt64Array([-5n]),
    new BigUint64Array([2n ** 64n - 1n]),
    new Uint8Array(0),
  ];
  for (const t of typed) {
    const b = roundTrip(t);
    assert.equal(b.constructor, t.constructor);
    assert.deepEqual([...b as Iterable<unknown>], [...t as Iterable<unknown>]);
  }
  const ab = roundTrip(new Uint8Array([9, 8]).buffer);
  assert.ok(ab instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(ab)], [9, 8]);
  const dv = roundTrip(new DataView(new Uint8Array([7]).buffer));
  assert.ok(dv instanceof DataView);
  assert.equal(dv.getUint8(0), 7);
  // A view into a larger buffer sends only its own bytes.
  const whole = new Uint8Array([0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...roundTrip(whole.subarray(2, 4))], [2, 3]);
});

Deno.test("codec: a large message, then small ones again", () => {
  const c = codec();
  const big = new Uint8Array(3 * 1024 * 1024).fill(5);
  const back = c.decode(c.encode([big]).slice()) as Uint8Array[];
  assert.equal(back[0].length, big.length);
  assert.equal(back[0][12345], 5);
  assert.deepEqual(roundTrip([1, "small"], c), [1, "small"]);
});

Deno.test("codec: encode returns a plain Uint8Array", () => {
  const bytes = codec().encode([1, 2, 3]);
  assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
});

Deno.test("codec: task and channel references go through the context", () => {
  const context = fakeContext();
  const c = new Codec(context);
  const back = c.decode(
    c.encode({ to: new FakeTask(7, "server_task"), ch: new FakeChannel("news") }),
  ) as {
    to: FakeTask;
    ch: FakeChannel;
  };
  assert.ok(back.to instanceof FakeTask);
  assert.equal(back.to.id, 7);
  assert.equal(back.to.name, "server_task");
  assert.ok(back.ch instanceof FakeChannel);
  assert.equal(back.ch.name, "news");
  assert.equal(context.decoded, 2);
  let seen: unknown;
  const spy = fakeContext();
  spy.decodeTask = (r) => seen = { ...r, location: { ...r.location } };
  const d = new Codec(spy);
  d.decode(d.encode(new FakeTask(9)));
  assert.deepEqual(seen, {
    peer: "peer-a",
    incarnation: 3,
    id: 9,
    name: "task-9",
    location: LOCATION,
  });
});

Deno.test("codec: a malformed record from the context is a TypeError at encode", () => {
  const context = fakeContext();
  context.encodeTask = () => ({
    peer: "p",
    incarnation: 1,
    id: 1.5,
    name: "x",
    location: LOCATION,
  });
  assert.throws(() => new Codec(context).encode(new FakeTask(1)), TypeError);
});

Deno.test("codec: MonitorStatus with a task reference", () => {
  const status = new MonitorStatus(new FakeTask(3) as never, "finished", { result: [1, 2] });
  const back = roundTrip(status);
  assert.ok(back instanceof MonitorStatus);
  assert.ok(back.task instanceof FakeTask);
  assert.equal((back.task as unknown as FakeTask).id, 3);
  assert.equal(back.type, "finished");
  assert.deepEqual(back.value, { result: [1, 2] });
  const failed = roundTrip(
    new MonitorStatus(new FakeTask(4) as never, "failed", new TaskTerminated("w")),
  );
  assert.ok(failed.value instanceof TaskTerminated);
});

Deno.test("codec: a MonitorStatus whose value cannot travel still arrives, with the TypeError", () => {
  const status = new MonitorStatus(new FakeTask(3) as never, "finished", { cb: () => 1 });
  const back = roundTrip(status);
  assert.equal(back.type, "finished");
  assert.ok(back.value instanceof TypeError);
  assert.equal(back.value.name, "TypeError");
  assert.match(back.value.message, /value\.cb/);
});

Deno.test("codec: denocos errors come back as their class with message, stack and fields", () => {
  const e = new MailboxFull("server", 10);
  const back = roundTrip(e);
  assert.ok(back instanceof MailboxFull);
  assert.equal(back.name, "MailboxFull");
  assert.equal(back.message, e.message);
  assert.equal(back.taskName, "server");
  assert.equal(back.limit, 10);
  assert.equal(back.stack, e.stack);
  assert.ok(roundTrip(new ChannelClosed("c")) instanceof ChannelClosed);
  const lost = roundTrip(new PeerLost("gone", { cause: new RangeError("why") }));
  assert.ok(lost instanceof PeerLost);
  assert.ok(lost.cause instanceof RangeError);
  assert.equal((lost.cause as RangeError).message, "why");
  assert.ok(roundTrip(new ProtocolError("bad")) instanceof ProtocolError);
});

Deno.test("codec: the language's and Deno's errors come back as their class", () => {
  for (
    const e of [new TypeError("t"), new RangeError("r"), new Error("plain"), new SyntaxError("s")]
  ) {
    const back = roundTrip(e);
    assert.equal(Object.getPrototypeOf(back), Object.getPrototypeOf(e));
    assert.equal(back.message, e.message);
    assert.equal(back.stack, e.stack);
  }
  const denied = roundTrip(new Deno.errors.NotCapable("Requires read access"));
  assert.ok(denied instanceof Deno.errors.NotCapable);
  assert.equal(denied.message, "Requires read access");
});

Deno.test("codec: other errors come back as RemoteError with name, message, remoteStack", () => {
  class Oops extends Error {
    code = 42;
    constructor(message: string) {
      super(message);
      this.name = "Oops";
    }
  }
  for (const e of [new Oops("o")]) {
    const back = roundTrip(e);
    assert.ok(back instanceof RemoteError);
    assert.ok(back instanceof Error);
    assert.equal(back.name, e.name);
    assert.equal(back.remoteName, e.name);
    assert.equal(back.message, e.message);
    assert.equal(back.remoteStack, e.stack);
  }
  assert.equal((roundTrip(new Oops("o")) as unknown as { code: number }).code, 42);
  // A RemoteError forwarded again keeps what it carried.
  const twice = roundTrip(roundTrip(new Oops("t")));
  assert.ok(twice instanceof RemoteError);
  assert.equal(twice.name, "Oops");
  assert.match(twice.remoteStack, /Oops: t/);
});

Deno.test("codec: error fields that cannot travel are left out, methods are not shadowed", () => {
  const e = Object.assign(new Error("x"), { fn: () => 1, ok: 1, toString: "hostile" });
  const back = roundTrip(e) as unknown as Record<string, unknown>;
  assert.equal(back.ok, 1);
  assert.equal("fn" in back, false);
  assert.equal(typeof (back as unknown as Error).toString, "function");
});

Deno.test("codec: shared (non-cyclic) values are sent once per place", () => {
  const shared = { s: 1 };
  const back = roundTrip([shared, shared]);
  assert.deepEqual(back, [{ s: 1 }, { s: 1 }]);
  assert.notEqual(back[0], back[1]);
});

Deno.test("codec: a value with references is copied, the original is left alone", () => {
  const t = new FakeTask(1);
  const v = { list: [1, t], m: new Map([[1, t]]) };
  const back = roundTrip(v);
  assert.equal(v.list[1], t);
  assert.ok(back.list[1] instanceof FakeTask);
  assert.ok(back.m.get(1) instanceof FakeTask);
});

Deno.test("codec: string headers sized by UTF-8 length, -0, lone surrogates", () => {
  for (
    const s of [
      "✓".repeat(10),
      "✓".repeat(20),
      "✓".repeat(100),
      "✓".repeat(30_000),
      "a✓".repeat(40),
    ]
  ) {
    assert.equal(roundTrip(s), s);
    assert.deepEqual(roundTrip({ [s]: s }), { [s]: s });
  }
  assert.equal(roundTrip("a\ud800b"), "a\ufffdb");
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Object.is(roundTrip(0), 0));
});

Deno.test("codec: objects of every map header size", () => {
  for (const n of [0, 15, 16, 300, 65_535, 65_536]) {
    const o: Record<string, number> = {};
    for (let i = 0; i < n; i++) o[`k${i}`] = i;
    const back = roundTrip({ before: 1, o, after: [2] });
    assert.equal(Object.keys(back.o).length, n);
    assert.equal(back.after[0], 2);
  }
});

Deno.test("codec: an error whose cause cannot travel arrives without it", () => {
  const back = roundTrip(new Error("outer", { cause: () => 1 }));
  assert.ok(back instanceof Error);
  assert.equal(back.message, "outer");
  assert.equal("cause" in back, false);
});
