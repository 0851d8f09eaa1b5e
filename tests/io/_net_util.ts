/**
 * Helpers shared by the I/O tests: sockets, fake connections, programs run
 * to their end (the scheduler and task helpers are in `../core/_util.ts`).
 *
 * @module
 */
import { type AsyncServer, AsyncSocket, type Scheduler, type SocketOptions } from "../../mod.ts";

/** How long an I/O wait that must succeed may take before the test fails (never a timing assertion). */
export const LIMIT = 10_000;

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A connected pair over TCP on 127.0.0.1: `[client, server side]`, owned by `s`. */
export async function tcpPair(
  s: Scheduler,
  options: SocketOptions = {},
): Promise<[AsyncSocket<Deno.NetAddr>, AsyncSocket<Deno.NetAddr>, AsyncServer<Deno.NetAddr>]> {
  const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s, ...options });
  const accepted = server.accept({ timeout: LIMIT });
  const client = await AsyncSocket.connect({
    hostname: "127.0.0.1",
    port: server.localAddr.port,
    scheduler: s,
    timeout: LIMIT,
    ...options,
  });
  return [client, await accepted, server];
}

/**
 * Runs a program to its end and returns its output. A program still running
 * after a minute is killed (which only fails the test); the timer is cleared
 * either way.
 */
export async function output(
  command: string | URL,
  options: Deno.CommandOptions,
): Promise<Deno.CommandOutput> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  try {
    return await new Deno.Command(command, { ...options, signal: controller.signal }).output();
  } finally {
    clearTimeout(timer);
  }
}

/** `n` bytes counting up from `seed` (mod 256), to check that nothing is lost or reordered. */
export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i) & 255;
  return b;
}

/** A 4-byte big-endian length prefix followed by `payload`, as `sendMsg` frames it. */
export function frame(payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + payload.length);
  new DataView(f.buffer).setUint32(0, payload.length);
  f.set(payload, 4);
  return f;
}

/**
 * A fake `Deno.Conn` whose reads are fed by the test, so the exact way bytes
 * arrive (a frame split anywhere) is deterministic.
 */
export class FakeConn implements Partial<Deno.Conn> {
  #chunks: (Uint8Array | null)[] = [];
  #pending:
    | { buf: Uint8Array; resolve: (n: number | null) => void; reject: (e: unknown) => void }
    | null = null;
  #readCalled: ((error?: Error) => void) | null = null;
  written: Uint8Array[] = [];
  closedCount = 0;
  reads = 0;
  /** The size of the memory the socket offered its last read (0 before any). */
  lastRoom = 0;
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 2 };

  /** Whether a read is waiting for `feed`. */
  get reading(): boolean {
    return this.#pending !== null;
  }

  /** Delivers `bytes` (or end of stream for `null`) to the pending read, or queues it. */
  feed(bytes: Uint8Array | null): void {
    this.#chunks.push(bytes);
    this.#serve();
  }

  /**
   * Resolves at the socket's next `read` call, e.g. once it has taken in
   * what `feed` gave it and wants more; rejects after `LIMIT` (only fails
   * the test).
   */
  nextRead(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the socket did not read again")), LIMIT);
      this.#readCalled = (error) => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
    });
  }

  read(buf: Uint8Array): Promise<number | null> {
    this.reads++;
    this.lastRoom = buf.length;
    const called = this.#readCalled;
    this.#readCalled = null;
    called?.();
    return new Promise((resolve, reject) => {
      this.#pending = { buf, resolve, reject };
      this.#serve();
    });
  }

  write(bytes: Uint8Array): Promise<number> {
    this.written.push(bytes.slice());
    return Promise.resolve(bytes.length);
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.closedCount++;
    const called = this.#readCalled;
    this.#readCalled = null;
    called?.(new Error("closed before the socket read again"));
    const p = this.#pending;
    this.#pending = null;
    p?.reject(new Deno.errors.BadResource("closed"));
  }

  #serve(): void {
    const p = this.#pending;
    if (p === null || this.#chunks.length === 0) return;
    const c = this.#chunks[0];
    if (c === null) {
      this.#pending = null;
      p.resolve(null);
      return;
    }
    const n = Math.min(c.length, p.buf.length);
    p.buf.set(c.subarray(0, n));
    if (n === c.length) this.#chunks.shift();
    else this.#chunks[0] = c.subarray(n);
    this.#pending = null;
    p.resolve(n);
  }
}

/** Wraps a `FakeConn` in an `AsyncSocket` owned by `s`. */
export function fakeSocket(s: Scheduler, options: SocketOptions = {}): [AsyncSocket, FakeConn] {
  const conn = new FakeConn();
  return [new AsyncSocket(conn as unknown as Deno.Conn, { scheduler: s, ...options }), conn];
}

/** What `measureWork` counted. */
export interface Work {
  /** Bytes that `Uint8Array#indexOf` calls could look at (searches for a line end). */
  scanned: number;
  /** Bytes copied by `Uint8Array#set` (chunk moves, copies out). */
  copied: number;
}

/**
 * Runs `fn` while counting the bytes that `Uint8Array#indexOf` could scan
 * and that `Uint8Array#set` copies, so that a test can check that work grows
 * linearly with the input without measuring time. The methods are wrapped on
 * `Uint8Array.prototype` (shadowing the `%TypedArray%` ones) for the
 * duration of `fn` only.
 */
export async function measureWork(fn: () => Promise<void>): Promise<Work> {
  const proto = Uint8Array.prototype as unknown as Record<string, unknown>;
  const base = Object.getPrototypeOf(Uint8Array.prototype);
  const indexOf = base.indexOf as (this: Uint8Array, v: number, from?: number) => number;
  const set = base.set as (this: Uint8Array, src: ArrayLike<number>, off?: number) => void;
  const work: Work = { scanned: 0, copied: 0 };
  proto.indexOf = function (this: Uint8Array, v: number, from?: number): number {
    const start = from === undefined ? 0 : from < 0 ? Math.max(0, this.length + from) : from;
    work.scanned += Math.max(0, this.length - start);
    return indexOf.call(this, v, from);
  };
  proto.set = function (this: Uint8Array, src: ArrayLike<number>, off?: number): void {
    work.copied += src.length;
    set.call(this, src, off);
  };
  try {
    await fn();
  } finally {
    delete proto.indexOf;
    delete proto.set;
  }
  return work;
}

/**
 * Why a private network namespace (`unshare -rn`, then `setup` in it, by
 * default loopback up with multicast on) cannot be had here, or `undefined`
 * when it can: multicast tests run only inside one, so their traffic cannot
 * leave the machine.
 */
export async function namespaceUnavailable(
  setup = "ip link set lo up && ip link set lo multicast on",
): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-rn", "sh", "-c", setup],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.code !== 0) return `unshare -rn failed: ${dec.decode(out.stderr).trim()}`;
    return undefined;
  } catch (e) {
    return `cannot run unshare/ip: ${e}`;
  }
}
