/**
 * `Discovery`: peers of one cluster find each other by UDP multicast (group
 * 239.255.97.5, port 9705, as pycos). Each peer announces itself at start and
 * every `interval`; a beacon is a small binary datagram signed with
 * HMAC-SHA256 under the cluster secret and bound to the cluster name, so a
 * neighbouring cluster's beacons, forged ones and garbage are ignored. A peer
 * that hears a valid beacon reports it through `onPeer`; connecting is the
 * caller's business (and idempotent there), Discovery only bounds how often it
 * asks: at most once per peer id per `interval`, and never for a replay of a
 * beacon older than one already heard from that peer incarnation.
 *
 * Needs `--unstable-net` (Deno's UDP API) and `--allow-net` for
 * `0.0.0.0:<port>` and `<group>:<port>` (plus `interfaceAddress` when given).
 * Multicast is best-effort: any failure to bind, join or send is logged under
 * `["denocos", "net", "discovery"]` and never thrown; `Discovery.start` then
 * resolves an inert handle, and explicit `peer()` calls still work.
 *
 * Beacon layout (big-endian), at most 1 KiB:
 *
 * | bytes | field |
 * |---|---|
 * | 4 | magic `"DNCB"` |
 * | 1 | version (1) |
 * | 4 × 1 | UTF-8 byte lengths of cluster, id, name, hostname (each ≤ 255) |
 * | 2 | port |
 * | 8 | incarnation (float64) |
 * | 8 | timestamp (float64, ms since the epoch, strictly increasing per sender) |
 * | … | cluster, id, name, hostname |
 * | 32 | HMAC-SHA256 over everything before it, keyed by `"denocos/1 beacon\0" + secret` |
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Location } from "../core/location.ts";

const logger = getLogger(["denocos", "net", "discovery"]);

/**
 * The multicast group peers announce themselves on (as pycos).
 *
 * @example
 * ```ts
 * import { DISCOVERY_GROUP } from "./_discovery.ts";
 *
 * console.log(DISCOVERY_GROUP); // "239.255.97.5"
 * ```
 */
export const DISCOVERY_GROUP = "239.255.97.5";

/**
 * The UDP port of the discovery group (as pycos, and the default peer port).
 *
 * @example
 * ```ts
 * import { DISCOVERY_PORT } from "./_discovery.ts";
 *
 * console.log(DISCOVERY_PORT); // 9705
 * ```
 */
export const DISCOVERY_PORT = 9705;

/**
 * The largest datagram looked at; anything longer is ignored unread.
 *
 * @example
 * ```ts
 * import { MAX_BEACON_SIZE } from "./_discovery.ts";
 *
 * console.log(MAX_BEACON_SIZE); // 1024
 * ```
 */
export const MAX_BEACON_SIZE = 1024;

const MAGIC = [0x44, 0x4e, 0x43, 0x42]; // "DNCB"
const VERSION = 1;
const HEADER = 27;
const MAC_SIZE = 32;
const MAX_FIELD = 255;
/** How many peers' last beacons are remembered (oldest forgotten first). */
const MAX_TRACKED = 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Who a beacon announces: a peer's identity and where it listens.
 *
 * @example
 * ```ts
 * import type { DiscoveredPeer } from "./_discovery.ts";
 *
 * const me: DiscoveredPeer = {
 *   id: "9b1e…",
 *   name: "worker-1",
 *   incarnation: 1,
 *   location: { hostname: "0.0.0.0", port: 9705 },
 * };
 * console.log(me.location.port); // 9705
 * ```
 */
export interface DiscoveredPeer {
  /** The peer's id (unique per scheduler). */
  id: string;
  /** Its human-readable name. */
  name: string;
  /** Which run of that peer (a restarted peer has a new one). */
  incarnation: number;
  /**
   * Where it accepts connections. Announced as `0.0.0.0` / `::` (all
   * interfaces), it is reported with the beacon's source address instead.
   */
  location: Location;
}

/**
 * One decoded beacon: the announced peer, its cluster and the sender's timestamp.
 *
 * @example
 * ```ts ignore
 * const b = await codec.decode(bytes);
 * if (typeof b !== "string") console.log(b.id, b.timestamp);
 * ```
 */
export interface Beacon extends DiscoveredPeer {
  /** The cluster it was signed for. */
  cluster: string;
  /** Milliseconds since the epoch when it was sent (strictly increasing per sender). */
  timestamp: number;
}

/**
 * Signs and verifies beacons for one cluster and secret.
 *
 * @example
 * ```ts
 * import { BeaconCodec } from "./_discovery.ts";
 *
 * const codec = await BeaconCodec.create("denocos", "s3cret");
 * const bytes = await codec.encode({
 *   id: "a",
 *   name: "peer a",
 *   incarnation: 1,
 *   location: { hostname: "127.0.0.1", port: 9705 },
 *   timestamp: Date.now(),
 * });
 * const other = await BeaconCodec.create("denocos", "wrong");
 * console.log(await other.decode(bytes)); // "bad signature"
 * console.log(((await codec.decode(bytes)) as { name: string }).name); // "peer a"
 * ```
 */
export class BeaconCodec {
  readonly #key: CryptoKey;
  readonly #cluster: Uint8Array;
  readonly #clusterName: string;

  private constructor(key: CryptoKey, cluster: string) {
    this.#key = key;
    this.#clusterName = cluster;
    this.#cluster = encoder.encode(cluster);
    if (this.#cluster.length > MAX_FIELD) {
      throw new RangeError(`cluster name is longer than ${MAX_FIELD} UTF-8 bytes`);
    }
  }

  /** The cluster this codec signs for. */
  get cluster(): string {
    return this.#clusterName;
  }

  /**
   * Makes a codec for `cluster` keyed by `secret` (which may be empty).
   * Throws a `RangeError` for a cluster name over 255 UTF-8 bytes.
   */
  static async create(cluster: string, secret: string): Promise<BeaconCodec> {
    // A label in the key keeps beacon MACs apart from handshake MACs made
    // with the same secret, and keeps the key non-empty (WebCrypto refuses
    // an empty HMAC key) when the secret is "".
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(`denocos/1 beacon\0${secret}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new BeaconCodec(key, cluster);
  }

  /**
   * Encodes and signs a beacon for this codec's cluster. Throws a
   * `RangeError` for a field over 255 UTF-8 bytes, a port outside 1–65535,
   * a non-finite incarnation or timestamp.
   */
  async encode(beacon: DiscoveredPeer & { timestamp: number }): Promise<Uint8Array<ArrayBuffer>> {
    const fields = [
      this.#cluster,
      encoder.encode(beacon.id),
      encoder.encode(beacon.name),
      encoder.encode(beacon.location.hostname),
    ];
    for (const f of fields) {
      if (f.length > MAX_FIELD) {
        throw new RangeError(`beacon field longer than ${MAX_FIELD} UTF-8 bytes`);
      }
    }
    const port = beacon.location.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`beacon port must be an integer from 1 to 65535, got ${port}`);
    }
    if (!Number.isFinite(beacon.incarnation) || !Number.isFinite(beacon.timestamp)) {
      throw new RangeError("beacon incarnation and timestamp must be finite numbers");
    }
    let size = HEADER + MAC_SIZE;
    for (const f of fields) size += f.length;
    if (size > MAX_BEACON_SIZE) {
      throw new RangeError(`beacon of ${size} bytes exceeds ${MAX_BEACON_SIZE}`);
    }
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    out.set(MAGIC, 0);
    out[4] = VERSION;
    for (let i = 0; i < 4; i++) out[5 + i] = fields[i].length;
    view.setUint16(9, port);
    view.setFloat64(11, beacon.incarnation);
    view.setFloat64(19, beacon.timestamp);
    let off = HEADER;
    for (const f of fields) {
      out.set(f, off);
      off += f.length;
    }
    const mac = await crypto.subtle.sign("HMAC", this.#key, out.subarray(0, off));
    out.set(new Uint8Array(mac), off);
    return out;
  }

  /**
   * Checks and decodes a received datagram: the beacon, or a short reason why
   * it is ignored (too short or long, not a beacon, another cluster, a bad
   * signature, bad contents). Never throws; nothing is decoded before the
   * signature has been checked.
   */
  async decode(bytes: Uint8Array<ArrayBuffer>): Promise<Beacon | string> {
    if (bytes.length > MAX_BEACON_SIZE) return "oversized";
    if (bytes.length < HEADER + MAC_SIZE) return "truncated";
    for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) return "not a beacon";
    if (bytes[4] !== VERSION) return `unknown version ${bytes[4]}`;
    let body = HEADER;
    for (let i = 0; i < 4; i++) body += bytes[5 + i];
    if (bytes.length !== body + MAC_SIZE) return "truncated";
    // The cluster is compared before any cryptography: a neighbouring
    // cluster's beacons (the common case on a shared LAN) cost nothing.
    const cluster = this.#cluster;
    if (bytes[5] !== cluster.length) return "another cluster";
    for (let i = 0; i < cluster.length; i++) {
      if (bytes[HEADER + i] !== cluster[i]) return "another cluster";
    }
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.#key,
      bytes.subarray(body),
      bytes.subarray(0, body),
    );
    if (!ok) return "bad signature";
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const port = view.getUint16(9);
    const incarnation = view.getFloat64(11);
    const timestamp = view.getFloat64(19);
    if (port === 0 || !Number.isFinite(incarnation) || !Number.isFinite(timestamp)) {
      return "bad contents";
    }
    let off = HEADER + cluster.length;
    const strings: string[] = [];
    try {
      for (let i = 6; i < 9; i++) {
        strings.push(decoder.decode(bytes.subarray(off, off + bytes[i])));
        off += bytes[i];
      }
    } catch {
      return "bad contents";
    }
    return {
      cluster: this.#clusterName,
      id: strings[0],
      name: strings[1],
      incarnation,
      location: { hostname: strings[2], port },
      timestamp,
    };
  }
}

/**
 * Decides which valid beacons are worth an `onPeer`: the first from a peer,
 * then at most one per `window` ms per peer id, and none for a beacon no
 * newer than the last one heard from the same incarnation (a replay or a
 * reordering). Remembers the last `MAX_TRACKED` peers.
 *
 * @example
 * ```ts
 * import { PeerFilter } from "./_discovery.ts";
 *
 * const filter = new PeerFilter(2000);
 * const b = { id: "a", incarnation: 1, timestamp: 10 };
 * console.log(filter.admit(b, 0), filter.admit({ ...b, timestamp: 11 }, 1)); // true false
 * console.log(filter.admit({ ...b, timestamp: 12 }, 2000)); // true
 * console.log(filter.admit(b, 9000)); // false: an old beacon replayed
 * ```
 */
export class PeerFilter {
  readonly #window: number;
  readonly #limit: number;
  readonly #seen = new Map<string, { incarnation: number; timestamp: number; told: number }>();

  /** `window`: ms between two admissions for one peer id; `limit`: peers remembered. */
  constructor(window: number, limit = MAX_TRACKED) {
    this.#window = window;
    this.#limit = limit;
  }

  /** Whether a valid beacon heard at `now` (a monotonic clock, ms) should be reported. */
  admit(beacon: { id: string; incarnation: number; timestamp: number }, now: number): boolean {
    const seen = this.#seen.get(beacon.id);
    if (seen === undefined) {
      if (this.#seen.size >= this.#limit) this.#seen.delete(this.#seen.keys().next().value!);
      this.#seen.set(beacon.id, {
        incarnation: beacon.incarnation,
        timestamp: beacon.timestamp,
        told: now,
      });
      return true;
    }
    if (seen.incarnation === beacon.incarnation && beacon.timestamp <= seen.timestamp) return false;
    seen.incarnation = beacon.incarnation;
    seen.timestamp = beacon.timestamp;
    // Kept in order of last sighting, so the peer gone longest is forgotten first.
    this.#seen.delete(beacon.id);
    this.#seen.set(beacon.id, seen);
    if (now - seen.told < this.#window) return false;
    seen.told = now;
    return true;
  }
}

/**
 * Options for `Discovery.start`.
 *
 * @example
 * ```ts
 * import type { DiscoveryOptions } from "./_discovery.ts";
 *
 * const options: DiscoveryOptions = {
 *   cluster: "denocos",
 *   secret: "s3cret",
 *   identity: { id: "a", name: "a", incarnation: 1, location: { hostname: "0.0.0.0", port: 9705 } },
 *   onPeer: (found) => console.log("heard", found.name),
 * };
 * console.log(options.cluster); // "denocos"
 * ```
 */
export interface DiscoveryOptions {
  /** IPv4 multicast group (default `DISCOVERY_GROUP`, 239.255.97.5). */
  group?: string;
  /** UDP port (default `DISCOVERY_PORT`, 9705); shared by every peer on a host. */
  port?: number;
  /**
   * Address of the interface to join the group on and send from (default:
   * the system's choice, by its multicast route).
   */
  interfaceAddress?: string;
  /** Cluster name: beacons of another cluster are ignored. */
  cluster: string;
  /** Cluster secret the beacons are signed with (may be empty: then anyone can forge them). */
  secret: string;
  /** Who this peer is and where it listens. */
  identity: DiscoveredPeer;
  /** Milliseconds between announcements (default 2000); also the per-peer `onPeer` rate limit. */
  interval?: number;
  /** Called for a peer heard (not this one); an error it throws is logged. */
  onPeer(found: DiscoveredPeer): void;
}

/**
 * Announces this peer on a multicast group and reports the peers it hears.
 * `start` never fails for a multicast reason (no `--unstable-net`, no
 * permission, no route): the handle is then inert (`active` is `false`,
 * `reason` says why, `announce` resolves `false`). `close` (or `await using`)
 * stops the timer and closes the sockets.
 *
 * @example
 * ```ts ignore
 * await using discovery = await Discovery.start({
 *   cluster: "denocos",
 *   secret: "s3cret",
 *   identity: { id, name, incarnation, location: hub.location },
 *   onPeer: (found) => void hub.connect(found.location).catch(() => {}),
 * });
 * if (!discovery.active) console.log("no multicast:", discovery.reason);
 * ```
 */
export class Discovery implements AsyncDisposable {
  readonly #codec: BeaconCodec;
  readonly #identity: DiscoveredPeer;
  readonly #group: string;
  readonly #port: number;
  readonly #interval: number;
  readonly #onPeer: (found: DiscoveredPeer) => void;
  readonly #filter: PeerFilter;
  #recv: Deno.DatagramConn | null = null;
  #send: Deno.DatagramConn | null = null;
  #loop: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sending = new Set<Promise<boolean>>();
  #lastStamp = 0;
  #sendFailed = false;
  #reason: string | undefined;
  #closed = false;

  private constructor(codec: BeaconCodec, options: DiscoveryOptions, interval: number) {
    this.#codec = codec;
    this.#identity = { ...options.identity, location: { ...options.identity.location } };
    this.#group = options.group ?? DISCOVERY_GROUP;
    this.#port = options.port ?? DISCOVERY_PORT;
    this.#interval = interval;
    this.#onPeer = options.onPeer;
    this.#filter = new PeerFilter(interval);
  }

  /**
   * Joins the group, announces this peer once and every `interval`, and
   * listens. Rejects only for bad options (`TypeError` / `RangeError`);
   * multicast failures give an inert handle, logged.
   */
  static async start(options: DiscoveryOptions): Promise<Discovery> {
    const interval = options.interval ?? 2000;
    if (!(interval > 0) || !Number.isFinite(interval)) {
      throw new RangeError(`interval must be a positive number of milliseconds, got ${interval}`);
    }
    const group = options.group ?? DISCOVERY_GROUP;
    if (!isMulticastV4(group)) {
      throw new RangeError(`group must be an IPv4 multicast address, got ${group}`);
    }
    const port = options.port ?? DISCOVERY_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`port must be an integer from 1 to 65535, got ${port}`);
    }
    if (typeof options.secret !== "string" || typeof options.cluster !== "string") {
      throw new TypeError("cluster and secret must be strings");
    }
    if (typeof options.onPeer !== "function") throw new TypeError("onPeer must be a function");
    const codec = await BeaconCodec.create(options.cluster, options.secret);
    // An identity that cannot be announced is the caller's mistake: refuse it now.
    await codec.encode({ ...options.identity, timestamp: 0 });
    const d = new Discovery(codec, options, interval);
    await d.#open(options.interfaceAddress);
    return d;
  }

  /** Whether beacons are being sent and heard (`false` when inert or closed). */
  get active(): boolean {
    return this.#recv !== null && !this.#closed;
  }

  /** Why the handle is inert, if it is. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /**
   * Sends one beacon now (e.g. after a change of address or to be found
   * promptly); resolves whether it went out. Never rejects.
   *
   * @example
   * ```ts ignore
   * await discovery.announce();
   * ```
   */
  announce(): Promise<boolean> {
    if (!this.active) return Promise.resolve(false);
    const p = this.#announce();
    this.#sending.add(p);
    p.then(() => this.#sending.delete(p));
    return p;
  }

  /**
   * Stops announcing and listening; resolves once the sockets are closed and
   * nothing is in flight. Idempotent.
   *
   * @example
   * ```ts ignore
   * await discovery.close();
   * ```
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#closeSockets();
    }
    await this.#loop;
    await Promise.all(this.#sending);
  }

  /** Same as `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #open(interfaceAddress: string | undefined): Promise<void> {
    const listen = (Deno as { listenDatagram?: typeof Deno.listenDatagram }).listenDatagram;
    if (typeof listen !== "function") {
      this.#halt("Deno's UDP API is missing: run with --unstable-net");
      return;
    }
    const where = `${this.#group}:${this.#port}`;
    try {
      // Every peer on a host binds the same port (SO_REUSEADDR): each gets a
      // copy of every group datagram. Loopback lets peers on one host hear
      // each other (and us ourselves, ignored by id).
      this.#recv = listen({
        transport: "udp",
        hostname: "0.0.0.0",
        port: this.#port,
        reuseAddress: true,
        loopback: true,
      });
      await this.#recv.joinMulticastV4(this.#group, interfaceAddress ?? "0.0.0.0");
      // Deno cannot set IP_MULTICAST_IF; a socket bound to the interface's
      // address makes Linux send group datagrams out of that interface.
      this.#send = interfaceAddress === undefined
        ? this.#recv
        : listen({ transport: "udp", hostname: interfaceAddress, port: 0, loopback: true });
    } catch (e) {
      this.#halt(`cannot join ${where}: ${e}`);
      return;
    }
    this.#loop = this.#receive(this.#recv);
    this.#timer = setInterval(() => void this.announce(), this.#interval);
    logger.debug("discovery on {where} for cluster {cluster} as {id}", {
      where,
      cluster: this.#codec.cluster,
      id: this.#identity.id,
    });
    await this.announce();
  }

  /** Goes inert for good: no timer, no socket, and says why once. */
  #halt(reason: string): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closeSockets();
    this.#reason = reason;
    logger.warn("multicast discovery is off: {reason}", { reason });
  }

  #closeSockets(): void {
    for (const conn of new Set([this.#recv, this.#send])) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
    this.#recv = null;
    this.#send = null;
  }

  async #announce(): Promise<boolean> {
    this.#lastStamp = Math.max(Date.now(), this.#lastStamp + 1);
    const bytes = await this.#codec.encode({ ...this.#identity, timestamp: this.#lastStamp });
    const conn = this.#send;
    if (conn === null || this.#closed) return false;
    try {
      await conn.send(bytes, { transport: "udp", hostname: this.#group, port: this.#port });
      this.#sendFailed = false;
      return true;
    } catch (e) {
      if (this.#closed || this.#send !== conn) return false;
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        // Permissions do not come back by themselves.
        this.#halt(`cannot send to ${this.#group}:${this.#port}: ${e}`);
      } else if (this.#sendFailed) {
        logger.debug("beacon not sent: {error}", { error: e });
      } else {
        // A network that is down stays down for a while: warn once, not every interval.
        logger.warn("beacon not sent (retrying every {interval} ms): {error}", {
          interval: this.#interval,
          error: e,
        });
        this.#sendFailed = true;
      }
      return false;
    }
  }

  async #receive(conn: Deno.DatagramConn): Promise<void> {
    // One byte more than the limit, so that a longer datagram shows up as
    // oversized (the kernel cuts it to the buffer) and is ignored. Reused:
    // each datagram is done with before the next receive.
    const buf = new Uint8Array(MAX_BEACON_SIZE + 1);
    for (;;) {
      let data: Uint8Array<ArrayBuffer>, addr: Deno.Addr;
      try {
        [data, addr] = await conn.receive(buf);
      } catch (e) {
        if (!this.#closed && this.#recv === conn) this.#halt(`cannot receive: ${e}`);
        return;
      }
      if (this.#recv !== conn) return;
      await this.#heard(data, addr as Deno.NetAddr);
      if (this.#recv !== conn) return;
    }
  }

  async #heard(data: Uint8Array<ArrayBuffer>, from: Deno.NetAddr): Promise<void> {
    const b = await this.#codec.decode(data);
    if (typeof b === "string") {
      logger.debug("ignored a datagram from {from}: {reason}", {
        from: `${from.hostname}:${from.port}`,
        reason: b,
      });
      return;
    }
    if (b.id === this.#identity.id || !this.active) return;
    if (!this.#filter.admit(b, performance.now())) return;
    const hostname = b.location.hostname;
    const found: DiscoveredPeer = {
      id: b.id,
      name: b.name,
      incarnation: b.incarnation,
      location: {
        hostname: hostname === "0.0.0.0" || hostname === "::" || hostname === ""
          ? from.hostname
          : hostname,
        port: b.location.port,
      },
    };
    try {
      this.#onPeer(found);
    } catch (error) {
      logger.error("onPeer threw for peer {id}: {error}", { id: b.id, error });
    }
  }
}

function isMulticastV4(address: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (m === null) return false;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) && octets[0] >= 224 && octets[0] <= 239;
}
