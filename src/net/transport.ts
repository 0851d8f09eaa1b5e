/**
 * The transport: byte streams between two endpoints, and nothing more
 * (framing, authentication and liveness live above it). `tcpTransport` is the
 * real one, over TCP or TLS; `SimulatedNetwork` gives in-memory ones for
 * tests. Errors are the platform's own (`Deno.errors.ConnectionRefused`,
 * `Deno.errors.AddrInUse`, …); the layer above wraps them.
 *
 * @module
 */
import type { Location } from "../core/location.ts";

/**
 * One end of a connection, read and written as a `Deno.Conn` is: `read` fills
 * part of the caller's buffer, `write` may take fewer bytes than offered.
 *
 * @example
 * ```ts ignore
 * import type { TransportConn } from "@denocos/denocos/net";
 *
 * async function readAll(conn: TransportConn): Promise<number> {
 *   const buf = new Uint8Array(65536);
 *   let total = 0;
 *   for (let n; (n = await conn.read(buf)) !== null;) total += n;
 *   return total;
 * }
 * ```
 */
export interface TransportConn {
  /** This end's address. */
  readonly localAddr: Location;
  /** The other end's address. */
  readonly remoteAddr: Location;
  /**
   * Reads up to `p.length` bytes into `p`: resolves how many, or `null` at
   * the end of the stream. Rejects when the connection was reset.
   */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`: resolves how many bytes were taken (may be fewer than `p.length`). */
  write(p: Uint8Array): Promise<number>;
  /** Closes this end. Idempotent; a pending read resolves `null` or rejects. */
  close(): void;
}

/**
 * A listening endpoint: accepted connections, one at a time or as an async
 * iterable (which ends when the listener is closed).
 *
 * @example
 * ```ts
 * import { tcpTransport } from "@denocos/denocos/net";
 *
 * const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port > 0); // true
 * listener.close();
 * ```
 */
export interface TransportListener extends AsyncIterable<TransportConn> {
  /** The address it listens on (the real port when 0 was asked for). */
  readonly addr: Location;
  /** The next connection; rejects once the listener is closed. */
  accept(): Promise<TransportConn>;
  /** Stops listening. Idempotent; a pending `accept` rejects. */
  close(): void;
}

/**
 * Where to listen, and the key pair for TLS.
 *
 * @example
 * ```ts
 * import type { ListenSpec } from "@denocos/denocos/net";
 *
 * const spec: ListenSpec = { hostname: "127.0.0.1", port: 0 };
 * console.log(spec.port);
 * ```
 */
export interface ListenSpec {
  /** The address to bind. */
  hostname: string;
  /** The port (0: an ephemeral one). */
  port: number;
  /** Serve TLS with this certificate chain and private key (PEM). */
  tls?: { cert: string; key: string };
}

/**
 * Where to connect, how long to try, and how to check the server for TLS.
 *
 * @example
 * ```ts
 * import type { DialSpec } from "@denocos/denocos/net";
 *
 * const spec: DialSpec = { hostname: "127.0.0.1", port: 9705, timeout: 2000 };
 * console.log(spec.timeout);
 * ```
 */
export interface DialSpec {
  /** The host to connect to. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Give up after this many milliseconds (rejects with `Deno.errors.TimedOut`). */
  timeout?: number;
  /** Give up when this aborts (rejects with its reason). */
  signal?: AbortSignal;
  /** Speak TLS, checking the server's certificate for `hostname`. */
  tls?: boolean;
  /** Certificate authorities to trust for TLS (PEM), besides the system's. */
  caCerts?: string[];
}

/**
 * Makes connections: listens and dials.
 *
 * @example
 * ```ts
 * import { type Transport, tcpTransport } from "@denocos/denocos/net";
 *
 * const transport: Transport = tcpTransport;
 * const listener = await transport.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await transport.dial({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = await accepted;
 * await client.write(new Uint8Array([1, 2, 3]));
 * console.log(await server.read(new Uint8Array(8))); // 3 (or fewer)
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export interface Transport {
  /** Listens; rejects with `Deno.errors.AddrInUse` when the port is taken. */
  listen(spec: ListenSpec): Promise<TransportListener>;
  /** Connects; rejects when refused, timed out or aborted. */
  dial(spec: DialSpec): Promise<TransportConn>;
}

/** A `Deno.Conn` seen as a `TransportConn`: idempotent close, plain locations. */
class DenoConn implements TransportConn {
  readonly localAddr: Location;
  readonly remoteAddr: Location;
  #conn: Deno.Conn;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.localAddr = location(conn.localAddr);
    this.remoteAddr = location(conn.remoteAddr);
  }

  read(p: Uint8Array): Promise<number | null> {
    return this.#conn.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }
}

class DenoListener implements TransportListener {
  readonly addr: Location;
  #listener: Deno.Listener;
  #closed = false;

  constructor(listener: Deno.Listener) {
    this.#listener = listener;
    this.addr = location(listener.addr);
  }

  async accept(): Promise<TransportConn> {
    const conn = await this.#listener.accept();
    noDelay(conn);
    return new DenoConn(conn);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#listener);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TransportConn> {
    for (;;) {
      let conn: TransportConn;
      try {
        conn = await this.accept();
      } catch (e) {
        if (this.#closed) return;
        throw e;
      }
      yield conn;
    }
  }
}

function location(addr: Deno.Addr): Location {
  const net = addr as Deno.NetAddr;
  return { hostname: net.hostname, port: net.port };
}

/** Small frames must not wait for ACKs; TLS conns do not expose the socket option. */
function noDelay(conn: Deno.Conn): void {
  const tcp = conn as Partial<Deno.TcpConn>;
  if (typeof tcp.setNoDelay === "function") tcp.setNoDelay(true);
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed by the other side of a race: nothing to release
  }
}

async function dial(spec: DialSpec): Promise<TransportConn> {
  const { hostname, port, timeout, signal } = spec;
  if (timeout !== undefined && !(timeout >= 0)) {
    throw new TypeError(`dial: timeout must be a number >= 0, got ${timeout}`);
  }
  signal?.throwIfAborted();
  // One controller stops the connect (and closes a half-made TLS session)
  // whichever of timeout and signal comes first.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeout === undefined ? undefined : setTimeout(() => {
    controller.abort(
      new Deno.errors.TimedOut(`dial ${hostname}:${port} timed out after ${timeout} ms`),
    );
  }, timeout);
  let tcp: Deno.TcpConn | undefined;
  let tls: Deno.TlsConn | undefined;
  try {
    tcp = await Deno.connect({ hostname, port, signal: controller.signal });
    controller.signal.throwIfAborted();
    tcp.setNoDelay(true);
    if (!spec.tls) return new DenoConn(tcp);
    tls = await Deno.startTls(tcp, { hostname, caCerts: spec.caCerts });
    tcp = undefined; // now owned by the TLS session
    const handshake = tls.handshake();
    await raceAbort(handshake, controller.signal);
    return new DenoConn(tls);
  } catch (e) {
    if (tls !== undefined) closeQuietly(tls);
    if (tcp !== undefined) closeQuietly(tcp);
    throw controller.signal.aborted ? controller.signal.reason : e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** `p`, unless `signal` aborts first (then rejects with its reason; `p` is left to fail on its own). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The real transport: TCP (`Deno.connect` / `Deno.listen`, with `setNoDelay`)
 * or TLS (`Deno.connectTls`-style over `Deno.startTls`, `Deno.listenTls`).
 * Dials honour `timeout` and `signal`; errors are the platform's.
 *
 * @example
 * ```ts
 * import { tcpTransport } from "@denocos/denocos/net";
 *
 * const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await tcpTransport.dial({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 *   timeout: 2000,
 * });
 * const server = await accepted;
 * console.log(server.remoteAddr.port === client.localAddr.port); // true
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export const tcpTransport: Transport = {
  listen(spec: ListenSpec): Promise<TransportListener> {
    try {
      const { hostname, port, tls } = spec;
      const listener = tls === undefined
        ? Deno.listen({ hostname, port })
        : Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key });
      return Promise.resolve(new DenoListener(listener));
    } catch (e) {
      return Promise.reject(e);
    }
  },
  dial,
};
