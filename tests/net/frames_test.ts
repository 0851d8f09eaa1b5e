/**
 * Framing: `FrameWriter` → connection → `FrameReader`, over the simulated
 * network, TCP on 127.0.0.1 and scripted connections (for exact control of
 * what arrives when), with hostile input.
 */
import assert from "node:assert/strict";
import { MailboxFull } from "../../src/core/errors.ts";
import { MessageTooLarge } from "../../src/io/errors.ts";
import { ProtocolError } from "../../src/net/errors.ts";
import {
  FRAGMENT_SIZE,
  FRAME_FRAG,
  FRAME_GOODBYE,
  FRAME_HEARTBEAT,
  FRAME_MSG,
  type FrameHandler,
  FrameReader,
  FrameWriter,
  MAX_FRAME,
  MAX_HANDSHAKE_FRAME,
} from "../../src/net/_frames.ts";
import { SimulatedNetwork } from "../../src/net/simulated_network.ts";
import { tcpTransport, type TransportConn } from "../../src/net/transport.ts";

const LIMIT = 10_000;
const HELLO = 0x10;

/** Collects what a reader delivers; `next(n)` waits until `n` frames came (or the end). */
class Collector implements FrameHandler {
  frames: { kind: number; body: Uint8Array }[] = [];
  error: unknown;
  ended = false;
  reader!: FrameReader;
  #wake: (() => void) | undefined;
  #want = 0;

  onFrame(kind: number, body: Uint8Array): void {
    this.frames.push({ kind, body: body.slice() });
    if (kind === HELLO) this.reader.authenticated();
    this.#check();
  }
  onError(error: unknown): void {
    this.error = error;
    this.#check(true);
  }
  onEnd(): void {
    this.ended = true;
    this.#check(true);
  }
  #check(done = false): void {
    if (this.#wake !== undefined && (done || this.frames.length >= this.#want)) {
      const w = this.#wake;
      this.#wake = undefined;
      w();
    }
  }
  /** Waits for `n` frames or the reader's stop (the timeout only fails the test). */
  async next(n: number): Promise<void> {
    if (this.frames.length >= n || this.error !== undefined || this.ended) return;
    this.#want = n;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#wake = resolve),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only ${this.frames.length} of ${n} frames`)),
          LIMIT,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }
  /** Waits for the reader to stop. */
  async stopped(): Promise<void> {
    await this.next(Infinity);
  }
}

function reader(
  conn: TransportConn,
  options?: { maxMessageSize?: number; authenticated?: boolean },
) {
  const c = new Collector();
  const r = new FrameReader(conn, c, options);
  c.reader = r;
  if (options?.authenticated) r.authenticated();
  const done = r.start();
  return { c, r, done };
}

function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 255;
  return b;
}

async function simPair() {
  const net = new SimulatedNetwork();
  const listener = await net.transport("b").listen({ hostname: "b", port: 1 });
  const client = await net.transport("a").dial({ hostname: "b", port: 1 });
  const server = await listener.accept();
  listener.close();
  return { net, client, server };
}

async function tcpPair() {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await tcpTransport.dial({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  listener.close();
  return { client, server };
}

/** A connection whose reads return scripted chunks, then wait until closed. */
class ScriptedConn implements TransportConn {
  readonly localAddr = { hostname: "script", port: 1 };
  readonly remoteAddr = { hostname: "script", port: 2 };
  reads = 0;
  #chunks: Uint8Array[];
  #endAfter: boolean;
  #pending: ((n: null) => void) | undefined;
  #drained: (() => void) | undefined;
  constructor(chunks: Uint8Array[], { end = false } = {}) {
    this.#chunks = chunks;
    this.#endAfter = end;
  }
  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    const c = this.#chunks.shift();
    if (c !== undefined) {
      const n = Math.min(c.length, p.length);
      p.set(c.subarray(0, n));
      if (n < c.length) this.#chunks.unshift(c.subarray(n));
      return Promise.resolve(n);
    }
    if (this.#endAfter) return Promise.resolve(null);
    this.#drained?.();
    return new Promise((resolve) => this.#pending = resolve);
  }
  /** Resolves when a read waits with nothing left to give. */
  drained(): Promise<void> {
    if (this.#pending !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#drained = resolve);
  }
  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
  close(): void {
    this.#pending?.(null);
  }
}

/** Wraps a connection: counts writes, takes at most `maxWrite` bytes per write, runs a hook. */
class WrappedConn implements TransportConn {
  writes = 0;
  onWrite: ((count: number) => void) | undefined;
  constructor(readonly inner: TransportConn, readonly maxWrite = Infinity) {}
  get localAddr() {
    return this.inner.localAddr;
  }
  get remoteAddr() {
    return this.inner.remoteAddr;
  }
  read(p: Uint8Array): Promise<number | null> {
    return this.inner.read(p);
  }
  write(p: Uint8Array): Promise<number> {
    this.writes++;
    this.onWrite?.(this.writes);
    return this.inner.write(p.length > this.maxWrite ? p.subarray(0, this.maxWrite) : p);
  }
  close(): void {
    this.inner.close();
  }
}

function frame(
  kind: number,
  body: Uint8Array = new Uint8Array(0),
  len = body.length + 1,
): Uint8Array {
  const f = new Uint8Array(5 + body.length);
  new DataView(f.buffer).setUint32(0, len);
  f[4] = kind;
  f.set(body, 5);
  return f;
}

function frag(id: number, last: boolean, chunk: Uint8Array): Uint8Array {
  const body = new Uint8Array(5 + chunk.length);
  new DataView(body.buffer).setUint32(0, id);
  body[4] = last ? 1 : 0;
  body.set(chunk, 5);
  return frame(FRAME_FRAG, body);
}

const SIZES = [0, 1, 30, 4096, FRAGMENT_SIZE, FRAGMENT_SIZE + 1, 1 << 20, 3 * (1 << 20) + 17];

async function roundTrip(client: TransportConn, server: TransportConn): Promise<void> {
  const writer = new FrameWriter(client);
  const { c, done } = reader(server);
  writer.writeFrame(HELLO, new Uint8Array([1, 2, 3]));
  await c.next(1);
  // One at a time: a small message may overtake a large one, by design.
  for (const [i, n] of SIZES.entries()) {
    writer.writeMessage(pattern(n, i));
    await writer.flushed();
  }
  writer.heartbeat();
  writer.goodbye();
  await writer.flushed();
  await c.next(SIZES.length + 3);
  assert.equal(c.error, undefined);
  assert.deepEqual(c.frames[0], { kind: HELLO, body: new Uint8Array([1, 2, 3]) });
  for (const [i, n] of SIZES.entries()) {
    const f = c.frames[i + 1];
    assert.equal(f.kind, FRAME_MSG);
    assert.equal(f.body.length, n);
    assert.deepEqual(f.body, pattern(n, i));
  }
  assert.deepEqual(c.frames.slice(-2).map((f) => [f.kind, f.body.length]), [
    [FRAME_HEARTBEAT, 0],
    [FRAME_GOODBYE, 0],
  ]);
  client.close();
  await done;
  assert.equal(c.ended, true);
  server.close();
}

Deno.test("frames: round trip of every size over the simulated network", async () => {
  const { client, server } = await simPair();
  await roundTrip(client, server);
});

Deno.test("frames: round trip of every size over TCP", async () => {
  const { client, server } = await tcpPair();
  await roundTrip(client, server);
});

Deno.test("frames: a handler's promise pauses the reader (data after the handshake in the same read)", async () => {
  const frames = new Uint8Array([
    ...frame(0x11, new Uint8Array([7])),
    ...frame(FRAME_MSG, new Uint8Array([8])),
  ]);
  const conn = new ScriptedConn([frames], { end: true });
  const seen: number[] = [];
  let error: unknown;
  const r: FrameReader = new FrameReader(conn, {
    onFrame(kind) {
      seen.push(kind);
      // As a link does: checking the proof is asynchronous; data is legal only after.
      if (kind === 0x11) return Promise.resolve().then(() => r.authenticated());
      return undefined;
    },
    onError(e) {
      error = e;
    },
    onEnd() {},
  });
  await r.start();
  assert.equal(error, undefined);
  assert.deepEqual(seen, [0x11, FRAME_MSG]);
  assert.equal(conn.reads, 2); // both frames from one read, then the end
});

Deno.test("frames: 1,000 messages written at once go out in one write", async () => {
  const { client, server } = await simPair();
  const wrapped = new WrappedConn(client);
  const writer = new FrameWriter(wrapped);
  const { c, r } = reader(server, { authenticated: true });
  for (let i = 0; i < 1000; i++) writer.writeMessage(pattern(30, i));
  assert.equal(wrapped.writes, 0); // nothing written synchronously: the burst coalesces
  await writer.flushed();
  assert.equal(wrapped.writes, 1);
  assert.equal(writer.writes, 1);
  await c.next(1000);
  for (let i = 0; i < 1000; i++) assert.deepEqual(c.frames[i].body, pattern(30, i));
  assert.ok(r.framesRead === 1000);
  client.close();
  server.close();
});

Deno.test("frames: a large message is fragmented; frames queued meanwhile overtake its remaining fragments", async () => {
  const { client, server } = await simPair();
  const wrapped = new WrappedConn(client);
  const writer = new FrameWriter(wrapped);
  const { c, r } = reader(server, { authenticated: true });
  const big = pattern(1 << 20, 5);
  writer.writeMessage(big);
  wrapped.onWrite = (n) => {
    if (n === 3) {
      writer.heartbeat();
      writer.writeMessage(new Uint8Array([42]));
    }
  };
  await writer.flushed();
  await c.next(3);
  assert.deepEqual(c.frames.map((f) => [f.kind, f.body.length]), [
    [FRAME_HEARTBEAT, 0],
    [FRAME_MSG, 1],
    [FRAME_MSG, big.length],
  ]);
  assert.deepEqual(c.frames[2].body, big);
  // 16 fragments, one per write; the small frames went out with the 4th.
  assert.equal(wrapped.writes, 16);
  assert.equal(r.framesRead, 18);
  client.close();
  server.close();
});

Deno.test("frames: short writes are continued until every byte went", async () => {
  const { client, server } = await simPair();
  const wrapped = new WrappedConn(client, 7);
  const writer = new FrameWriter(wrapped);
  const { c } = reader(server, { authenticated: true });
  for (let i = 0; i < 100; i++) writer.writeMessage(pattern(i, i));
  writer.writeMessage(pattern(200_000, 9));
  await writer.flushed();
  assert.equal(writer.queuedBytes, 0);
  await c.next(101);
  for (let i = 0; i < 100; i++) assert.deepEqual(c.frames[i].body, pattern(i, i));
  assert.deepEqual(c.frames[100].body, pattern(200_000, 9));
  assert.ok(wrapped.writes > 200_000 / 7);
  client.close();
  server.close();
});

Deno.test("frames: past maxQueuedBytes writeMessage throws MailboxFull and queues nothing", async () => {
  const writer = new FrameWriter(undefined, { maxQueuedBytes: 1000, peerName: "p1" });
  let sent = 0;
  let error: unknown;
  try {
    for (;;) {
      writer.writeMessage(pattern(30));
      sent++;
    }
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof MailboxFull);
  assert.match(error.message, /'p1'.*1000 bytes/);
  assert.equal(sent, Math.floor(1000 / 35));
  const queued = writer.queuedBytes;
  assert.equal(queued, sent * 35);
  assert.throws(() => writer.writeMessage(pattern(100_000)), MailboxFull);
  const strict = new FrameWriter(undefined, { maxMessageSize: 100 });
  assert.throws(() => strict.writeMessage(pattern(101)), MessageTooLarge);
  assert.equal(strict.queuedBytes, 0);
  assert.equal(writer.queuedBytes, queued);
  // Once attached, the queue drains and there is room again.
  const { client, server } = await simPair();
  const { c } = reader(server, { authenticated: true });
  writer.attach(client);
  await writer.flushed();
  assert.equal(writer.queuedBytes, 0);
  writer.writeMessage(pattern(30));
  await c.next(sent + 1);
  assert.equal(c.frames.length, sent + 1);
  writer.close();
  assert.equal(writer.writeMessage(pattern(1)), false);
  client.close();
  server.close();
});

Deno.test("frames: the queue outlives a connection: detach, attach, a fragmented message starts over", async () => {
  const first = await simPair();
  const wrapped = new WrappedConn(first.client);
  const writer = new FrameWriter(wrapped);
  const big = pattern(300_000, 3);
  writer.writeMessage(big);
  let dropped!: () => void;
  const detached = new Promise<void>((resolve) => dropped = resolve);
  wrapped.onWrite = (n) => {
    if (n === 2) {
      writer.detach(); // the connection dropped during the second fragment
      writer.writeMessage(new Uint8Array([1]));
      dropped();
    }
  };
  await detached;
  assert.equal(wrapped.writes, 2);
  first.client.close();
  first.server.close();
  const second = await simPair();
  const { c } = reader(second.server, { authenticated: true });
  writer.attach(second.client);
  await writer.flushed();
  await c.next(2);
  assert.deepEqual(c.frames[0].body, new Uint8Array([1]));
  assert.deepEqual(c.frames[1].body, big);
  assert.equal(c.error, undefined);
  second.client.close();
  second.server.close();
});

Deno.test("frames: a failed write detaches the writer and reports the error; frames behind it stay", async () => {
  const { client, server } = await simPair();
  const wrapped = new WrappedConn(client);
  let report!: (e: unknown) => void;
  const failed = new Promise((resolve) => report = resolve);
  const writer = new FrameWriter(wrapped, { onError: report });
  wrapped.onWrite = () => writer.writeMessage(pattern(20)); // queued behind the failing write
  client.close();
  writer.writeMessage(pattern(10));
  assert.ok(await failed instanceof Deno.errors.BadResource);
  assert.equal(writer.queuedBytes, 25); // the in-flight frame is forgotten, the next one kept
  const next = await simPair();
  const { c } = reader(next.server, { authenticated: true });
  wrapped.onWrite = undefined;
  writer.attach(next.client);
  await c.next(1);
  assert.deepEqual(c.frames[0].body, pattern(20));
  server.close();
  next.client.close();
  next.server.close();
});

/** Feeds `bytes` to a reader (authenticated or not) and returns what it reported. */
async function feed(
  chunks: Uint8Array[],
  options: { authenticated?: boolean; maxMessageSize?: number; end?: boolean } = {},
) {
  const conn = new ScriptedConn(chunks, { end: options.end ?? true });
  const { c, r, done } = reader(conn, options);
  await c.stopped();
  await done;
  conn.close();
  return { c, r, conn };
}

Deno.test("frames: frames over the limit are refused as soon as their header arrives", async () => {
  let { c } = await feed([frame(HELLO, new Uint8Array(MAX_HANDSHAKE_FRAME))]);
  assert.ok(c.error instanceof ProtocolError);
  assert.match(String(c.error), /4097 bytes exceeds the limit of 4096 before authentication/);
  ({ c } = await feed([frame(FRAME_MSG, new Uint8Array(MAX_FRAME))], { authenticated: true }));
  assert.ok(c.error instanceof ProtocolError);
  assert.match(String(c.error), /65553 bytes exceeds the limit of 65552/);
  // The largest legal frames pass.
  ({ c } = await feed([frame(HELLO, new Uint8Array(MAX_HANDSHAKE_FRAME - 1))]));
  assert.equal(c.error, undefined);
  ({ c } = await feed([frame(FRAME_MSG, new Uint8Array(MAX_FRAME - 1))], {
    authenticated: true,
  }));
  assert.equal(c.error, undefined);
  assert.equal(c.frames[0].body.length, MAX_FRAME - 1);
});

Deno.test("frames: a header announcing 16 MiB with no body allocates nothing and fails at once", async () => {
  const header = new Uint8Array([FRAME_MSG, 0, 0, 0]); // 0x01000000 = 16 MiB
  const { c, r, conn } = await feed([header], {
    authenticated: true,
    maxMessageSize: 64 << 20,
    end: false,
  });
  assert.ok(c.error instanceof ProtocolError);
  assert.equal(conn.reads, 1); // refused on the header: no wait for a body
  assert.ok(r.memory < 70_000, `reader holds ${r.memory} bytes`);
});

Deno.test("frames: fragments are held only as they arrive, within maxMessageSize", async () => {
  const chunk = pattern(FRAGMENT_SIZE);
  // A stream that sends two fragments and stops: the reader holds what came, no more.
  const conn = new ScriptedConn([frag(9, false, chunk), frag(9, false, chunk)]);
  const { c, r, done } = reader(conn, { authenticated: true, maxMessageSize: 16 << 20 });
  await conn.drained();
  assert.equal(c.error, undefined);
  assert.equal(r.framesRead, 2);
  assert.ok(r.memory <= 70_000 + 2 * FRAGMENT_SIZE, `reader holds ${r.memory} bytes`);
  conn.close();
  await done;
  assert.ok((c.error as unknown) instanceof ProtocolError); // ended inside a fragmented message
  // Past maxMessageSize, across streams: refused.
  let { c: c2 } = await feed([frag(1, false, chunk), frag(2, false, chunk)], {
    authenticated: true,
    maxMessageSize: FRAGMENT_SIZE + 10,
  });
  assert.match(String(c2.error), /awaiting reassembly exceed maxMessageSize/);
  ({ c: c2 } = await feed([frag(1, false, chunk), frag(1, true, chunk)], {
    authenticated: true,
    maxMessageSize: FRAGMENT_SIZE + 10,
  }));
  assert.match(String(c2.error), /fragmented message over maxMessageSize/);
  const many = [];
  for (let id = 0; id < 17; id++) many.push(frag(id, false, new Uint8Array(1)));
  ({ c: c2 } = await feed(many, { authenticated: true }));
  assert.match(String(c2.error), /more than 16 fragmented messages/);
  // Interleaved streams reassemble independently.
  ({ c: c2 } = await feed([
    frag(1, false, new Uint8Array([1])),
    frag(2, false, new Uint8Array([2])),
    frag(1, true, new Uint8Array([3])),
    frag(2, true, new Uint8Array([4])),
  ], { authenticated: true }));
  assert.deepEqual(c2.frames.map((f) => [...f.body]), [[1, 3], [2, 4]]);
  assert.equal(c2.ended, true);
});

Deno.test("frames: frames out of place are protocol errors", async () => {
  const cases: [Uint8Array[], boolean, RegExp][] = [
    [[frame(FRAME_MSG, new Uint8Array([1]))], false, /kind 0x01 before authentication/],
    [[frame(FRAME_HEARTBEAT)], false, /before authentication/],
    [[frame(HELLO)], true, /unexpected frame kind 0x10/],
    [[frame(0x7f)], true, /unexpected frame kind 0x7f/],
    [[frame(FRAME_HEARTBEAT, new Uint8Array([1]))], true, /with a body/],
    [[frame(FRAME_FRAG, new Uint8Array([0, 0, 0, 1]))], true, /shorter than its header/],
    [[frame(FRAME_FRAG, new Uint8Array([0, 0, 0, 1, 2, 9]))], true, /flags 2/],
    [[new Uint8Array([0, 0, 0, 0])], true, /empty frame/],
    [[frame(FRAME_MSG, new Uint8Array(10)).subarray(0, 8)], true, /ended inside a frame/],
    [[new Uint8Array([0, 0])], true, /ended inside a frame/],
  ];
  for (const [chunks, authenticated, message] of cases) {
    const { c } = await feed(chunks, { authenticated });
    assert.ok(c.error instanceof ProtocolError, `${message}: got ${c.error}`);
    assert.match(c.error.message, message);
  }
  const { c } = await feed([frame(FRAME_MSG, new Uint8Array(100))], {
    authenticated: true,
    maxMessageSize: 99,
  });
  assert.match(String(c.error), /message of 100 bytes exceeds maxMessageSize 99/);
});

Deno.test("frames: garbage bytes end in a ProtocolError, before or after authentication", async () => {
  let state = 12345;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  for (let round = 0; round < 50; round++) {
    const garbage = new Uint8Array(1 + (round * 97) % 5000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = random();
    const { c } = await feed([garbage], { authenticated: round % 2 === 1 });
    assert.ok(c.error instanceof ProtocolError, `round ${round}: ${c.error}`);
  }
});

Deno.test("frames: bytes split anywhere reassemble into the same frames", async () => {
  const stream = new Uint8Array([
    ...frame(HELLO, new Uint8Array([1, 2])),
    ...frame(FRAME_MSG, pattern(70)),
    ...frag(5, false, pattern(3000)),
    ...frame(FRAME_HEARTBEAT),
    ...frag(5, true, pattern(10)),
  ]);
  for (const size of [1, 2, 3, 5, 64, 1000]) {
    const chunks = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
    const { c } = await feed(chunks);
    assert.equal(c.error, undefined);
    assert.deepEqual(c.frames.map((f) => [f.kind, f.body.length]), [
      [HELLO, 2],
      [FRAME_MSG, 70],
      [FRAME_HEARTBEAT, 0],
      [FRAME_MSG, 3010],
    ]);
    assert.equal(c.ended, true);
  }
});

Deno.test("frames: stop() silences the reader", async () => {
  const conn = new ScriptedConn([]);
  const { c, r, done } = reader(conn);
  r.stop();
  conn.close();
  await done;
  assert.equal(c.ended, false);
  assert.equal(c.error, undefined);
});

Deno.test("frames: a handler that throws ends the reader through onError (a codec's ProtocolError)", async () => {
  const conn = new ScriptedConn([frame(HELLO), frame(HELLO)], { end: true });
  const errors: unknown[] = [];
  let frames = 0;
  const r = new FrameReader(conn, {
    onFrame() {
      frames++;
      throw new ProtocolError("undecodable");
    },
    onError: (e) => errors.push(e),
    onEnd: () => errors.push("end"),
  });
  await r.start();
  assert.equal(frames, 1);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof ProtocolError);
  // Stopped inside the handler: whatever it throws after, nobody is told.
  const quiet = new FrameReader(new ScriptedConn([frame(HELLO)], { end: true }), {
    onFrame() {
      quiet.stop();
      throw new Error("after stop");
    },
    onError: (e) => errors.push(e),
    onEnd: () => errors.push("end"),
  });
  await quiet.start();
  assert.equal(errors.length, 1);
});
