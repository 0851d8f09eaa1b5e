/**
 * `SimulatedNetwork`: in-memory hosts and connections for testing
 * distributed code in one process, with faults injected on command
 * (partitions, delay, loss, dead hosts), deterministically for a seed.
 * Nothing touches the operating system: no sockets, and timers only while a
 * delay or a dial timeout is pending.
 *
 * @module
 */
import type { Location } from "../core/location.ts";
import type {
  DialSpec,
  ListenSpec,
  Transport,
  TransportConn,
  TransportListener,
} from "./transport.ts";

/**
 * Options for `new SimulatedNetwork`.
 *
 * @example
 * ```ts
 * import type { SimulatedNetworkOptions } from "@denocos/denocos/net/testing";
 *
 * const options: SimulatedNetworkOptions = { seed: 42 };
 * console.log(options.seed);
 * ```
 */
export interface SimulatedNetworkOptions {
  /** Seeds the one random generator every probabilistic fault draws from (default 1). */
  seed?: number;
}

/**
 * Counters of a `SimulatedNetwork`, for tests.
 *
 * @example
 * ```ts
 * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
 *
 * const stats = new SimulatedNetwork().stats();
 * console.log(stats.bytesDelivered, stats.chunksDelivered); // 0 0
 * ```
 */
export interface SimulatedNetworkStats {
  /** Bytes handed to a receiving end (not counting what was lost or is still held). */
  bytesDelivered: number;
  /** Written chunks handed to a receiving end. */
  chunksDelivered: number;
  /** Chunks lost to `drop` (each one reset its connection). */
  chunksDropped: number;
  /** Bytes currently held back by partitions or in transit under `delay`. */
  bytesInFlight: number;
  /** Connections ever established. */
  connections: number;
  /** Connections reset by `drop`. */
  resets: number;
}

/** Stands for the end of one direction of a stream (the writer closed). */
const FIN: Uint8Array = new Uint8Array(0);
const EMPTY: Uint8Array = new Uint8Array(0);
const FIRST_EPHEMERAL = 20000;
/**
 * Bytes a direction may have unread or on the way (as socket buffers do):
 * past it writes wait, so a sender feels a partition or a slow reader.
 */
const WINDOW = 4 * 1024 * 1024;

interface PendingWrite {
  p: Uint8Array;
  resolve(n: number): void;
  reject(e: unknown): void;
}

class Host {
  readonly name: string;
  alive = true;
  readonly listeners = new Map<number, SimListener>();
  readonly ports = new Set<number>();
  readonly ends = new Set<End>();
  #next = FIRST_EPHEMERAL;
  transport: Transport | undefined;

  constructor(name: string) {
    this.name = name;
  }

  /** The next free port from 20000 upward (wrapping), or throws when all are taken. */
  ephemeral(): number {
    for (let tries = 0; tries <= 65535 - FIRST_EPHEMERAL; tries++) {
      const port = this.#next;
      this.#next = port === 65535 ? FIRST_EPHEMERAL : port + 1;
      if (!this.ports.has(port)) {
        this.ports.add(port);
        return port;
      }
    }
    throw new Deno.errors.AddrInUse(`${this.name}: no ephemeral port left`);
  }
}

/**
 * One direction of a connection: what `from` wrote, on its way to `to`.
 * Chunks pass straight through unless a partition holds them or a delay
 * keeps them in transit; either way their order is kept.
 */
class Direction {
  readonly net: Fabric;
  readonly conn: Connection;
  to!: End;
  /** Held by a partition, in order, until `heal`. */
  held: Uint8Array[] = [];
  /** In transit under `delay`: chunk and due time, in order. */
  transit: Uint8Array[] = [];
  due: number[] = [];
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes held or in transit. */
  bytes = 0;
  /** Writes waiting for the window to open, in order. */
  writers: PendingWrite[] = [];
  readonly #fire = () => this.#arrive();

  constructor(net: Fabric, conn: Connection) {
    this.net = net;
    this.conn = conn;
  }

  /** Whether the window is full: writes must wait. */
  full(): boolean {
    return this.writers.length > 0 || this.bytes + this.to.unread >= WINDOW;
  }

  /** Sends the writer's bytes: straight into the receiver if nothing is in the way, else a copy. */
  transmit(p: Uint8Array): void {
    if (!this.conn.blocked && this.net.delayMs === 0 && this.transit.length === 0) {
      this.to.receive(p, true);
    } else {
      this.send(p.slice(), this.net.delayMs);
    }
  }

  /** Lets waiting writes go while the window has room. */
  pump(): void {
    while (this.writers.length > 0 && this.bytes + this.to.unread < WINDOW) {
      const w = this.writers.shift()!;
      if (!this.to.gone()) this.transmit(w.p);
      w.resolve(w.p.length);
    }
  }

  /** Fails the waiting writes (their end closed, died or was reset). */
  failWriters(error: Error): void {
    const writers = this.writers;
    this.writers = [];
    for (const w of writers) w.reject(error);
  }

  /** Sends `chunk` (already owned by us: copied, or FIN). */
  send(chunk: Uint8Array, delay: number): void {
    if (this.conn.blocked) {
      this.held.push(chunk);
      this.net.inFlight += chunk.length;
      this.bytes += chunk.length;
    } else if (delay === 0 && this.transit.length === 0) {
      this.to.receive(chunk);
    } else {
      this.#enqueue(chunk, delay);
    }
  }

  #enqueue(chunk: Uint8Array, delay: number): void {
    const now = performance.now();
    const last = this.due.length === 0 ? 0 : this.due[this.due.length - 1];
    this.transit.push(chunk);
    this.due.push(Math.max(now + delay, last));
    this.net.inFlight += chunk.length;
    this.bytes += chunk.length;
    if (this.timer === undefined) this.#schedule(now);
  }

  #schedule(now: number): void {
    this.timer = setTimeout(this.#fire, Math.max(0, this.due[0] - now));
  }

  #arrive(): void {
    this.timer = undefined;
    const now = performance.now();
    let i = 0;
    // Timers may fire a little early or late; a chunk due within a
    // millisecond goes now, so one firing delivers a whole burst.
    while (i < this.transit.length && this.due[i] <= now + 1) {
      const chunk = this.transit[i++];
      if (this.conn.blocked) {
        // A partition came up while it travelled: held like later bytes.
        this.held.push(chunk);
      } else {
        this.net.inFlight -= chunk.length;
        this.bytes -= chunk.length;
        this.to.receive(chunk);
      }
    }
    this.transit.splice(0, i);
    this.due.splice(0, i);
    if (this.transit.length > 0) this.#schedule(now);
    if (this.writers.length > 0) this.pump();
  }

  /** Partition healed: held chunks go on, behind anything in transit. */
  release(delay: number): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    for (const chunk of held) {
      this.net.inFlight -= chunk.length;
      this.bytes -= chunk.length;
      this.send(chunk, delay);
    }
    if (this.writers.length > 0) this.pump();
  }

  /**
   * Forgets everything on the way and stops the timer (the receiver is
   * gone); writes still waiting are taken, into the void.
   */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.net.inFlight -= this.bytes;
    this.bytes = 0;
    const writers = this.writers;
    this.writers = [];
    for (const w of writers) w.resolve(w.p.length);
    this.held = [];
    this.transit = [];
    this.due = [];
  }
}

/** The two ends of one connection and the fault state they share. */
class Connection {
  readonly a: End;
  readonly b: End;
  blocked: boolean;

  constructor(net: Fabric, client: Host, server: Host, clientPort: number, serverPort: number) {
    const ab = new Direction(net, this);
    const ba = new Direction(net, this);
    this.a = new End(
      net,
      this,
      client,
      clientPort,
      { hostname: server.name, port: serverPort },
      ab,
    );
    this.b = new End(
      net,
      this,
      server,
      serverPort,
      { hostname: client.name, port: clientPort },
      ba,
      false,
    );
    ab.to = this.b;
    ba.to = this.a;
    this.a.peer = this.b;
    this.b.peer = this.a;
    this.blocked = net.partitioned(client.name, server.name);
  }
}

interface PendingRead {
  p: Uint8Array;
  resolve(n: number | null): void;
  reject(e: unknown): void;
}

/** One end of a simulated connection: a `TransportConn` that behaves as a `Deno.Conn`. */
class End implements TransportConn {
  readonly localAddr: Location;
  readonly remoteAddr: Location;
  readonly net: Fabric;
  readonly conn: Connection;
  readonly host: Host;
  readonly out: Direction;
  peer!: End;
  /** `close` was called here. */
  closed = false;
  /** The host was killed: reads end, writes fail, nothing more is sent. */
  dead = false;
  /** The connection was reset: every read and write fails with this. */
  reset: Error | undefined;
  /** The other end's FIN arrived (reads end once the inbox is empty). */
  finished = false;
  /** Bytes in the inbox, not yet read. */
  unread = 0;
  #inbox: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #readers: PendingRead[] = [];
  /** Whether this end owns its local port (a dialer's ephemeral one). */
  readonly #ownsPort: boolean;

  constructor(
    net: Fabric,
    conn: Connection,
    host: Host,
    port: number,
    remote: Location,
    out: Direction,
    ownsPort = true,
  ) {
    this.net = net;
    this.conn = conn;
    this.host = host;
    this.localAddr = { hostname: host.name, port };
    this.remoteAddr = remote;
    this.out = out;
    this.#ownsPort = ownsPort;
    host.ends.add(this);
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.reset !== undefined) return Promise.reject(this.reset);
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("connection is closed"));
    if (this.#head < this.#inbox.length) return Promise.resolve(this.#take(p));
    if (this.finished || this.dead) return Promise.resolve(null);
    if (p.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => this.#readers.push({ p, resolve, reject }));
  }

  write(p: Uint8Array): Promise<number> {
    if (this.reset !== undefined) return Promise.reject(this.reset);
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("connection is closed"));
    if (this.dead) return Promise.reject(new Deno.errors.BrokenPipe("host is down"));
    if (this.finished && this.peer.closed) {
      return Promise.reject(new Deno.errors.BrokenPipe("the other end closed the connection"));
    }
    const n = p.length;
    if (n === 0) return Promise.resolve(0);
    const net = this.net;
    if (net.dropping() && net.lose()) {
      this.net.resetConnection(this.conn);
      return Promise.resolve(n); // taken, then lost: the reset is what both ends see
    }
    const out = this.out;
    if (out.to.gone()) return Promise.resolve(n); // into the void (a killed host, a closed end)
    if (out.full()) {
      return new Promise((resolve, reject) => out.writers.push({ p, resolve, reject }));
    }
    out.transmit(p);
    return Promise.resolve(n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#endReads();
    this.#forget();
    this.out.failWriters(new Deno.errors.BadResource("connection is closed"));
    // Bytes on their way to us have nowhere to go.
    this.peer.out.clear();
    if (!this.dead && this.reset === undefined) this.out.send(FIN, this.net.delayMs);
    if (this.peer.closed || this.peer.dead) this.out.clear();
    this.net.forget(this.conn);
  }

  /** Whether bytes for this end are discarded on arrival. */
  gone(): boolean {
    return this.closed || this.dead || this.reset !== undefined;
  }

  /** A chunk (or FIN) arrives; `copy` when it still belongs to the writer. */
  receive(chunk: Uint8Array, copy = false): void {
    if (this.gone()) return;
    if (chunk === FIN) {
      this.finished = true;
      if (this.#head === this.#inbox.length) this.#endReads();
      return;
    }
    const net = this.net;
    net.bytesDelivered += chunk.length;
    net.chunksDelivered++;
    let offset = 0;
    // Straight into a waiting reader's buffer when the inbox is empty.
    while (this.#readers.length > 0 && this.#head === this.#inbox.length) {
      const r = this.#readers.shift()!;
      const n = Math.min(r.p.length, chunk.length - offset);
      r.p.set(offset === 0 && n === chunk.length ? chunk : chunk.subarray(offset, offset + n));
      offset += n;
      r.resolve(n);
      if (offset === chunk.length) return;
    }
    const rest = offset === 0 ? chunk : chunk.subarray(offset);
    this.#inbox.push(copy ? rest.slice() : rest);
    this.unread += rest.length;
    // A reader that waited behind older chunks (several concurrent reads).
    while (this.#readers.length > 0 && this.#head < this.#inbox.length) {
      const r = this.#readers.shift()!;
      r.resolve(this.#take(r.p));
    }
  }

  /** Copies as much of the inbox as fits into `p`. */
  #take(p: Uint8Array): number {
    const inbox = this.#inbox;
    let n = 0;
    while (n < p.length && this.#head < inbox.length) {
      const c = inbox[this.#head];
      const take = Math.min(c.length - this.#offset, p.length - n);
      p.set(
        this.#offset === 0 && take === c.length ? c : c.subarray(this.#offset, this.#offset + take),
        n,
      );
      n += take;
      this.#offset += take;
      if (this.#offset === c.length) {
        inbox[this.#head++] = EMPTY;
        this.#offset = 0;
      }
    }
    if (this.#head === inbox.length) {
      inbox.length = 0;
      this.#head = 0;
    }
    this.unread -= n;
    const into = this.peer.out;
    if (into.writers.length > 0) into.pump();
    return n;
  }

  #endReads(): void {
    const readers = this.#readers;
    this.#readers = [];
    for (const r of readers) r.resolve(null);
  }

  #forget(): void {
    this.unread = 0;
    this.#inbox = [];
    this.#head = 0;
    this.#offset = 0;
    this.host.ends.delete(this);
    if (this.#ownsPort) this.host.ports.delete(this.localAddr.port);
  }

  /** The host was killed: this end stops, silently for the other one. */
  kill(): void {
    if (this.dead || this.closed) return;
    this.dead = true;
    this.#endReads();
    this.#forget();
    this.out.failWriters(new Deno.errors.BrokenPipe("host is down"));
    this.out.clear();
    this.peer.out.clear();
  }

  /** Lost a chunk: both ends fail from now on. */
  fail(error: Error): void {
    if (this.closed || this.dead) return;
    this.reset = error;
    const readers = this.#readers;
    this.#readers = [];
    for (const r of readers) r.reject(error);
    this.#forget();
    this.out.failWriters(error);
    this.out.clear();
  }
}

class SimListener implements TransportListener {
  readonly addr: Location;
  readonly #host: Host;
  #closed = false;
  #backlog: End[] = [];
  #acceptors: { resolve(c: TransportConn): void; reject(e: unknown): void }[] = [];

  constructor(host: Host, port: number) {
    this.#host = host;
    this.addr = { hostname: host.name, port };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A dialer arrived: hand its server end to a waiting `accept`, or queue it. */
  arrive(end: End): void {
    const a = this.#acceptors.shift();
    if (a !== undefined) a.resolve(end);
    else this.#backlog.push(end);
  }

  accept(): Promise<TransportConn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("listener is closed"));
    const end = this.#backlog.shift();
    if (end !== undefined) return Promise.resolve(end);
    return new Promise((resolve, reject) => this.#acceptors.push({ resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.listeners.delete(this.addr.port);
    this.#host.ports.delete(this.addr.port);
    for (const a of this.#acceptors.splice(0)) {
      a.reject(new Deno.errors.BadResource("listener is closed"));
    }
    // Connections nobody accepted end for their dialers as with a real backlog.
    for (const end of this.#backlog.splice(0)) end.close();
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

/** A dial waiting for a partition to heal or a host to come back. */
interface ParkedDial {
  from: Host;
  spec: DialSpec;
  resolve(c: TransportConn): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  onAbort: (() => void) | undefined;
}

/** The state and rules of one simulated network (the public class is a facade over it). */
class Fabric {
  readonly #hosts = new Map<string, Host>();
  readonly #conns = new Set<Connection>();
  readonly #partitions = new Set<string>();
  readonly #parked = new Set<ParkedDial>();
  #rng: number;
  #dropRate = 0;
  #named = 0;
  /** Current delay in ms, read on every write. */
  delayMs = 0;
  bytesDelivered = 0;
  chunksDelivered = 0;
  inFlight = 0;
  #chunksDropped = 0;
  #connections = 0;
  #resets = 0;

  constructor(options: SimulatedNetworkOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isFinite(seed)) throw new TypeError(`SimulatedNetwork: bad seed ${seed}`);
    this.#rng = seed >>> 0;
  }

  transport(hostname?: string): Transport {
    if (hostname === undefined) {
      do hostname = `sim-${++this.#named}`; while (this.#hosts.has(hostname));
    } else if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError("SimulatedNetwork.transport: hostname must be a non-empty string");
    }
    let host = this.#hosts.get(hostname);
    if (host === undefined) {
      host = new Host(hostname);
      this.#hosts.set(hostname, host);
    }
    if (host.transport === undefined) {
      const h = host;
      host.transport = {
        listen: (spec: ListenSpec) => this.#listen(h, spec),
        dial: (spec: DialSpec) => this.#dial(h, spec),
      };
    }
    return host.transport;
  }

  partition(a: string | Location, b: string | Location): void {
    const x = this.#known(a, "partition").name;
    const y = this.#known(b, "partition").name;
    this.#partitions.add(pairKey(x, y));
    for (const c of this.#conns) {
      if (!c.blocked) c.blocked = this.partitioned(c.a.host.name, c.b.host.name);
    }
  }

  heal(): void {
    this.#partitions.clear();
    for (const c of [...this.#conns]) {
      if (!c.blocked) continue;
      c.blocked = false;
      c.a.out.release(this.delayMs);
      c.b.out.release(this.delayMs);
    }
    this.#retryParked();
  }

  delay(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new TypeError(`SimulatedNetwork.delay: ms must be a number >= 0, got ${ms}`);
    }
    this.delayMs = ms;
  }

  drop(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) {
      throw new TypeError(`SimulatedNetwork.drop: rate must be in [0, 1], got ${rate}`);
    }
    this.#dropRate = rate;
  }

  kill(host: string | Location): void {
    const h = this.#known(host, "kill");
    h.alive = false;
    // Ends first, so that connections still in a backlog die silently too.
    for (const end of [...h.ends]) {
      end.kill();
      this.forget(end.conn);
    }
    for (const l of [...h.listeners.values()]) l.close();
  }

  revive(host: string | Location): void {
    this.#known(host, "revive").alive = true;
    this.#retryParked();
  }

  stats(): SimulatedNetworkStats {
    return {
      bytesDelivered: this.bytesDelivered,
      chunksDelivered: this.chunksDelivered,
      chunksDropped: this.#chunksDropped,
      bytesInFlight: this.inFlight,
      connections: this.#connections,
      resets: this.#resets,
    };
  }

  partitioned(a: string, b: string): boolean {
    return this.#partitions.size > 0 && this.#partitions.has(pairKey(a, b));
  }

  dropping(): boolean {
    return this.#dropRate > 0;
  }

  lose(): boolean {
    if (this.#next() >= this.#dropRate) return false;
    this.#chunksDropped++;
    return true;
  }

  resetConnection(conn: Connection): void {
    this.#resets++;
    conn.a.fail(new Deno.errors.ConnectionReset("connection reset (simulated loss)"));
    conn.b.fail(new Deno.errors.ConnectionReset("connection reset (simulated loss)"));
    conn.a.out.clear();
    conn.b.out.clear();
    this.#conns.delete(conn);
  }

  forget(conn: Connection): void {
    if (conn.a.gone() && conn.b.gone()) {
      conn.a.out.clear();
      conn.b.out.clear();
      this.#conns.delete(conn);
    }
  }

  /** mulberry32: small, fast, the same sequence for a seed everywhere. */
  #next(): number {
    let t = (this.#rng = (this.#rng + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  #known(ref: string | Location, what: string): Host {
    const name = typeof ref === "string" ? ref : ref?.hostname;
    const host = typeof name === "string" ? this.#hosts.get(name) : undefined;
    if (host === undefined) {
      throw new RangeError(`SimulatedNetwork.${what}: unknown host '${name}'`);
    }
    return host;
  }

  #listen(host: Host, spec: ListenSpec): Promise<TransportListener> {
    const port = spec?.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(new TypeError(`listen: bad port ${port}`));
    }
    if (!host.alive) {
      return Promise.reject(new Deno.errors.AddrNotAvailable(`${host.name} is down`));
    }
    if (port !== 0 && host.ports.has(port)) {
      return Promise.reject(new Deno.errors.AddrInUse(`${host.name}:${port} is in use`));
    }
    let bound: number;
    if (port === 0) {
      try {
        bound = host.ephemeral();
      } catch (e) {
        return Promise.reject(e);
      }
    } else {
      bound = port;
      host.ports.add(port);
    }
    const listener = new SimListener(host, bound);
    host.listeners.set(bound, listener);
    return Promise.resolve(listener);
  }

  #dial(from: Host, spec: DialSpec): Promise<TransportConn> {
    if (spec === null || typeof spec !== "object") {
      return Promise.reject(new TypeError("dial: spec must be an object"));
    }
    const { timeout, signal } = spec;
    if (timeout !== undefined && !(timeout >= 0)) {
      return Promise.reject(new TypeError(`dial: timeout must be a number >= 0, got ${timeout}`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!from.alive) {
      return Promise.reject(new Deno.errors.NetworkUnreachable(`${from.name} is down`));
    }
    if (!this.#hosts.has(spec.hostname)) {
      return Promise.reject(
        new Deno.errors.NotFound(`dial ${spec.hostname}:${spec.port}: no such simulated host`),
      );
    }
    if (this.#reachable(from, spec)) return this.#connect(from, spec);
    return new Promise((resolve, reject) => {
      const parked: ParkedDial = {
        from,
        spec,
        resolve,
        reject,
        timer: undefined,
        onAbort: undefined,
      };
      if (timeout !== undefined) {
        parked.timer = setTimeout(() => {
          this.#unpark(parked);
          reject(
            new Deno.errors.TimedOut(
              `dial ${spec.hostname}:${spec.port} timed out after ${timeout} ms`,
            ),
          );
        }, timeout);
      }
      if (signal !== undefined) {
        parked.onAbort = () => {
          this.#unpark(parked);
          reject(signal.reason);
        };
        signal.addEventListener("abort", parked.onAbort, { once: true });
      }
      this.#parked.add(parked);
    });
  }

  #reachable(from: Host, spec: DialSpec): boolean {
    const to = this.#hosts.get(spec.hostname);
    return to !== undefined && to.alive && from.alive && !this.partitioned(from.name, to.name);
  }

  #connect(from: Host, spec: DialSpec): Promise<TransportConn> {
    const to = this.#hosts.get(spec.hostname)!;
    const listener = to.listeners.get(spec.port);
    if (listener === undefined || listener.closed) {
      return Promise.reject(
        new Deno.errors.ConnectionRefused(`${spec.hostname}:${spec.port} refused the connection`),
      );
    }
    let port: number;
    try {
      port = from.ephemeral();
    } catch (e) {
      return Promise.reject(e);
    }
    const conn = new Connection(this, from, to, port, spec.port);
    this.#conns.add(conn);
    this.#connections++;
    listener.arrive(conn.b);
    return Promise.resolve(conn.a);
  }

  #unpark(parked: ParkedDial): void {
    this.#parked.delete(parked);
    if (parked.timer !== undefined) clearTimeout(parked.timer);
    if (parked.onAbort !== undefined) {
      parked.spec.signal?.removeEventListener("abort", parked.onAbort);
    }
  }

  #retryParked(): void {
    for (const parked of [...this.#parked]) {
      if (!this.#reachable(parked.from, parked.spec)) continue;
      this.#unpark(parked);
      this.#connect(parked.from, parked.spec).then(parked.resolve, parked.reject);
    }
  }
}

/**
 * Several simulated hosts in one process, connected by in-memory byte
 * streams that behave as `Deno.Conn`s do (partial reads, EOF, resets), with
 * faults injected on command. `transport(hostname)` gives the `Transport` of
 * one host, to hand to a scheduler's `listen({ transport })`.
 *
 * Faults, deterministic for a seed:
 * - `partition(a, b)`: a and b stop hearing each other; bytes either way are
 *   held (as TCP retransmits them) and dials between them hang until `heal()`,
 *   which releases the held bytes in order.
 * - `delay(ms)`: every chunk arrives `ms` later, order kept.
 * - `drop(rate)`: each written chunk is lost with probability `rate`; a stream
 *   cannot lose bytes silently, so that connection is reset (both ends' reads
 *   fail with `Deno.errors.ConnectionReset`).
 * - `kill(host)`: the host vanishes: its listeners stop, its connections end
 *   on its side, the other ends hear nothing at all, dials to it hang.
 *   `revive(host)` lets it listen again.
 *
 * @example
 * ```ts
 * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
 *
 * const net = new SimulatedNetwork({ seed: 7 });
 * const a = net.transport("a");
 * const b = net.transport("b");
 * const listener = await b.listen({ hostname: "b", port: 9705 });
 * const client = await a.dial({ hostname: "b", port: 9705 });
 * const server = await listener.accept();
 * await client.write(new TextEncoder().encode("hi"));
 * const buf = new Uint8Array(16);
 * console.log(await server.read(buf)); // 2
 * net.partition("a", "b"); // from now on bytes are held
 * net.heal();
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export class SimulatedNetwork {
  readonly #fabric: Fabric;

  /**
   * Creates an empty network.
   *
   * @param options `seed` for the random generator (default 1)
   */
  constructor(options: SimulatedNetworkOptions = {}) {
    this.#fabric = new Fabric(options);
  }

  /**
   * The transport of host `hostname` (created on first use; default names
   * are `sim-1`, `sim-2`, …). Listening on it binds that host whatever
   * hostname the listen asks for; port 0 picks a free port from 20000 up.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork();
   * const t = net.transport();
   * const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
   * console.log(listener.addr); // { hostname: "sim-1", port: 20000 }
   * listener.close();
   * ```
   *
   * @param hostname the host's name
   * @returns that host's transport
   */
  transport(hostname?: string): Transport {
    return this.#fabric.transport(hostname);
  }

  /**
   * Cuts `a` off from `b` (both ways) until `heal()`: bytes written between
   * them are held, dials between them hang.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork();
   * net.transport("a");
   * net.transport("b");
   * net.partition("a", "b");
   * net.heal();
   * ```
   *
   * @param a one host (its name, or a location on it)
   * @param b the other host
   */
  partition(a: string | Location, b: string | Location): void {
    this.#fabric.partition(a, b);
  }

  /**
   * Removes every partition: held bytes go on, in order, to connections
   * still open; dials that hung complete (or are refused).
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * new SimulatedNetwork().heal(); // nothing to heal: a no-op
   * ```
   */
  heal(): void {
    this.#fabric.heal();
  }

  /**
   * Delivers every chunk written from now on `ms` milliseconds later (order
   * kept per connection); `delay(0)` turns it off.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork();
   * net.delay(20);
   * net.delay(0);
   * ```
   *
   * @param ms the one-way delay in milliseconds
   */
  delay(ms: number): void {
    this.#fabric.delay(ms);
  }

  /**
   * Loses each chunk written from now on with probability `rate` (drawn
   * from the seeded generator); each loss resets its connection, so both
   * ends' reads fail with `Deno.errors.ConnectionReset`. `drop(0)` turns it off.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork({ seed: 3 });
   * net.drop(0.01);
   * net.drop(0);
   * ```
   *
   * @param rate a probability from 0 to 1
   */
  drop(rate: number): void {
    this.#fabric.drop(rate);
  }

  /**
   * The host vanishes: its listeners close, its connections end on its side
   * (reads resolve `null`, writes fail), the other ends hear nothing, and
   * dials to it hang.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork();
   * net.transport("a");
   * net.kill("a");
   * net.revive("a");
   * ```
   *
   * @param host the host (its name, or a location on it)
   */
  kill(host: string | Location): void {
    this.#fabric.kill(host);
  }

  /**
   * Brings a killed host back: it can listen and dial again (its old
   * connections stay dead), and dials that hung for it are retried.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * const net = new SimulatedNetwork();
   * net.transport("a");
   * net.kill("a");
   * net.revive("a");
   * ```
   *
   * @param host the host (its name, or a location on it)
   */
  revive(host: string | Location): void {
    this.#fabric.revive(host);
  }

  /**
   * Counters of what the network carried.
   *
   * @example
   * ```ts
   * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
   *
   * console.log(new SimulatedNetwork().stats().connections); // 0
   * ```
   *
   * @returns a snapshot of the counters
   */
  stats(): SimulatedNetworkStats {
    return this.#fabric.stats();
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}
