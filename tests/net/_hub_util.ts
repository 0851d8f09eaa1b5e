/**
 * Helpers for the link and hub tests: hubs that record what they hear, and
 * waits on those records (never on time).
 *
 * @module
 */
import { type HubOptions, type Link, PeerHub } from "../../src/net/_hub.ts";
import { tcpTransport, type Transport, type TransportConn } from "../../src/net/transport.ts";
import { dialHandshake, importHandshakeKey } from "../../src/net/_handshake.ts";

/** How long a wait that must succeed may take before the test fails. */
export const LIMIT = 10_000;

/**
 * Predicates re-checked whenever `kick()` is called (after every recorded
 * event): `until(what, pred, limit)` resolves once `pred` holds and rejects
 * after `limit` ms with `what` and `describe()` in the message.
 */
/** What {@linkcode conditions} returns. */
export interface Conditions {
  kick(): void;
  until(what: string, pred: () => boolean, limit?: number): Promise<void>;
}

export function conditions(describe: () => string = () => ""): Conditions {
  const waiters = new Set<() => void>();
  return {
    kick(): void {
      for (const w of [...waiters]) w();
    },
    until(what: string, pred: () => boolean, limit = LIMIT): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        if (pred()) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}${describe()}`));
        }, limit);
        const check = () => {
          if (!pred()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
  };
}

let nextId = 0;

/** A hub plus everything its handlers saw. */
export interface Recorder {
  hub: PeerHub;
  id: string;
  /** Messages received, decoded as text, per peer id. */
  received: Map<string, string[]>;
  events: string[];
  /** Resolves when `pred` holds (checked after every event), rejects after LIMIT. */
  until(what: string, pred: () => boolean, limit?: number): Promise<void>;
}

const dec = new TextDecoder();
export const enc = new TextEncoder();

export async function recorder(
  transport: Transport,
  overrides: Partial<HubOptions> & { idPrefix?: string } = {},
): Promise<Recorder> {
  const id = `${overrides.idPrefix ?? "p"}${String(nextId++).padStart(4, "0")}`;
  const received = new Map<string, string[]>();
  const events: string[] = [];
  const { kick, until } = conditions(() => `; events: ${events.join(" | ")}`);
  const hub = await PeerHub.start({
    transport,
    hostname: overrides.hostname ?? "127.0.0.1",
    port: 0,
    identity: { id, name: id, incarnation: 1 },
    secret: "s3cret",
    cluster: "test",
    heartbeatInterval: 100,
    peerTimeout: 500,
    maxMessageSize: 1 << 20,
    maxQueuedBytes: 1 << 20,
    ...overrides,
  }, {
    online(link) {
      events.push(`online ${link.peer.id}`);
      kick();
    },
    offline(link, reason) {
      events.push(`offline ${link.peer.id} ${reason}`);
      kick();
    },
    message(link, body) {
      let list = received.get(link.peer.id);
      if (!list) received.set(link.peer.id, list = []);
      list.push(dec.decode(body));
      kick();
    },
  });
  return { hub, id, received, events, until };
}

/** Sends `count` messages `${prefix}${i}` on `link`. */
export function sendMany(link: Link, prefix: string, from: number, count: number): void {
  for (let i = from; i < from + count; i++) link.send(enc.encode(`${prefix}${i}`));
}

/** The strings `${prefix}${i}` for i in [from, from + count). */
export function expected(prefix: string, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${from + i}`);
}

/**
 * A transport that wraps another and can break the next write of any
 * connection it made: `arm()` makes that write run under `fault` (for
 * example `drop(1)` on a SimulatedNetwork), then switches the fault off.
 */
export class FaultyTransport implements Transport {
  #armed = false;
  #fired: (() => void) | undefined;
  /** Breaks the next write; resolves once it happened. */
  arm(): Promise<void> {
    this.#armed = true;
    return new Promise((resolve) => this.#fired = resolve);
  }
  constructor(
    readonly inner: Transport,
    readonly on: () => void,
    readonly off: () => void,
  ) {}
  listen(spec: Parameters<Transport["listen"]>[0]): ReturnType<Transport["listen"]> {
    return this.inner.listen(spec).then((l) => {
      const wrap = (c: TransportConn) => this.#wrap(c);
      return {
        addr: l.addr,
        close: () => l.close(),
        accept: () => l.accept().then(wrap),
        async *[Symbol.asyncIterator]() {
          for await (const c of l) yield wrap(c);
        },
      };
    });
  }
  dial(spec: Parameters<Transport["dial"]>[0]): ReturnType<Transport["dial"]> {
    return this.inner.dial(spec).then((c) => this.#wrap(c));
  }
  #severed = new Set<TransportConn>();
  #last: { sever(): void } | undefined;
  /**
   * Cuts the newest connection on this side only: its writes fail as after a
   * reset (so this side notices), nothing more reaches the other end, and its
   * real close is held until `release`, so the other end sees nothing at all
   * (a half-open connection).
   */
  sever(): void {
    this.#last?.sever();
  }
  /** Closes what `sever` held open. */
  release(): void {
    for (const c of this.#severed) c.close();
    this.#severed.clear();
  }
  #wrap(c: TransportConn): TransportConn {
    let severed = false;
    this.#last = {
      sever: () => {
        severed = true;
        this.#severed.add(c);
      },
    };
    return {
      localAddr: c.localAddr,
      remoteAddr: c.remoteAddr,
      read: (p) => c.read(p),
      write: (p) => {
        if (severed) return Promise.reject(new Deno.errors.ConnectionReset("severed (test)"));
        if (!this.#armed) return c.write(p);
        this.#armed = false;
        this.on();
        try {
          return c.write(p);
        } finally {
          this.off();
          this.#fired?.();
        }
      },
      close: () => {
        if (!severed) c.close();
      },
    };
  }
}

/** A handshaken raw peer (default id "raw") on TCP that writes and reads frames by hand. */
/** A raw peer from {@linkcode rawPeer}. */
export interface RawPeer {
  conn: TransportConn;
  write(kind: number, body?: Uint8Array): Promise<void>;
  /** The next frame as [kind, body], or `null` once the hub closed the connection. */
  read(): Promise<[number, Uint8Array] | null>;
}

export async function rawPeer(
  to: { hostname: string; port: number },
  id = "raw",
): Promise<RawPeer> {
  const conn = await tcpTransport.dial({ ...to, timeout: LIMIT });
  await dialHandshake(conn, {
    key: await importHandshakeKey("s3cret"),
    cluster: "test",
    identity: { id, name: id, incarnation: 1, location: { hostname: "127.0.0.1", port: 1 } },
  });
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  return {
    conn,
    async write(kind: number, body: Uint8Array = new Uint8Array(0)) {
      const out = new Uint8Array(5 + body.length);
      new DataView(out.buffer).setUint32(0, body.length + 1);
      out[4] = kind;
      out.set(body, 5);
      for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));
    },
    /** The next frame as [kind, body], or `null` once the hub closed the connection. */
    async read(): Promise<[number, Uint8Array] | null> {
      for (;;) {
        if (buf.length >= 4) {
          const len = new DataView(buf.buffer, buf.byteOffset).getUint32(0);
          if (buf.length >= 4 + len) {
            const frame: [number, Uint8Array] = [buf[4], buf.slice(5, 4 + len)];
            buf = buf.slice(4 + len);
            return frame;
          }
        }
        const n = await conn.read(chunk).catch(() => null);
        if (n === null) return null;
        const grown = new Uint8Array(buf.length + n);
        grown.set(buf);
        grown.set(chunk.subarray(0, n), buf.length);
        buf = grown;
      }
    },
  };
}
