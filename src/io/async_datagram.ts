/**
 * `AsyncDatagram`: a UDP socket that tasks wait on, with IPv4 multicast.
 * Needs `--unstable-net` (Deno's `Deno.listenDatagram`) and `--allow-net`.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import { type WaitOptions, waitOptionsError } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import { pendingError } from "../core/wait.ts";
import { Arrivals } from "./arrivals.ts";
import { ConnectionClosed } from "./errors.ts";
import type { Sendable } from "./async_socket.ts";

/**
 * Options for `AsyncDatagram.bind`.
 *
 * @example
 * ```ts
 * import type { DatagramOptions } from "@denocos/denocos/io";
 *
 * const opts: DatagramOptions = { hostname: "127.0.0.1", port: 0 };
 * console.log(opts.port); // 0
 * ```
 */
export interface DatagramOptions {
  /** Address to bind (default `"0.0.0.0"`). */
  hostname?: string;
  /** Port to bind (`0` picks a free one; see `localAddr`). */
  port?: number;
  /** Set `SO_REUSEADDR` so several sockets can bind the same multicast port. */
  reuseAddress?: boolean;
  /** Loop multicast datagrams sent by this socket back to local members. */
  loopback?: boolean;
  /** Largest datagram received whole, in bytes (default 65,535); longer ones are cut. */
  maxDatagramSize?: number;
  /** The scheduler whose `finish()` closes this socket (default: the current task's, else the default one). */
  scheduler?: Scheduler;
}

/**
 * One received datagram.
 *
 * @example
 * ```ts ignore
 * const { data, remoteAddr } = await udp.recvFrom();
 * ```
 */
export interface Datagram {
  /** The payload (a view of the socket's receive memory: `slice()` it to keep it long). */
  data: Uint8Array;
  /** Who sent it. */
  remoteAddr: Deno.NetAddr;
}

/**
 * Where to send a datagram.
 *
 * @example
 * ```ts
 * import type { DatagramAddr } from "@denocos/denocos/io";
 *
 * const to: DatagramAddr = { hostname: "127.0.0.1", port: 9705 };
 * console.log(to.port); // 9705
 * ```
 */
export interface DatagramAddr {
  /** Destination host. */
  hostname: string;
  /** Destination port. */
  port: number;
}

const encoder = new TextEncoder();
const CHUNK = 256 * 1024;

/**
 * A UDP socket. `recvFrom` waits for the next datagram (`{ timeout, signal }`;
 * a timeout rejects with `TimeoutError`, a terminated task gets
 * `TaskTerminated`); a datagram that arrives for a caller who stopped
 * waiting goes to the next caller, so none is lost. `sendTo` does not wait
 * for anything but the system. Only one receive runs at a time.
 *
 * @example
 * ```ts
 * import { AsyncDatagram } from "@denocos/denocos/io";
 *
 * await using a = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0 });
 * await using b = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0 });
 * await a.sendTo("ping", b.localAddr);
 * const { data, remoteAddr } = await b.recvFrom({ timeout: 5000 });
 * console.log(new TextDecoder().decode(data), remoteAddr.port === a.localAddr.port); // ping true
 * ```
 */
export class AsyncDatagram implements Disposable, AsyncDisposable, AsyncIterable<Datagram> {
  #conn: Deno.DatagramConn;
  #scheduler: Scheduler;
  #max: number;
  #datagrams: Arrivals<Datagram> = new Arrivals(() => this.#startReceive(), same);
  #recvOp: Promise<void> | null = null;
  #chunk: Uint8Array = new Uint8Array(0);
  #off = 0;
  #closed = false;
  #memberships = new Map<string, Deno.MulticastV4Membership>();

  /**
   * Wraps a datagram connection you already have. The socket owns it from now on.
   *
   * @param conn from `Deno.listenDatagram({ transport: "udp", ... })`
   * @param options receive size limit, owning scheduler
   */
  constructor(conn: Deno.DatagramConn, options?: DatagramOptions) {
    this.#conn = conn;
    const max = options?.maxDatagramSize ?? 65535;
    if (!Number.isInteger(max) || max < 1 || max > 65535) {
      throw new RangeError(`maxDatagramSize must be an integer from 1 to 65535, got ${max}`);
    }
    this.#max = max;
    this.#scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.#scheduler.adopt(this);
  }

  /**
   * Binds a UDP socket. Throws if Deno runs without `--unstable-net`.
   *
   * @example
   * ```ts
   * import { AsyncDatagram } from "@denocos/denocos/io";
   *
   * using udp = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0 });
   * console.log(udp.localAddr.port > 0); // true
   * ```
   */
  static bind(options?: DatagramOptions): AsyncDatagram {
    const listen = (Deno as { listenDatagram?: typeof Deno.listenDatagram }).listenDatagram;
    if (typeof listen !== "function") {
      throw new Error("AsyncDatagram needs Deno's UDP API: run with --unstable-net");
    }
    const max = options?.maxDatagramSize;
    if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 65535)) {
      throw new RangeError(`maxDatagramSize must be an integer from 1 to 65535, got ${max}`);
    }
    const conn = listen({
      transport: "udp",
      hostname: options?.hostname ?? "0.0.0.0",
      port: options?.port ?? 0,
      reuseAddress: options?.reuseAddress,
      loopback: options?.loopback,
    });
    return new AsyncDatagram(conn, options);
  }

  /** The bound address. */
  get localAddr(): Deno.NetAddr {
    return this.#conn.addr as Deno.NetAddr;
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one datagram to `addr`; resolves the number of bytes sent.
   *
   * @example
   * ```ts ignore
   * await udp.sendTo("hello", { hostname: "127.0.0.1", port: 9705 });
   * ```
   */
  sendTo(data: Sendable, addr: DatagramAddr): Promise<number> {
    const err = pendingError(currentTask());
    if (err !== undefined) return Promise.reject(err);
    if (this.#closed) return Promise.reject(new ConnectionClosed("datagram socket is closed"));
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    return this.#conn.send(bytes, { transport: "udp", hostname: addr.hostname, port: addr.port });
  }

  /**
   * Resolves the next datagram. Rejects with `ConnectionClosed` once the
   * socket is closed.
   *
   * @example
   * ```ts ignore
   * const { data, remoteAddr } = await udp.recvFrom({ timeout: 1000 });
   * ```
   */
  recvFrom(options?: WaitOptions): Promise<Datagram> {
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    const task = currentTask();
    const err = pendingError(task);
    if (err !== undefined) return Promise.reject(err);
    if (this.#closed) return Promise.reject(new ConnectionClosed("datagram socket is closed"));
    return this.#datagrams.take(task, options);
  }

  /** Receives datagrams until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Datagram> {
    for (;;) {
      let d: Datagram;
      try {
        d = await this.recvFrom();
      } catch (e) {
        if (this.#closed && e instanceof ConnectionClosed) return;
        throw e;
      }
      yield d;
    }
  }

  /**
   * Joins the IPv4 multicast `group` on the interface with address `iface`
   * (default `"0.0.0.0"`: the system's choice). The membership lets you set
   * loopback and TTL; `leaveMulticastV4` (or `close`) leaves.
   *
   * @example
   * ```ts ignore
   * const m = await udp.joinMulticastV4("239.255.97.5", "127.0.0.1");
   * await m.setLoopback(true);
   * ```
   */
  async joinMulticastV4(group: string, iface = "0.0.0.0"): Promise<Deno.MulticastV4Membership> {
    if (this.#closed) throw new ConnectionClosed("datagram socket is closed");
    const key = `${group}%${iface}`;
    const existing = this.#memberships.get(key);
    if (existing !== undefined) return existing;
    const m = await this.#conn.joinMulticastV4(group, iface);
    this.#memberships.set(key, m);
    return m;
  }

  /**
   * Leaves a group joined with `joinMulticastV4`; `false` if it was not joined.
   *
   * @example
   * ```ts ignore
   * await udp.leaveMulticastV4("239.255.97.5", "127.0.0.1");
   * ```
   */
  async leaveMulticastV4(group: string, iface = "0.0.0.0"): Promise<boolean> {
    const key = `${group}%${iface}`;
    const m = this.#memberships.get(key);
    if (m === undefined) return false;
    this.#memberships.delete(key);
    await m.leave();
    return true;
  }

  /**
   * Closes the socket: waiting `recvFrom`s reject with `ConnectionClosed`;
   * memberships end with it. Idempotent.
   *
   * @example
   * ```ts ignore
   * udp.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.disown(this);
    this.#memberships.clear();
    this.#datagrams.close(new ConnectionClosed("datagram socket is closed"));
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Same as `close` (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the socket and waits until its outstanding receive has ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#recvOp;
  }

  #startReceive(): void {
    // Datagrams land in a shared chunk and are handed out as views; a chunk
    // is never written twice, so handed-out data stays intact.
    if (this.#chunk.length - this.#off < this.#max) {
      this.#chunk = new Uint8Array(Math.max(CHUNK, this.#max));
      this.#off = 0;
    }
    this.#recvOp = this.#conn.receive(this.#chunk.subarray(this.#off, this.#off + this.#max))
      .then(this.#onReceive, this.#onError);
  }

  #onReceive = ([data, addr]: [Uint8Array, Deno.Addr]): void => {
    if (this.#closed) return;
    this.#off += data.length;
    this.#datagrams.arrived({ data, remoteAddr: addr as Deno.NetAddr });
  };

  #onError = (e: unknown): void => {
    if (!this.#closed) this.#datagrams.failed(e);
  };
}

function same<T>(x: T): T {
  return x;
}
