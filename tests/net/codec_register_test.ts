/**
 * `registerMessageClass` (user tags) and `registerInternalClass` (the API
 * layer's own types, e.g. `PeerStatus`). Registrations are process-wide, so
 * each test uses tags of its own.
 */
import assert from "node:assert/strict";
import {
  Codec,
  registerErrorClass,
  registerInternalClass,
  registerMessageClass,
} from "../../src/net/codec.ts";
import { ProtocolError, RemoteError } from "../../src/net/errors.ts";
import { codec, fakeContext, FakeTask, roundTrip } from "./_codec_util.ts";

class Point {
  constructor(readonly x: number, readonly y: number) {}
}
registerMessageClass(1000, Point, {
  encode: (p) => [p.x, p.y],
  decode: (payload) => {
    const [x, y] = payload as unknown[];
    if (typeof x !== "number" || typeof y !== "number") throw new TypeError("bad Point");
    return new Point(x, y);
  },
});

Deno.test("registerMessageClass: instances round-trip as their class", () => {
  const back = roundTrip({ at: new Point(1, 2), path: [new Point(3, 4)] });
  assert.ok(back.at instanceof Point);
  assert.deepEqual(back.at, new Point(1, 2));
  assert.ok(back.path[0] instanceof Point);
});

Deno.test("registerMessageClass: the payload may hold references and other types", () => {
  class Job {
    constructor(readonly owner: FakeTask, readonly args: Map<string, Point>) {}
  }
  registerMessageClass(1001, Job, {
    encode: (j) => ({ owner: j.owner, args: j.args }),
    decode: (p) => {
      const { owner, args } = p as { owner: FakeTask; args: Map<string, Point> };
      return new Job(owner, args);
    },
  });
  const back = roundTrip(new Job(new FakeTask(5), new Map([["p", new Point(0, 1)]])));
  assert.ok(back instanceof Job);
  assert.ok(back.owner instanceof FakeTask);
  assert.ok(back.args.get("p") instanceof Point);
});

Deno.test("registerMessageClass: a decode that throws is a ProtocolError", () => {
  const c = codec();
  // [tag 1000, "not a point"] under the user extension type.
  const bytes = new Uint8Array([0xd4, 0x1f, 0x00, 0x92, 0xcd, 0x03, 0xe8, 0xa1, 0x78]);
  assert.throws(
    () => c.decode(bytes),
    (e) => e instanceof ProtocolError && e.cause instanceof TypeError,
  );
});

Deno.test("registerMessageClass: a payload that cannot travel names the path", () => {
  class Bad {}
  registerMessageClass(1002, Bad, { encode: () => ({ f: () => 1 }), decode: () => new Bad() });
  assert.throws(() => codec().encode([new Bad()]), /at value\[0\]\.<Bad payload>\.f$/);
});

Deno.test("registerMessageClass: collisions, ranges and built-ins are refused", () => {
  class A {}
  class B {}
  registerMessageClass(1003, A, { encode: () => 0, decode: () => new A() });
  assert.throws(
    () => registerMessageClass(1003, B, { encode: () => 0, decode: () => new B() }),
    TypeError,
  );
  assert.throws(
    () => registerMessageClass(1004, A, { encode: () => 0, decode: () => new A() }),
    TypeError,
  );
  for (const tag of [0, -1, 65536, 1.5, NaN]) {
    assert.throws(
      () => registerMessageClass(tag, B, { encode: () => 0, decode: () => new B() }),
      RangeError,
    );
  }
  for (const C of [Map, Set, Date, Uint8Array, Object, Array]) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => registerMessageClass(1005, C as any, { encode: () => 0, decode: () => ({}) }),
      TypeError,
    );
  }
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => registerMessageClass(1006, B, { encode: 1 } as any),
    TypeError,
  );
  // B is still free after the failed attempts.
  registerMessageClass(1007, B, { encode: () => 0, decode: () => new B() });
  assert.ok(roundTrip(new B()) instanceof B);
});

Deno.test("registerMessageClass: exactly the class, not its subclasses", () => {
  class Point3 extends Point {}
  assert.throws(() => codec().encode(new Point3(1, 2)), /an instance of Point3/);
});

Deno.test("registerMessageClass: an encode that encodes something itself", () => {
  class Wrapper {
    constructor(readonly inner: unknown) {}
  }
  const inner = new Codec(fakeContext());
  registerMessageClass(1008, Wrapper, {
    encode: (w) => inner.encode(w.inner).slice(),
    decode: (p) => new Wrapper(inner.decode(p as Uint8Array)),
  });
  const back = roundTrip({ w: new Wrapper([2, new Map([[3, 4]])]) });
  assert.deepEqual(back.w.inner, [2, new Map([[3, 4]])]);
  // The outer walk's path survived the inner encode.
  assert.throws(() => codec().encode({ a: [new Wrapper(1), () => 1] }), /at value\.a\[1\]$/);
});

Deno.test("registerInternalClass: a denocos type under its own extension type", () => {
  class PeerStatusLike {
    constructor(readonly peer: string, readonly status: "online" | "offline") {}
  }
  registerInternalClass(0x07, PeerStatusLike, {
    encode: (s) => [s.peer, s.status],
    decode: (p) => {
      const [peer, status] = p as unknown[];
      if (typeof peer !== "string" || (status !== "online" && status !== "offline")) {
        throw new TypeError("bad status");
      }
      return new PeerStatusLike(peer, status);
    },
  });
  const c = codec();
  const bytes = c.encode(new PeerStatusLike("p-1", "online")).slice();
  assert.deepEqual([...bytes.subarray(0, 3)], [0xd4, 0x07, 0x00]);
  const back = c.decode(bytes);
  assert.ok(back instanceof PeerStatusLike);
  assert.equal(back.status, "online");
  class Other {}
  assert.throws(
    () => registerInternalClass(0x07, Other, { encode: () => 0, decode: () => ({}) }),
    TypeError,
  );
  for (const type of [0x05, 0x1e, 0x1f, 0x42]) {
    assert.throws(
      () => registerInternalClass(type, Other, { encode: () => 0, decode: () => ({}) }),
      RangeError,
    );
  }
});

class OutOfStock extends Error {
  constructor(readonly item: string) {
    super(`no ${item} left`);
    this.name = "OutOfStock";
  }
}
registerErrorClass("test.OutOfStock", OutOfStock);

Deno.test("registerErrorClass: a registered error comes back as its class, with its fields", () => {
  const back = roundTrip({ e: new OutOfStock("tea") }).e;
  assert.ok(back instanceof OutOfStock, String(back));
  assert.equal(back.item, "tea");
  assert.equal(back.message, "no tea left");
  assert.equal(back.name, "OutOfStock");
  assert.match(back.stack ?? "", /OutOfStock/);
});

Deno.test("registerErrorClass: keys and classes once each, Error subclasses only", () => {
  class Other extends Error {}
  assert.throws(() => registerErrorClass("test.OutOfStock", Other), TypeError);
  assert.throws(() => registerErrorClass("test.Again", OutOfStock), TypeError);
  assert.throws(() => registerErrorClass("TaskTerminated", Other), TypeError);
  assert.throws(() => registerErrorClass("", Other), TypeError);
  assert.throws(() => registerErrorClass("x".repeat(257), Other), TypeError);
  assert.throws(
    () => registerErrorClass("test.NotAnError", Point as unknown as typeof Other),
    TypeError,
  );
});

Deno.test("registerErrorClass: a key the receiver does not know arrives as RemoteError", () => {
  class Unknown extends Error {}
  registerErrorClass("test.Unknown", Unknown);
  const bytes = codec().encode(new Unknown("far away"));
  // The receiver's view: the same bytes, a key it never registered.
  const at = bytes.indexOf("test.Unknown".charCodeAt(0));
  const foreign = bytes.slice();
  foreign.set(new TextEncoder().encode("test.Unknowx"), at);
  const back = codec().decode(foreign) as RemoteError;
  assert.ok(back instanceof RemoteError, String(back));
  assert.equal(back.message, "far away");
});
