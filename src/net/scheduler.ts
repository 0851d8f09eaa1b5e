/**
 * The networked `Scheduler`: the core scheduler plus what makes it a peer
 * (listen, peers, locate across peers, services, files). `mod.ts` exports
 * this one as `Scheduler`, and `Scheduler.default()` is one of these as soon
 * as the network layer is loaded.
 *
 * @module
 */
import type { Location } from "../core/_internal.ts";
import { timeoutError, type WaitOptions } from "../core/_internal.ts";
import {
  Scheduler as CoreScheduler,
  schedulerInternals,
  type SchedulerOptions,
} from "../core/_internal.ts";
import type { Channel } from "../core/_internal.ts";
import type { Task, TaskFunction } from "../core/_internal.ts";
import { type Network, Network as NetworkClass } from "./_network.ts";
import * as op from "./_ops.ts";
import type { PeerInfo } from "./peer_info.ts";
import { Service, type ServiceLocateOptions } from "./service.ts";
import { tcpTransport, type Transport } from "./transport.ts";
import type { SendFileOptions } from "./_files.ts";

/** The default port, as pycos's; when it is taken `listen` takes an ephemeral one. */
export const DEFAULT_PORT = 9705;

/**
 * Options for `scheduler.listen`.
 *
 * @example
 * ```ts
 * import type { PeerListenOptions } from "@denocos/denocos";
 *
 * const options: PeerListenOptions = { hostname: "127.0.0.1", port: 0, secret: "s3cret" };
 * console.log(options.port);
 * ```
 */
export interface PeerListenOptions {
  /** Address to listen on (default `"127.0.0.1"`). */
  hostname?: string;
  /** TCP port (default 9705, falling back to an ephemeral one when taken; `0`: ephemeral). */
  port?: number;
  /** The name peers see (default `host:port`). */
  name?: string;
  /** The cluster secret every peer must know (default `""`). */
  secret?: string;
  /** The cluster's name; peers of another cluster are refused (default `"denocos"`). */
  cluster?: string;
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /**
   * Announce this peer and connect to the peers heard, by UDP multicast
   * (default `true`, except on a loopback `hostname`, where it is `false`).
   */
  discover?: boolean;
  /** Idle links carry a heartbeat this often, in ms (default 500). */
  heartbeatInterval?: number;
  /** A peer silent this long is declared offline, in ms (default 2,500). */
  peerTimeout?: number;
  /** The largest message a peer may send, in bytes (default 64 MiB). */
  maxMessageSize?: number;
  /**
   * Bytes a link may hold unacknowledged by the peer (queued, in flight, or
   * kept for a resend) before `send` throws `MailboxFull` (default 64 MiB).
   */
  maxQueuedBytes?: number;
  /**
   * Service tasks one peer may have running here at once (default 10,000):
   * past it, that peer's `svc.run(...)` rejects with a `RangeError` and its
   * link stays up.
   */
  maxServiceTasks?: number;
  /** Where files sent by peers land (default: a new temporary folder). */
  destPath?: string;
  /** How bytes travel (default TCP; `SimulatedNetwork.transport()` in tests). */
  transport?: Transport;
}

/**
 * Options for `scheduler.peer`.
 *
 * @example
 * ```ts
 * import type { PeerOptions } from "@denocos/denocos";
 *
 * const to: PeerOptions = { hostname: "127.0.0.1", port: 9705, timeout: 5000 };
 * console.log(to.hostname);
 * ```
 */
export interface PeerOptions {
  /** The peer's address. */
  hostname: string;
  /** The peer's port (default 9705). */
  port?: number;
  /** Give up after this many ms. */
  timeout?: number;
  /** Abort the attempt. */
  signal?: AbortSignal;
  /** Extra CA certificates (PEM) to trust for a TLS peer; setting it dials TLS. */
  caCerts?: string[];
  /** Dial TLS (implied by `caCerts`). */
  tls?: boolean;
}

const MIB = 1024 * 1024;

/** @internal a scheduler's network (`null` before `listen`), for the tests. */
export let networkOf: (s: Scheduler) => Network | null;

/**
 * A scheduler that can become a peer. Everything of the core `Scheduler`,
 * plus `listen`, `peer`, `peers`, `peerStatus`, `closePeer`, services and
 * files; `locate` searches the peers after the local registry.
 *
 * @example
 * ```ts ignore
 * import { Scheduler, spawn } from "@denocos/denocos";
 *
 * await Scheduler.default().listen({ hostname: "127.0.0.1", port: 9705, secret: "s3cret" });
 * spawn(async (task) => {
 *   task.setDaemon();
 *   task.register("server_task");
 *   for (;;) console.log("processing", await task.receive());
 * });
 * ```
 */
export class Scheduler extends CoreScheduler {
  #net: Network | null = null;
  #starting: Promise<Location> | null = null;

  static {
    networkOf = (s) => s.#net;
  }

  /**
   * Creates a `Scheduler`.
   *
   * @param options limits for this scheduler's tasks
   */
  constructor(options?: SchedulerOptions) {
    super(options);
  }

  /** The process-wide scheduler, created on first use (again after it finished). */
  static override default(): Scheduler {
    return CoreScheduler.default() as Scheduler;
  }

  /** Whether `listen` has made this scheduler a peer. */
  get networked(): boolean {
    return this.#net !== null;
  }

  /**
   * Makes this scheduler a peer: listens for peers, announces itself by
   * multicast (unless `discover: false`) and resolves where it listens.
   * Needs `--allow-net` for the address (and `--unstable-net` for discovery).
   */
  listen(options?: PeerListenOptions): Promise<Location> {
    if (this.#starting !== null) return Promise.reject(new Error("listen: already listening"));
    if (this.finished) return Promise.reject(new Error("listen: the scheduler has finished"));
    const config = listenConfig(options);
    this.#starting = NetworkClass.start(this, config).then((net) => {
      this.#net = net;
      this.location = net.location;
      this.adopt(net);
      return net.location;
    }, (e) => {
      this.#starting = null;
      throw e;
    });
    return this.#starting;
  }

  /**
   * Connects to the peer at `options` (a seed, where multicast does not
   * reach) and resolves its `PeerInfo` once both sides are authenticated.
   * Rejects with `PeerUnreachable` or `AuthenticationFailed`.
   */
  async peer(options: PeerOptions): Promise<PeerInfo> {
    const net = this.#network("peer");
    const { hostname, port = DEFAULT_PORT, timeout, signal, caCerts } = options;
    return await net.connect({ hostname, port }, { timeout, signal, caCerts });
  }

  /** The peers linked now. */
  peers(): PeerInfo[] {
    return this.#net?.peers() ?? [];
  }

  /**
   * Makes `task` receive a `PeerStatus` message for each current peer now,
   * then one whenever a peer comes online or goes offline.
   */
  peerStatus(task: Task): void {
    this.#network("peerStatus").peerStatus(task);
  }

  /** Closes the link to the peer at `location`; resolves whether there was one. */
  closePeer(location: Location): Promise<boolean> {
    return this.#net?.closePeer(location) ?? Promise.resolve(false);
  }

  /**
   * Finds a task registered under `name`: here first, then on every peer
   * (or only on `options.location`); the first positive answer wins. With a
   * timeout, peers that come online before it passes are asked too.
   */
  override locate(
    name: string,
    options?: { location?: Location | null; timeout?: number },
  ): Promise<Task | undefined> {
    return this.#locate(op.KIND_TASK, name, options, schedulerInternals.lookupTask) as Promise<
      Task | undefined
    >;
  }

  /** Finds a channel by name, here first, then on the peers. */
  override locateChannel(
    name: string,
    options?: { location?: Location | null; timeout?: number },
  ): Promise<Channel | undefined> {
    return this.#locate(
      op.KIND_CHANNEL,
      name,
      options,
      schedulerInternals.lookupChannel,
    ) as Promise<
      Channel | undefined
    >;
  }

  /** Finds a service by name, here first, then on the peers. */
  locateService(name: string, options?: ServiceLocateOptions): Promise<Service | undefined> {
    const here = this.#net?.service(name);
    const self = options?.location == null || isHere(this, options.location);
    if (here !== undefined && self) return Promise.resolve(new Service(name, this, { fn: here }));
    if (this.#net === null) return Promise.resolve(undefined);
    const net = this.#net;
    return net.locate(op.KIND_SERVICE, name, options).then((found) => {
      if (found === undefined) return undefined;
      const { peer } = found as { peer: PeerInfo };
      return new Service(name, this, { ops: net, peer });
    });
  }

  /**
   * Offers `fn` as service `name`: peers start it with
   * `(await Service.locate(name)).run(...args)`. Returns `false` when another
   * function holds the name.
   */
  registerService(name: string, fn: TaskFunction): boolean {
    return this.#network("registerService").registerService(name, fn);
  }

  /** Withdraws a service; `false` if there was none. */
  unregisterService(name: string): boolean {
    return this.#net?.unregisterService(name) ?? false;
  }

  /**
   * Streams the file at `path` to the peer at `location`, into its
   * `destPath` (under `dir`), keeping mtime and mode; a file already there
   * with the same content is not sent again. Resolves the bytes sent.
   */
  sendFile(location: Location, path: string, options?: SendFileOptions): Promise<number> {
    return this.#network("sendFile").sendFile(location, path, options);
  }

  /** Deletes a file sent earlier; resolves whether it was there. */
  deleteFile(
    location: Location,
    name: string,
    options?: { dir?: string } & WaitOptions,
  ): Promise<boolean> {
    return this.#network("deleteFile").deleteFile(location, name, options);
  }

  #network(what: string): Network {
    if (this.#net === null) throw new Error(`${what}: call listen() first`);
    return this.#net;
  }

  #locate(
    kind: number,
    name: string,
    options: { location?: Location | null; timeout?: number } | undefined,
    local: (s: CoreScheduler, name: string) => unknown,
  ): Promise<unknown> {
    const bad = timeoutError(options?.timeout);
    if (bad !== undefined) return Promise.reject(bad);
    const loc = options?.location;
    if (loc == null || isHere(this, loc)) {
      const found = local(this, name);
      // Found, or told to look here only, or no peers to ask.
      if (found !== undefined || loc !== undefined || this.#net === null) {
        return Promise.resolve(found);
      }
    }
    if (this.#net === null) {
      return Promise.reject(new Error("locate: a remote location needs listen() first"));
    }
    return this.#net.locate(kind, name, options);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname.startsWith("127.");
}

function isHere(s: CoreScheduler, location: Location): boolean {
  const here = s.location;
  return here !== null && here.hostname === location.hostname && here.port === location.port;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    throw new RangeError(`listen: '${name}' must be a positive number, got ${v}`);
  }
  return v;
}

function count(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`listen: '${name}' must be an integer >= 1, got ${v}`);
  }
  return v;
}

function listenConfig(o: PeerListenOptions | undefined) {
  const port = o?.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`listen: 'port' must be an integer 0..65535, got ${port}`);
  }
  const secret = o?.secret ?? "";
  if (typeof secret !== "string") throw new TypeError("listen: 'secret' must be a string");
  const hostname = o?.hostname ?? "127.0.0.1";
  return {
    hostname,
    port,
    name: o?.name,
    secret,
    cluster: o?.cluster ?? "denocos",
    tls: o?.tls,
    // On a loopback address multicast would leave through the default
    // route, to hosts that cannot reach us anyway: off unless asked for.
    discover: o?.discover ?? !isLoopback(hostname),
    heartbeatInterval: positive("heartbeatInterval", o?.heartbeatInterval, 500),
    peerTimeout: positive("peerTimeout", o?.peerTimeout, 2500),
    maxMessageSize: positive("maxMessageSize", o?.maxMessageSize, 64 * MIB),
    maxQueuedBytes: positive("maxQueuedBytes", o?.maxQueuedBytes, 64 * MIB),
    maxServiceTasks: count("maxServiceTasks", o?.maxServiceTasks, 10_000),
    transport: o?.transport ?? tcpTransport,
    destPath: o?.destPath,
  };
}

schedulerInternals.setDefaultFactory(() => new Scheduler());
