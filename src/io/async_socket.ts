/**
 * `AsyncSocket`: a TCP, TLS or Unix stream connection that tasks wait on.
 *
 * Every received byte goes through one internal buffer, filled by at most
 * one outstanding read that is started only when a reader waits. Readers
 * take from that buffer synchronously, so a reader that stops waiting
 * (timeout, abort, `terminate`) takes nothing and leaves nothing half read:
 * bytes that arrive later stay buffered for the next reader, and a partly
 * received `recvMsg` frame stays whole in the buffer. Readers are served in
 * FIFO order, as are writers; a write that has started is always finished,
 * even if its caller stops waiting, so frames are never cut.
 *
 * Timeouts (`{ timeout }`, milliseconds) reject with `TimeoutError` and
 * consume nothing; an aborted `signal` rejects with its reason; a terminated
 * task gets `TaskTerminated`.
 *
 * Permissions: TCP and TLS need `--allow-net=<host>` (TLS key pairs and CA
 * files are read by the caller, with `--allow-read`); a Unix socket needs
 * `--allow-read --allow-write --allow-net=unix:<absolute path>`.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import { type WaitOptions, waitOptionsError } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import { park, pendingError, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";
import {
  AsyncServer,
  type ListenOptions,
  type TcpListenOptions,
  type UnixListenOptions,
} from "./async_server.ts";
import { ConnectionClosed, MessageTooLarge } from "./errors.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { ReaderQueue } from "./reader_queue.ts";

/**
 * The default limit for `recvMsg` / `sendMsg` payloads: 16 MiB. Change it
 * per socket with `maxMessageSize`, per call with `maxSize`.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE } from "@denocos/denocos/io";
 *
 * console.log(DEFAULT_MAX_MESSAGE_SIZE); // 16777216
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE: number = 16 * 1024 * 1024;
/**
 * The default limit for `readLine` (of sockets, pipes and files): 64 KiB.
 * Change it per call with `maxLength`.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_LINE_LENGTH } from "@denocos/denocos/io";
 *
 * console.log(DEFAULT_MAX_LINE_LENGTH); // 65536
 * ```
 */
export const DEFAULT_MAX_LINE_LENGTH: number = 64 * 1024;

/**
 * What every socket can be configured with.
 *
 * @example
 * ```ts
 * import type { SocketOptions } from "@denocos/denocos/io";
 *
 * const opts: SocketOptions = { maxMessageSize: 1 << 20, bufferSize: 4096 };
 * console.log(opts.maxMessageSize); // 1048576
 * ```
 */
export interface SocketOptions {
  /** Largest `recvMsg` / `sendMsg` payload in bytes (default 16 MiB). */
  maxMessageSize?: number;
  /** Default size of the receive buffer in bytes (default 16 KiB; it grows for big frames). */
  bufferSize?: number;
  /** TCP only: set `TCP_NODELAY` (Deno's default is on). */
  noDelay?: boolean;
  /** The scheduler whose `finish()` closes this socket (default: the current task's, else the default one). */
  scheduler?: Scheduler;
}

/**
 * How a client verifies a TLS server (see `Deno.StartTlsOptions`).
 *
 * @example
 * ```ts
 * import type { TlsClientOptions } from "@denocos/denocos/io";
 *
 * const tls: TlsClientOptions = { hostname: "localhost", caCerts: [] };
 * console.log(tls.hostname); // "localhost"
 * ```
 */
export interface TlsClientOptions {
  /** Name checked against the server's certificate (default: the connect hostname). */
  hostname?: string;
  /** PEM root certificates trusted in addition to the default ones. */
  caCerts?: string[];
  /** ALPN protocols to offer. */
  alpnProtocols?: string[];
  /** Skip the certificate name check (the chain is still verified). */
  unsafelyDisableHostnameVerification?: boolean;
}

/**
 * Options for `AsyncSocket.connect` over TCP (optionally TLS).
 *
 * @example
 * ```ts
 * import type { TcpConnectOptions } from "@denocos/denocos/io";
 *
 * const opts: TcpConnectOptions = { hostname: "127.0.0.1", port: 8010, timeout: 1000 };
 * console.log(opts.port); // 8010
 * ```
 */
export interface TcpConnectOptions extends SocketOptions, WaitOptions {
  /** `"tcp"` (the default). */
  transport?: "tcp";
  /** Host to connect to (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to connect to. */
  port: number;
  /** `true` or client TLS options: do a TLS handshake before resolving. */
  tls?: boolean | TlsClientOptions;
}

/**
 * Options for `AsyncSocket.connect` over a Unix domain socket.
 *
 * @example
 * ```ts
 * import type { UnixConnectOptions } from "@denocos/denocos/io";
 *
 * const opts: UnixConnectOptions = { transport: "unix", path: "/tmp/app.sock" };
 * console.log(opts.path); // "/tmp/app.sock"
 * ```
 */
export interface UnixConnectOptions extends SocketOptions, WaitOptions {
  /** `"unix"`. */
  transport: "unix";
  /** Path of the socket file. */
  path: string;
}

/**
 * Options for `AsyncSocket.connect`.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "@denocos/denocos/io";
 *
 * const opts: ConnectOptions = { transport: "unix", path: "/tmp/app.sock" };
 * console.log(opts.transport); // "unix"
 * ```
 */
export type ConnectOptions = TcpConnectOptions | UnixConnectOptions;

/**
 * Options for `recvMsg`.
 *
 * @example
 * ```ts
 * import type { RecvMsgOptions } from "@denocos/denocos/io";
 *
 * const opts: RecvMsgOptions = { timeout: 100, maxSize: 1024 };
 * console.log(opts.maxSize); // 1024
 * ```
 */
export interface RecvMsgOptions extends WaitOptions {
  /** Refuse a payload longer than this (default: the socket's `maxMessageSize`). */
  maxSize?: number;
}

/**
 * Options for `readLine`.
 *
 * @example
 * ```ts
 * import type { ReadLineOptions } from "@denocos/denocos/io";
 *
 * const opts: ReadLineOptions = { maxLength: 80, keepEnd: true };
 * console.log(opts.maxLength); // 80
 * ```
 */
export interface ReadLineOptions extends WaitOptions {
  /** Refuse a line longer than this many bytes (default 64 KiB). */
  maxLength?: number;
  /** Keep the `\n` (or `\r\n`) at the end of the line (default `false`). */
  keepEnd?: boolean;
}

/**
 * Options for `recvInto`.
 *
 * @example
 * ```ts
 * import type { RecvIntoOptions } from "@denocos/denocos/io";
 *
 * const opts: RecvIntoOptions = { all: true, timeout: 1000 };
 * console.log(opts.all); // true
 * ```
 */
export interface RecvIntoOptions extends WaitOptions {
  /** Fill the whole buffer (as `recvAll`) instead of taking what is there. */
  all?: boolean;
}

/**
 * Options for `startTls`.
 *
 * @example
 * ```ts
 * import type { StartTlsOptions } from "@denocos/denocos/io";
 *
 * const opts: StartTlsOptions = { hostname: "localhost", timeout: 5000 };
 * console.log(opts.hostname); // "localhost"
 * ```
 */
export interface StartTlsOptions extends TlsClientOptions, WaitOptions {}

/**
 * What a socket can send: bytes, or a string sent as UTF-8.
 *
 * @example
 * ```ts
 * import type { Sendable } from "@denocos/denocos/io";
 *
 * const parts: Sendable[] = ["text", new Uint8Array([0, 1, 2])];
 * console.log(parts.length); // 2
 * ```
 */
export type Sendable = Uint8Array | string;

const EMPTY = new Uint8Array(0);
const NOT_YET: unique symbol = Symbol("not yet");
const encoder = new TextEncoder();

// A reader's request, packed into its waiter's `data` as `limit * 8 + op`
// so parking a reader allocates no request object.
const R_RECV = 0, R_ALL = 1, R_MSG = 2, R_LINE = 3, R_LINE_KEEP = 4;
// Write job kinds.
const W_ONCE = 0, W_ALL = 1, W_MSG = 2, W_SHUT = 3;

/** A `recvInto` request that wants its whole buffer filled. */
class Fill {
  readonly buffer: Uint8Array;
  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }
}

/** A queued write that waits for its turn. */
interface WriteJob {
  kind: number;
  bytes: Uint8Array;
}

/**
 * A stream connection for tasks: TCP, TLS or Unix. Create one with
 * `AsyncSocket.connect`, get them from an `AsyncServer` (`AsyncSocket.listen`),
 * or wrap a `Deno.Conn` you already have with `new AsyncSocket(conn)`.
 *
 * Waits take `{ timeout, signal }`: a timeout rejects with `TimeoutError`, an
 * abort with the signal's reason, a terminated task gets `TaskTerminated`;
 * none of them consume or lose data. `recv` resolves an empty array at end of
 * stream; `recvAll` and `recvMsg` reject with `ConnectionClosed` when the
 * stream ends inside what they wait for. `close()` ends every pending
 * operation. `await using` closes the socket on scope exit.
 *
 * Memory: what is buffered for a frame or a line grows with the bytes that
 * arrive, never with a length the peer announces (`bufferCapacity`).
 * `recv`, `recvAll` and `recvMsg` hand out views of memory that is never
 * written again, so they stay valid without a fresh array per call: up to
 * 512 bytes are copied into a 16 KiB block shared with other small
 * results, more are views of the receive chunk itself (up to 256 KiB), not
 * copied. An array you keep keeps its block or chunk alive: `slice()` what
 * you keep for long. `recvInto` copies into memory you own and allocates
 * nothing.
 *
 * @example
 * ```ts
 * import { AsyncSocket, spawn } from "@denocos/denocos";
 *
 * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
 * spawn(async () => {
 *   await using conn = await server.accept();
 *   for (let msg; (msg = await conn.recvMsg()) !== null;) await conn.sendMsg(msg);
 * });
 * await using client = await AsyncSocket.connect({
 *   hostname: "127.0.0.1",
 *   port: server.localAddr.port,
 * });
 * await client.sendMsg("hello");
 * console.log(new TextDecoder().decode((await client.recvMsg())!)); // "hello"
 * ```
 */
export class AsyncSocket<A extends Deno.Addr = Deno.Addr> implements Disposable, AsyncDisposable {
  #conn: Deno.Conn;
  #scheduler: Scheduler;
  #maxMessage: number;
  #closed = false;
  #isTls: boolean;

  // Read side.
  #rb: ReadBuffer;
  #readers: ReaderQueue;
  #reading = false;
  #readOp: Promise<void> | null = null;
  #need = 0;
  /** `#need` is a frame length the peer announced: memory grows only as it arrives. */
  #announced = false;
  #eof = false;
  #readError: ConnectionClosed | null = null;
  #paused = false;
  #fatal = false;

  // Write side: one active job, the rest queued in order.
  #active = new WaitQueue();
  #writers = new WaitQueue();
  #writing = false;
  #writeOp: Promise<void> | null = null;
  #wKind = W_ALL;
  #wBytes: Uint8Array = EMPTY;
  #wNext: Uint8Array | null = null;
  #wOff = 0;
  #wResult: unknown = undefined;
  #wError: Error | null = null;
  #scratch: Uint8Array = EMPTY;

  /**
   * Wraps an open connection. The socket owns it from now on.
   *
   * @param conn a connection from `Deno.connect`, `Deno.listen`, `Deno.connectTls`…
   * @param options limits, buffer size, `noDelay`, owning scheduler
   */
  constructor(conn: Deno.Conn, options?: SocketOptions) {
    this.#conn = conn;
    this.#maxMessage = checkLimit(
      options?.maxMessageSize,
      DEFAULT_MAX_MESSAGE_SIZE,
      "maxMessageSize",
    );
    this.#rb = new ReadBuffer(options?.bufferSize ?? 16384);
    this.#readers = new ReaderQueue(this.#pump);
    this.#isTls = "handshake" in conn;
    if (options?.noDelay !== undefined) this.setNoDelay(options.noDelay);
    this.#scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.#scheduler.adopt(this);
  }

  /**
   * Connects to a TCP (optionally TLS) or Unix socket. The timeout covers the
   * whole connect, TLS handshake included; a wait that is given up (timeout,
   * abort, terminate) closes the half-made connection.
   *
   * @example
   * ```ts
   * import { AsyncSocket } from "@denocos/denocos";
   *
   * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
   * await using client = await AsyncSocket.connect({
   *   hostname: "127.0.0.1",
   *   port: server.localAddr.port,
   *   timeout: 5000,
   * });
   * console.log(client.remoteAddr.port === server.localAddr.port); // true
   * ```
   */
  static connect(options: TcpConnectOptions): Promise<AsyncSocket<Deno.NetAddr>>;
  /** Connects to a Unix domain socket. */
  static connect(options: UnixConnectOptions): Promise<AsyncSocket<Deno.UnixAddr>>;
  /** Connects over TCP (optionally TLS) or a Unix socket, whichever `options` say. */
  static connect(options: ConnectOptions): Promise<AsyncSocket>;
  static connect(options: ConnectOptions): Promise<AsyncSocket> {
    if (options === null || typeof options !== "object") {
      return Promise.reject(new TypeError("connect: options must be an object"));
    }
    const task = currentTask();
    const err = pendingError(task);
    if (err !== undefined) return Promise.reject(err);
    const q = new WaitQueue();
    const p = park<Deno.Conn>(q, task, options, TIMEOUT_REJECTS);
    if (q.length === 0) return p as Promise<never>;
    const controller = new AbortController();
    let half: Deno.Conn | undefined;
    const open = async (): Promise<Deno.Conn> => {
      if (options.transport === "unix") {
        if (typeof options.path !== "string") {
          throw new TypeError("connect: 'path' must be a string");
        }
        return await Deno.connect({ transport: "unix", path: options.path });
      }
      if (options.transport !== undefined && options.transport !== "tcp") {
        throw new TypeError(`connect: unknown transport '${options.transport}'`);
      }
      const hostname = options.hostname ?? "127.0.0.1";
      const tcp = await Deno.connect({ hostname, port: options.port, signal: controller.signal });
      if (!options.tls) return tcp;
      half = tcp;
      const tlsOpts = options.tls === true ? {} : options.tls;
      const conn = await Deno.startTls(tcp, { hostname, ...tlsOpts });
      half = conn;
      await conn.handshake();
      return conn;
    };
    open().then((conn) => {
      const w = q.shift();
      if (w === null) closeQuietly(conn);
      else w.settle(conn);
    }, (e) => q.shift()?.fail(e));
    return p.then(
      (conn) => {
        try {
          return new AsyncSocket(conn, options);
        } catch (e) {
          closeQuietly(conn); // bad socket options: do not leak the connection
          throw e;
        }
      },
      (e) => {
        // Given up: stop the connect, or close what it made so far.
        controller.abort(e);
        if (half !== undefined) closeQuietly(half);
        throw e;
      },
    );
  }

  /**
   * Listens for TCP (optionally TLS) or Unix connections.
   *
   * @example
   * ```ts
   * import { AsyncSocket } from "@denocos/denocos";
   *
   * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
   * console.log(server.localAddr.port > 0); // true
   * ```
   */
  static listen(options: TcpListenOptions): AsyncServer<Deno.NetAddr>;
  /** Listens on a Unix domain socket. */
  static listen(options: UnixListenOptions): AsyncServer<Deno.UnixAddr>;
  /** Listens on TCP (optionally TLS) or a Unix socket, whichever `options` say. */
  static listen(options: ListenOptions): AsyncServer;
  static listen(options: ListenOptions): AsyncServer {
    return AsyncServer.listen(options);
  }

  /** The local address. */
  get localAddr(): A {
    return this.#conn.localAddr as A;
  }

  /** The peer's address. */
  get remoteAddr(): A {
    return this.#conn.remoteAddr as A;
  }

  /** Whether `close` was called (or the socket was closed because of a bad frame). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the connection is encrypted (TLS). */
  get tls(): boolean {
    return this.#isTls;
  }

  /** How many received bytes are buffered, not yet taken by a reader. */
  get buffered(): number {
    return this.#rb.length;
  }

  /**
   * How many bytes of memory the receive buffer holds now, buffered bytes
   * included. It grows with what arrives, not with what the peer announces:
   * while a `recvMsg` frame or a `readLine` line comes in, it stays within
   * about twice the bytes received plus a chunk (arrays handed out earlier
   * may keep older chunks alive besides).
   *
   * @example
   * ```ts ignore
   * if (sock.bufferCapacity > 64 << 20) sock.close(); // an operator's own bound
   * ```
   */
  get bufferCapacity(): number {
    return this.#rb.capacity;
  }

  /** The largest `recvMsg`/`sendMsg` payload this socket accepts. */
  get maxMessageSize(): number {
    return this.#maxMessage;
  }

  /** The underlying connection (for options this class does not cover). */
  get conn(): Deno.Conn {
    return this.#conn;
  }

  /**
   * Sets `TCP_NODELAY` (`true` sends small writes at once). Ignored on Unix
   * and on TLS connections, whose TCP socket is not reachable.
   */
  setNoDelay(flag = true): void {
    const conn = this.#conn as Partial<Deno.TcpConn>;
    if (typeof conn.setNoDelay === "function") conn.setNoDelay(flag);
  }

  /**
   * Resolves the bytes available now, at most `max` (default 64 KiB), waiting
   * for at least one; an empty array at end of stream.
   *
   * @example
   * ```ts ignore
   * const chunk = await sock.recv(1024, { timeout: 1000 });
   * if (chunk.length === 0) console.log("peer closed");
   * ```
   */
  recv(max = 65536, options?: WaitOptions): Promise<Uint8Array> {
    if (!(max >= 1) || !Number.isInteger(max) || max > 0x3fffffff) {
      return Promise.reject(new RangeError(`recv: 'max' must be a positive integer, got ${max}`));
    }
    return this.#read(max * 8 + R_RECV, options) as Promise<Uint8Array>;
  }

  /**
   * Resolves exactly `n` bytes; rejects with `ConnectionClosed` if the stream
   * ends first (the bytes received so far stay buffered for `recv`). Memory
   * for all `n` bytes is reserved at once, so bound `n` when it comes from
   * the peer (`recvMsg` does that for its frames).
   *
   * @example
   * ```ts ignore
   * const header = await sock.recvAll(16, { timeout: 1000 });
   * ```
   */
  recvAll(n: number, options?: WaitOptions): Promise<Uint8Array> {
    if (!(n >= 0) || !Number.isInteger(n) || n > 0x7fffffff) {
      return Promise.reject(
        new RangeError(`recvAll: 'n' must be a non-negative integer, got ${n}`),
      );
    }
    return this.#read(n * 8 + R_ALL, options) as Promise<Uint8Array>;
  }

  /**
   * Copies received bytes into `buffer`, which you own and may reuse: no
   * memory is allocated for the data. Resolves how many bytes were copied
   * (at least one; `0` only for an empty `buffer`), or `null` at end of
   * stream. With `all`, resolves `buffer.length` once the whole buffer is
   * filled, or rejects with `ConnectionClosed` (the bytes stay buffered) if
   * the stream ends first. Bytes are copied only when the call succeeds, so
   * an interrupted `recvInto` leaves `buffer` alone and loses nothing.
   *
   * @example
   * ```ts ignore
   * const buf = new Uint8Array(4096);
   * for (let n; (n = await sock.recvInto(buf)) !== null;) await sock.sendAll(buf.subarray(0, n));
   * ```
   */
  recvInto(buffer: Uint8Array, options?: RecvIntoOptions): Promise<number | null> {
    if (!(buffer instanceof Uint8Array)) {
      return Promise.reject(new TypeError("recvInto: 'buffer' must be a Uint8Array"));
    }
    return this.#read(options?.all ? new Fill(buffer) : buffer, options) as Promise<number | null>;
  }

  /**
   * Resolves the next message sent with `sendMsg` (a 4-byte big-endian
   * length, then the payload, as pycos frames them), or `null` when the
   * stream ends cleanly between messages. Rejects with `ConnectionClosed`
   * if it ends inside a frame, and with `MessageTooLarge` (closing this
   * socket) if the announced length exceeds `maxSize`. The length is the
   * peer's word, so nothing is reserved for it: the memory held for a frame
   * grows with the bytes that have arrived (at most about twice those, see
   * `bufferCapacity`), and the frame is handed out without a further copy.
   *
   * @example
   * ```ts ignore
   * for (let msg; (msg = await sock.recvMsg({ timeout: 5000 })) !== null;) console.log(msg);
   * ```
   */
  recvMsg(options?: RecvMsgOptions): Promise<Uint8Array | null> {
    const limit = limitOf(options?.maxSize, this.#maxMessage, "maxSize");
    if (typeof limit !== "number") return Promise.reject(limit);
    return this.#read(limit * 8 + R_MSG, options) as Promise<Uint8Array | null>;
  }

  /**
   * Iterates the messages of `recvMsg` until the stream ends; each step
   * waits with these options.
   *
   * @example
   * ```ts ignore
   * for await (const msg of sock.messages()) await sock.sendMsg(msg);
   * ```
   */
  async *messages(options?: RecvMsgOptions): AsyncIterableIterator<Uint8Array> {
    for (;;) {
      const msg = await this.recvMsg(options);
      if (msg === null) return;
      yield msg;
    }
  }

  /**
   * Resolves the next line, decoded as UTF-8, without its `\n` or `\r\n`
   * unless `keepEnd`; `null` at end of stream (a last line without `\n` is
   * returned as is). A line longer than `maxLength` rejects with
   * `MessageTooLarge` and stays buffered.
   *
   * @example
   * ```ts ignore
   * const line = await sock.readLine({ timeout: 1000 });
   * ```
   */
  readLine(options?: ReadLineOptions): Promise<string | null> {
    const limit = limitOf(options?.maxLength, DEFAULT_MAX_LINE_LENGTH, "maxLength");
    if (typeof limit !== "number") return Promise.reject(limit);
    return this.#read(limit * 8 + (options?.keepEnd ? R_LINE_KEEP : R_LINE), options) as Promise<
      string | null
    >;
  }

  /**
   * Writes once: resolves how many bytes of `data` the system took (maybe
   * fewer than all). Use `sendAll` to send everything.
   *
   * @example
   * ```ts ignore
   * const n = await sock.send(bytes);
   * ```
   */
  send(data: Sendable, options?: WaitOptions): Promise<number> {
    return this.#write(W_ONCE, data, options) as Promise<number>;
  }

  /**
   * Sends all of `data`. If the caller stops waiting after the first byte
   * went out, the rest is still sent (the stream stays whole) and the caller
   * gets its error at once; a send that had not started is dropped. Do not
   * modify `data` until the send settles.
   *
   * @example
   * ```ts ignore
   * await sock.sendAll("hello/", { timeout: 1000 });
   * ```
   */
  sendAll(data: Sendable, options?: WaitOptions): Promise<void> {
    if (this.#writing || typeof data === "string" || data.length === 0) {
      return this.#write(W_ALL, data, options) as Promise<void>;
    }
    // The common case, kept short: nothing is being sent, start at once
    // (going through #write instead measured a few percent slower on B4).
    const task = currentTask();
    if (task !== undefined) {
      const err = pendingError(task);
      if (err !== undefined) return Promise.reject(err);
    }
    if (this.#wError !== null) return Promise.reject(this.#wError);
    const q = this.#active;
    const p = park<void>(q, task, options, TIMEOUT_REJECTS);
    if (q.length > 0) {
      this.#writing = true;
      this.#wKind = W_ALL;
      this.#wBytes = data;
      this.#wOff = 0;
      this.#wResult = undefined;
      this.#writeOp = this.#conn.write(data).then(this.#onWrite, this.#onWriteError);
    }
    return p;
  }

  /**
   * Sends `data` as one message: a 4-byte big-endian length, then the bytes.
   * Rejects with `MessageTooLarge` (sending nothing) if it is longer than
   * the socket's `maxMessageSize` or `options.maxSize`.
   *
   * @example
   * ```ts ignore
   * await sock.sendMsg(new TextEncoder().encode("hi"));
   * ```
   */
  sendMsg(data: Sendable, options?: RecvMsgOptions): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const limit = limitOf(options?.maxSize, this.#maxMessage, "maxSize");
    if (typeof limit !== "number") return Promise.reject(limit);
    if (bytes.length > limit) return Promise.reject(new MessageTooLarge(bytes.length, limit));
    return this.#write(W_MSG, bytes, options) as Promise<void>;
  }

  /**
   * Ends the sending side (`shutdown(SHUT_WR)`) once the queued sends are
   * done; the peer then reads end of stream while this side can still
   * receive.
   *
   * @example
   * ```ts ignore
   * await sock.sendAll("last words");
   * await sock.closeWrite();
   * ```
   */
  closeWrite(options?: WaitOptions): Promise<void> {
    return this.#write(W_SHUT, EMPTY, options) as Promise<void>;
  }

  /**
   * Upgrades a plain TCP client connection to TLS and completes the
   * handshake. Nothing may be unread in the buffer and no read or send may
   * be in progress (bytes read before the upgrade would be lost to it).
   * Interrupting the handshake closes the socket. Deno can only upgrade the
   * client side; a server offers TLS by listening with `tls`.
   *
   * @example
   * ```ts ignore
   * await sock.sendAll("STARTTLS\n");
   * if ((await sock.readLine()) === "OK") await sock.startTls({ hostname: "localhost" });
   * ```
   */
  startTls(options?: StartTlsOptions): Promise<void> {
    const task = currentTask();
    const err = pendingError(task);
    if (err !== undefined) return Promise.reject(err);
    if (this.#closed) return Promise.reject(new ConnectionClosed("socket is closed"));
    const conn = this.#conn;
    if (this.#isTls || typeof (conn as Partial<Deno.TcpConn>).setNoDelay !== "function") {
      return Promise.reject(new TypeError("startTls: only a plain TCP connection can be upgraded"));
    }
    if (this.#reading || this.#rb.length > 0 || this.#readers.length > 0) {
      return Promise.reject(
        new Error("startTls: a read is in progress or received bytes are unread"),
      );
    }
    if (this.#writing) return Promise.reject(new Error("startTls: a send is in progress"));
    const q = new WaitQueue();
    const p = park<Deno.TlsConn>(q, task, options, TIMEOUT_REJECTS);
    if (q.length === 0) return p.then(() => {});
    this.#paused = true;
    this.#writing = true;
    const { timeout: _t, signal: _s, ...tlsOptions } = options ?? {};
    (async () => {
      const t = await Deno.startTls(conn as Deno.TcpConn, {
        hostname: (conn.remoteAddr as Deno.NetAddr).hostname,
        ...tlsOptions,
      });
      if (this.#closed) {
        closeQuietly(t);
        throw new ConnectionClosed("socket is closed");
      }
      this.#conn = t;
      await t.handshake();
      return t;
    })().then((t) => q.shift()?.settle(t), (e) => q.shift()?.fail(e));
    return p.then(() => {
      this.#isTls = true;
      this.#paused = false;
      this.#writing = false;
      this.#nextWrite();
      if (this.#readers.length > 0) this.#pump();
    }, (e) => {
      // A half-done handshake leaves the stream unusable: close it.
      this.close();
      throw e;
    });
  }

  /**
   * Closes the connection. Pending and later operations reject with
   * `ConnectionClosed`; queued sends are dropped. Idempotent.
   *
   * @example
   * ```ts ignore
   * sock.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.disown(this);
    const err = new ConnectionClosed("socket is closed");
    this.#readers.quiet = true;
    this.#readers.failAll(err);
    this.#writers.failAll(err);
    this.#active.failAll(err);
    this.#wError ??= err;
    this.#rb.clear();
    closeQuietly(this.#conn);
  }

  /** Same as `close` (for `using`); `await using` also waits for the pending operations to end. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the socket and waits until its outstanding read and write have ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#readOp;
    await this.#writeOp;
  }

  // --- read side ---

  /**
   * Starts a read request: `req` is a packed number (`limit * 8 + op`) or a
   * `recvInto` target. Served at once from the buffer when nobody is ahead.
   */
  #read(req: unknown, options: WaitOptions | undefined): Promise<unknown> {
    if (options !== undefined) {
      // Before the fast path, as in the core: a bad timeout or an aborted
      // signal takes no buffered bytes.
      const bad = waitOptionsError(options);
      if (bad !== undefined) return Promise.reject(bad);
    }
    const task = currentTask();
    if (task !== undefined) {
      const err = pendingError(task);
      if (err !== undefined) return Promise.reject(err);
    }
    if (this.#readers.length === 0 && !this.#paused) {
      let r: unknown;
      try {
        r = this.#serve(req);
      } catch (e) {
        if (this.#fatal) this.close();
        return Promise.reject(e);
      }
      if (r !== NOT_YET) return Promise.resolve(r);
    } else if (this.#closed) {
      return Promise.reject(new ConnectionClosed("socket is closed"));
    }
    const p = park(this.#readers, task, options, TIMEOUT_REJECTS, req);
    if (!this.#reading && !this.#paused && this.#readers.length > 0) this.#startRead();
    return p;
  }

  /** Serves a request of either kind; see `#take` and `#takeInto`. */
  #serve(req: unknown): unknown {
    return typeof req === "number" ? this.#take(req) : this.#takeInto(req as Uint8Array | Fill);
  }

  /**
   * Serves the request `code` from the buffer: its result, `NOT_YET`, or a
   * throw. Sets `#need` when the request needs more bytes than are buffered.
   */
  #take(code: number): unknown {
    const op = code & 7;
    const limit = (code - op) / 8;
    const rb = this.#rb;
    const ended = this.#eof || this.#readError !== null || this.#closed;
    switch (op) {
      case R_RECV: {
        const r = rb.takeUpTo(limit);
        if (r !== null) return r;
        if (ended) return this.#ended(EMPTY);
        this.#need = 0;
        return NOT_YET;
      }
      case R_ALL: {
        const r = rb.takeExactly(limit);
        if (r !== null) return r;
        if (ended) {
          throw this.#ended(
            new ConnectionClosed(`connection closed after ${rb.length} of ${limit} bytes`),
          );
        }
        this.#need = limit;
        return NOT_YET;
      }
      case R_MSG: {
        const len = rb.peekUint32();
        if (len < 0) {
          if (ended) {
            if (rb.length === 0) return this.#ended(null);
            throw this.#ended(new ConnectionClosed("connection closed inside a message header"));
          }
          this.#need = 4;
          return NOT_YET;
        }
        if (len > limit) {
          // The peer broke the protocol: nothing after this can be trusted,
          // so the socket is closed once this reader has its error.
          this.#fatal = true;
          throw new MessageTooLarge(len, limit, "incoming message");
        }
        if (rb.length >= len + 4) {
          rb.skip(4);
          return rb.takeExactly(len);
        }
        if (ended) {
          throw this.#ended(
            new ConnectionClosed(`connection closed inside a message of ${len} bytes`),
          );
        }
        this.#need = len + 4;
        this.#announced = true;
        return NOT_YET;
      }
      default: {
        const line = rb.takeLine(limit, op === R_LINE_KEEP, ended);
        if (line !== undefined) return line;
        if (ended) return this.#ended(null);
        this.#need = 0;
        return NOT_YET;
      }
    }
  }

  /** Serves a `recvInto`: copies into the caller's memory (no view is handed out). */
  #takeInto(req: Uint8Array | Fill): unknown {
    const rb = this.#rb;
    const ended = this.#eof || this.#readError !== null || this.#closed;
    if (req instanceof Fill) {
      const dst = req.buffer;
      if (rb.length >= dst.length) return rb.copyTo(dst);
      if (ended) {
        throw this.#ended(
          new ConnectionClosed(`connection closed after ${rb.length} of ${dst.length} bytes`),
        );
      }
      this.#need = dst.length;
      return NOT_YET;
    }
    if (req.length === 0) return 0;
    if (rb.length > 0) return rb.copyTo(req);
    if (ended) return this.#ended(null);
    this.#need = 0;
    return NOT_YET;
  }

  /** What a reader gets at end of stream: `value`, or why the stream ended. */
  #ended<T>(value: T): T {
    if (this.#closed) throw new ConnectionClosed("socket is closed");
    const e = this.#readError;
    if (e === null) return value;
    if (value instanceof ConnectionClosed) {
      throw new ConnectionClosed(value.message, { cause: e.cause });
    }
    throw e;
  }

  #startRead(): void {
    this.#reading = true;
    const need = this.#need;
    const announced = this.#announced;
    this.#need = 0;
    this.#announced = false;
    this.#readOp = this.#conn.read(this.#rb.space(need, announced)).then(
      this.#onRead,
      this.#onReadError,
    );
  }

  #onRead = (n: number | null): void => {
    this.#reading = false;
    if (this.#closed) return;
    if (n === null) this.#eof = true;
    else this.#rb.commit(n);
    this.#pump();
  };

  #onReadError = (e: unknown): void => {
    this.#reading = false;
    if (this.#closed) return;
    this.#readError = new ConnectionClosed("connection lost", { cause: e });
    this.#pump();
  };

  /** Serves waiting readers in order from the buffer; reads again if some still wait. */
  #pump = (): void => {
    const q = this.#readers;
    if (this.#closed || this.#paused) return;
    q.quiet = true;
    for (let w = q.peek(); w !== null; w = q.peek()) {
      let r: unknown;
      try {
        r = this.#serve(w.data);
      } catch (e) {
        q.shift();
        w.fail(e);
        if (this.#fatal) {
          this.close();
          return;
        }
        continue;
      }
      if (r === NOT_YET) break;
      q.shift();
      w.settle(r);
    }
    q.quiet = false;
    if (q.length > 0 && !this.#reading && !this.#closed) this.#startRead();
  };

  // --- write side ---

  #write(kind: number, data: Sendable, options: WaitOptions | undefined): Promise<unknown> {
    const task = currentTask();
    if (task !== undefined) {
      const err = pendingError(task);
      if (err !== undefined) return Promise.reject(err);
    }
    if (this.#wError !== null) return Promise.reject(this.#wError);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (!this.#writing) {
      const q = this.#active;
      const p = park(q, task, options, TIMEOUT_REJECTS);
      if (q.length > 0) this.#startJob(kind, bytes);
      return p;
    }
    const job: WriteJob = { kind, bytes };
    return park(this.#writers, task, options, TIMEOUT_REJECTS, job);
  }

  #startJob(kind: number, bytes: Uint8Array): void {
    this.#writing = true;
    this.#wKind = kind;
    this.#wOff = 0;
    this.#wNext = null;
    this.#wResult = undefined;
    if (kind === W_MSG) {
      const n = bytes.length;
      if (n + 4 <= 16384) {
        // Small frames go out in one write, copied behind the header.
        let s = this.#scratch;
        if (s.length === 0) s = this.#scratch = new Uint8Array(16384);
        s[0] = n >>> 24;
        s[1] = (n >>> 16) & 255;
        s[2] = (n >>> 8) & 255;
        s[3] = n & 255;
        s.set(bytes, 4);
        this.#wBytes = s.subarray(0, n + 4);
      } else {
        const h = new Uint8Array(4);
        new DataView(h.buffer).setUint32(0, n);
        this.#wBytes = h;
        this.#wNext = bytes;
      }
    } else if (kind === W_SHUT) {
      this.#writeOp = this.#conn.closeWrite().then(this.#onShut, this.#onWriteError);
      return;
    } else {
      this.#wBytes = bytes;
      if (bytes.length === 0) {
        this.#wResult = kind === W_ONCE ? 0 : undefined;
        this.#writeOp = Promise.resolve().then(this.#finishJob);
        return;
      }
    }
    this.#writeOp = this.#conn.write(this.#wBytes).then(this.#onWrite, this.#onWriteError);
  }

  #onWrite = (n: number): void => {
    if (this.#closed) return;
    const off = this.#wOff += n;
    const bytes = this.#wBytes;
    if (this.#wKind === W_ONCE) {
      this.#wResult = n;
    } else if (off < bytes.length) {
      this.#writeOp = this.#conn.write(bytes.subarray(off)).then(this.#onWrite, this.#onWriteError);
      return;
    } else if (this.#wNext !== null) {
      this.#wBytes = this.#wNext;
      this.#wNext = null;
      this.#wOff = 0;
      this.#writeOp = this.#conn.write(this.#wBytes).then(this.#onWrite, this.#onWriteError);
      return;
    }
    this.#finishJob();
  };

  #finishJob = (): void => {
    this.#wBytes = EMPTY;
    this.#wNext = null;
    this.#active.shift()?.settle(this.#wResult);
    this.#writing = false;
    this.#nextWrite();
  };

  #onShut = (): void => {
    if (this.#closed) return;
    this.#wError = new ConnectionClosed("the sending side is closed");
    this.#active.shift()?.settle(undefined);
    this.#writers.failAll(this.#wError);
    this.#writing = false;
  };

  #onWriteError = (e: unknown): void => {
    if (this.#closed) return;
    const err = new ConnectionClosed("send failed: connection lost", { cause: e });
    this.#wError = err;
    this.#wBytes = EMPTY;
    this.#wNext = null;
    this.#active.failAll(err);
    this.#writers.failAll(err);
    this.#writing = false;
  };

  #nextWrite(): void {
    if (this.#writing || this.#closed) return;
    const w = this.#writers.shift();
    if (w === null) return;
    const job = w.data as WriteJob;
    this.#active.push(w);
    this.#startJob(job.kind, job.bytes);
  }
}

/**
 * Throws the `RangeError` that `new AsyncSocket(conn, options)` would throw
 * for bad `maxMessageSize` or `bufferSize`, so that `AsyncServer` refuses
 * them when it is made, not with an unhandled rejection at its first accept.
 *
 * @example
 * ```ts ignore
 * checkSocketOptions({ bufferSize: 16 }); // throws RangeError
 * ```
 */
export function checkSocketOptions(options: SocketOptions | undefined): void {
  checkLimit(options?.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, "maxMessageSize");
  // The buffer checks its size; it allocates nothing until its first read.
  new ReadBuffer(options?.bufferSize ?? 16384);
}

function limitOf(value: number | undefined, fallback: number, what: string): number | RangeError {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    return new RangeError(`${what} must be an integer from 0 to 2^32-1, got ${value}`);
  }
  return value;
}

function checkLimit(value: number | undefined, fallback: number, what: string): number {
  const limit = limitOf(value, fallback, what);
  if (typeof limit !== "number") throw limit;
  return limit;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
