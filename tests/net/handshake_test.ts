import assert from "node:assert/strict";
import { AuthenticationFailed } from "../../src/net/errors.ts";
import { MAX_HANDSHAKE_FRAME } from "../../src/net/_frames.ts";
import {
  acceptHandshake,
  dialHandshake,
  type HandshakeOptions,
  importHandshakeKey,
  type PeerIdentity,
  timingSafeEqual,
  validateInfo,
} from "../../src/net/_handshake.ts";

const A: PeerIdentity = {
  id: "a-1",
  name: "alpha",
  incarnation: 1,
  location: { hostname: "127.0.0.1", port: 1111 },
};
const B: PeerIdentity = {
  id: "b-2",
  name: "beta",
  incarnation: 7,
  location: { hostname: "127.0.0.1", port: 2222 },
};

/** A TCP pair on 127.0.0.1: `[dialled, accepted]`. */
async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const dialled = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return [dialled, await accepted];
}

async function options(
  identity: PeerIdentity,
  secret: string,
  cluster = "denocos",
): Promise<HandshakeOptions> {
  return { key: await importHandshakeKey(secret), cluster, identity, timeout: 5000 };
}

Deno.test("handshake: same secret and cluster: both learn the other's identity", async () => {
  const [d, l] = await tcpPair();
  const [got, gotL] = await Promise.all([
    dialHandshake(d, await options(A, "s3cret")),
    acceptHandshake(l, await options(B, "s3cret")),
  ]);
  assert.deepEqual(got, B);
  assert.deepEqual(gotL, A);
  // Nothing is left buffered: the next bytes are the application's.
  await d.write(new Uint8Array([9, 8, 7]));
  const buf = new Uint8Array(8);
  assert.equal(await l.read(buf), 3);
  d.close();
  l.close();
});

Deno.test("handshake: the empty secret works (it is the default)", async () => {
  const [d, l] = await tcpPair();
  const [got] = await Promise.all([
    dialHandshake(d, await options(A, "")),
    acceptHandshake(l, await options(B, "")),
  ]);
  assert.equal(got.id, "b-2");
  d.close();
  l.close();
});

for (
  const [what, dialer, listener] of [
    ["wrong secret", ["s3cret", "denocos"], ["other", "denocos"]],
    ["foreign cluster", ["s3cret", "denocos"], ["s3cret", "elsewhere"]],
  ] as const
) {
  Deno.test(`handshake: ${what}: both sides fail with AuthenticationFailed`, async () => {
    const [d, l] = await tcpPair();
    const [rd, rl] = await Promise.allSettled([
      dialHandshake(d, await options(A, dialer[0], dialer[1])),
      acceptHandshake(l, await options(B, listener[0], listener[1])),
    ]);
    assert.equal(rd.status, "rejected");
    assert.ok(rd.reason instanceof AuthenticationFailed, String(rd.reason));
    assert.match(rd.reason.message, /wrong secret or foreign cluster/);
    assert.equal(rl.status, "rejected");
    assert.ok(rl.reason instanceof AuthenticationFailed);
  });
}

Deno.test("handshake: a forged CHALLENGE is refused", async () => {
  // The dialer talks to something that replies with a CHALLENGE of random bytes.
  const [d, l] = await tcpPair();
  const dialing = dialHandshake(d, await options(A, "s3cret"));
  const hello = new Uint8Array(42);
  let n = 0;
  while (n < 42) n += (await l.read(hello.subarray(n)))!;
  const challenge = new Uint8Array(4 + 65);
  new DataView(challenge.buffer).setUint32(0, 65);
  challenge[4] = 0x11;
  crypto.getRandomValues(challenge.subarray(5));
  await l.write(challenge);
  await assert.rejects(dialing, AuthenticationFailed);
  l.close();
});

async function hostile(bytes: Uint8Array, timeout = 5000): Promise<AuthenticationFailed> {
  const [d, l] = await tcpPair();
  const accepting = acceptHandshake(l, { ...(await options(B, "s3cret")), timeout });
  if (bytes.length) await d.write(bytes);
  const e = await accepting.then(() => assert.fail("accepted"), (e) => e);
  assert.ok(e instanceof AuthenticationFailed, String(e));
  // The listener closed its side: the hostile client reads the end.
  assert.equal(await d.read(new Uint8Array(16)), null);
  d.close();
  return e;
}

Deno.test("handshake: garbage bytes are refused without being decoded", async () => {
  const e = await hostile(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(e.message, /before authentication/);
});

Deno.test("handshake: an oversized pre-auth frame is refused before its body arrives", async () => {
  const header = new Uint8Array(5);
  new DataView(header.buffer).setUint32(0, MAX_HANDSHAKE_FRAME + 1);
  header[4] = 0x10;
  const e = await hostile(header);
  assert.match(e.message, /4097 bytes before authentication/);
});

Deno.test("handshake: a well-framed wrong first frame is refused", async () => {
  const f = new Uint8Array(4 + 38);
  new DataView(f.buffer).setUint32(0, 38);
  f[4] = 0x01; // a MSG before authentication
  await hostile(f);
});

Deno.test("handshake: a dialer that says nothing hits the deadline", async () => {
  const e = await hostile(new Uint8Array(0), 200);
  assert.match(e.message, /timed out after 200 ms/);
});

Deno.test("handshake: an abort signal ends it", async () => {
  const [d, l] = await tcpPair();
  const controller = new AbortController();
  const dialing = dialHandshake(d, { ...(await options(A, "s3cret")), signal: controller.signal });
  controller.abort();
  await assert.rejects(dialing, /aborted/);
  l.close();
});

Deno.test("handshake: validateInfo takes exactly the INFO shape", () => {
  assert.deepEqual(validateInfo({ ...A }), A);
  for (
    const bad of [
      null,
      [],
      "x",
      { ...A, extra: 1 },
      { ...A, id: "" },
      { ...A, id: 5 },
      { ...A, id: "x".repeat(257) },
      { ...A, incarnation: -1 },
      { ...A, incarnation: 1.5 },
      { ...A, location: { hostname: "h", port: 70000 } },
      { ...A, location: { hostname: "h", port: 1, more: 1 } },
      { ...A, location: "h:1" },
      new Map(Object.entries(A)),
    ]
  ) {
    assert.throws(() => validateInfo(bad), AuthenticationFailed, JSON.stringify(bad));
  }
});

Deno.test("handshake: timingSafeEqual compares bytes", () => {
  assert.ok(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 2])));
});
