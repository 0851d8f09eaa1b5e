/**
 * One scheduler's network: the API layer between the core and the peer
 * links. It turns remote-reference calls into wire operations, answers the
 * operations peers send, and keeps what each peer holds of ours (monitors,
 * subscriptions, pending requests) so that a lost peer settles all of it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  Channel,
  currentTask,
  type Location,
  MailboxFull,
  MonitorStatus,
  type MonitorStatusType,
  park,
  type Scheduler as CoreScheduler,
  schedulerInternals,
  type Subscriber,
  Task,
  TaskEnded,
  type TaskFunction,
  taskInternals,
  TIMEOUT_REJECTS,
  waitError,
  type WaitOptions,
  WaitQueue,
} from "../core/_internal.ts";
import { Codec, type CodecContext } from "./codec.ts";
import { PeerLost, PeerUnreachable } from "./errors.ts";
import { type Link, PeerHub } from "./_hub.ts";
import * as op from "./_ops.ts";
import type { PeerInfo } from "./peer_info.ts";
import { PeerStatus } from "./peer_status.ts";
import type { RemoteOps } from "./_remote_ops.ts";
import { RemoteChannel } from "./remote_channel.ts";
import { RemoteTask } from "./remote_task.ts";
import type { Transport } from "./transport.ts";
import { type FileListener, FileReceiver, sendFile, type SendFileOptions } from "./_files.ts";

const logger = getLogger(["denocos", "net"]);

/** How many ended tasks stay answerable for `finish` and `monitor`. */
const HANDED_OUT = 10_000;

/** Dials to peers heard of (exchange, discovery) in progress at once. */
const MAX_DIALS = 16;

/** Peers heard of that wait for a dial; past it, newer ones are ignored. */
const MAX_TO_DIAL = 4096;

/**
 * Requests one peer may have waiting here at once (FINISH, CH_DELIVER and
 * MONITOR wait for a task or for subscribers): past it they are refused,
 * so that a flood cannot pile up callbacks without bound.
 */
export const MAX_SERVING = 10_000;

/** How many hops a message forwarded between channels may make. */
export const MAX_HOPS = 16;

// The hop count of the channel message being dispatched: a channel send is
// synchronous, so a remote subscriber reached from it reads the count here.
let forwardHops = 0;

/** Everything `listen` needs, defaults filled in. */
export interface NetworkConfig {
  hostname: string;
  port: number;
  name?: string;
  secret: string;
  cluster: string;
  tls?: { cert: string; key: string };
  discover: boolean;
  heartbeatInterval: number;
  peerTimeout: number;
  maxMessageSize: number;
  maxQueuedBytes: number;
  maxServiceTasks: number;
  transport: Transport;
  destPath?: string;
}

/** A request waiting for its peer's answer. */
interface Pending {
  queue: WaitQueue;
  peer: string;
  /** What the wait becomes when the peer is lost. */
  lost: "zero" | "undefined" | "reject";
}

/** What one monitored remote task has watching it here. */
interface Watched {
  ref: RemoteTask;
  watchers: Task[];
}

/** What we know of one linked peer. */
interface PeerState {
  link: Link;
  info: PeerInfo;
  pending: Set<number>;
  monitors: Map<string, Watched>;
  /** Our channels that this peer's tasks or channels subscribed to. */
  /** By channel id and subscriber key, so that repeated CH_SUBs keep one entry. */
  subscriptions: Map<string, [Channel, RemoteTask | RemoteChannel]>;
  files: Map<number, FileReceiver>;
  /** Its requests waiting here (bounded by MAX_SERVING). */
  serving: number;
  /** Service tasks it started here that still run (bounded by `maxServiceTasks`). */
  services: number;
}

/** A registered service: the function, and how a peer's `run` starts it. */
interface ServiceEntry {
  fn: TaskFunction;
  /** `fn` counted against its peer's `maxServiceTasks` while it runs. */
  run: TaskFunction;
}

/** An in-flight `locate` across peers. */
interface Search {
  kind: number;
  name: string;
  location: Location | null;
  queue: WaitQueue;
  asked: Set<string>;
  answered: number;
  waitNew: boolean;
  /** Its LOCATE requests still unanswered, by request number: the peer asked. */
  open: Map<number, PeerState>;
  /** Settled (found, timed out, cancelled): late answers change nothing. */
  over: boolean;
}

function sameLocation(a: Location, b: Location): boolean {
  return a.hostname === b.hostname && a.port === b.port;
}

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A peer's answer to a deliver: a count, or 0 for anything else it may send. */
function asCount(v: unknown): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

/** A peer's answer to a service run: the task it started, or a TypeError. */
function asTask(v: unknown): RemoteTask {
  if (v instanceof RemoteTask) return v;
  throw new TypeError("the service's peer answered with something that is not a task");
}

function statusType(t: Task): MonitorStatusType {
  const s = t.state;
  return s === "finished" ? "finished" : s === "failed" ? "failed" : "terminated";
}

/**
 * A scheduler's network. Created by `Scheduler.listen`.
 *
 * @example
 * ```ts ignore
 * const net = await Network.start(scheduler, config);
 * await net.connect({ hostname: "127.0.0.1", port: 9705 });
 * ```
 */
export class Network implements RemoteOps {
  readonly scheduler: CoreScheduler;
  readonly id: string;
  readonly name: string;
  readonly codec: Codec;
  readonly config: NetworkConfig;
  #hub!: PeerHub;
  #location!: Location;
  #peers = new Map<string, PeerState>();
  #pending = new Map<number, Pending>();
  #nextReq = 1;
  #tasks = new Map<string, WeakRef<RemoteTask>>();
  #channels = new Map<string, WeakRef<RemoteChannel>>();
  #forget = new FinalizationRegistry<[Map<string, unknown>, string]>(([map, key]) => {
    const ref = map.get(key) as WeakRef<object> | undefined;
    if (ref !== undefined && ref.deref() === undefined) map.delete(key);
  });
  /**
   * Local tasks handed out to peers, kept (the latest 10,000) after they end
   * so that a peer's late `finish` or `monitor` still gets the result.
   */
  #handedOut = new Map<number, Task>();
  /** Local channels handed out in messages, by wire name (closed ones swept out). */
  #exported = new Map<string, Channel>();
  /** Size of `#exported` at which closed channels are swept out. */
  #sweepAt = 1024;
  #services = new Map<string, ServiceEntry>();
  #statusWatchers: Task[] = [];
  #searches = new Set<Search>();
  #closed = false;
  #dest: Promise<string> | null = null;
  #discovery: { close(): Promise<void> | void } | null = null;
  /** Peers heard of, to dial at most MAX_DIALS at a time (a PEERS flood cannot open thousands). */
  #toDial = new Map<string, Location>();
  #dialing = 0;
  /** @internal hears of every file chunk written, file completed or partial file removed (tests). */
  onFile: FileListener | undefined;

  private constructor(scheduler: CoreScheduler, config: NetworkConfig) {
    this.scheduler = scheduler;
    this.config = config;
    this.id = randomId();
    this.name = config.name ?? "";
    const ctx: CodecContext = {
      isTask: (v) => v instanceof Task || v instanceof RemoteTask,
      isChannel: (v) => v instanceof Channel || v instanceof RemoteChannel,
      encodeTask: (v) => this.#encodeTask(v as Task | RemoteTask),
      decodeTask: (r) => this.#decodeTask(r),
      encodeChannel: (v) => this.#encodeChannel(v as Channel | RemoteChannel),
      decodeChannel: (r) => this.#decodeChannel(r),
    };
    this.codec = new Codec(ctx, { maxMessageSize: config.maxMessageSize });
  }

  /** Starts listening (and discovery); resolves once the listener is up. */
  static async start(scheduler: CoreScheduler, config: NetworkConfig): Promise<Network> {
    const net = new Network(scheduler, config);
    const hub = await PeerHub.start({
      transport: config.transport,
      hostname: config.hostname,
      port: config.port,
      identity: {
        id: net.id,
        name: config.name ?? "",
        incarnation: scheduler.incarnation,
      },
      secret: config.secret,
      cluster: config.cluster,
      tls: config.tls,
      heartbeatInterval: config.heartbeatInterval,
      peerTimeout: config.peerTimeout,
      maxMessageSize: config.maxMessageSize,
      maxQueuedBytes: config.maxQueuedBytes,
    }, {
      online: (link) => net.#online(link),
      offline: (link, reason) => net.#offline(link, reason),
      message: (link, body) => net.#message(link, body),
    });
    net.#hub = hub;
    net.#location = hub.location;
    if (config.discover) {
      try {
        const { Discovery } = await import("./_discovery.ts");
        net.#discovery = await Discovery.start({
          cluster: config.cluster,
          secret: config.secret,
          identity: {
            id: net.id,
            name: net.displayName,
            incarnation: scheduler.incarnation,
            location: hub.location,
          },
          onPeer: (found: { id: string; location: Location }) => {
            if (found.id === net.id || net.#peers.has(found.id) || net.#closed) return;
            net.#dialLater(found.location.hostname, found.location.port, "discovery");
          },
        });
      } catch (e) {
        logger.warn("discovery not started: {error}", { error: e });
      }
    }
    return net;
  }

  /** Where this scheduler listens. */
  get location(): Location {
    return this.#location;
  }

  /** The name peers see: the `name` option, else `host:port`. */
  get displayName(): string {
    return this.name || `${this.#location.hostname}:${this.#location.port}`;
  }

  /** Connects to a peer; resolves once both sides are authenticated. */
  async connect(
    to: { hostname: string; port: number },
    options?: { timeout?: number; signal?: AbortSignal; caCerts?: string[] },
  ): Promise<PeerInfo> {
    if (this.#closed) throw new PeerUnreachable(`${to.hostname}:${to.port}: the network is closed`);
    const link = await this.#hub.connect(to, options);
    return this.#peers.get(link.peer.id)?.info ?? this.#infoOf(link);
  }

  /** The peers linked now. */
  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => p.info);
  }

  /** Makes `task` receive a `PeerStatus` per current peer, then on every change. */
  peerStatus(task: Task): void {
    if (!(task instanceof Task)) throw new TypeError("peerStatus: 'task' must be a local Task");
    if (!this.#statusWatchers.includes(task)) this.#statusWatchers.push(task);
    for (const p of this.#peers.values()) task.send(new PeerStatus(p.info, "online"));
  }

  /** Closes the link to the peer at `location` (or with that id). */
  async closePeer(location: Location | string): Promise<boolean> {
    for (const p of this.#peers.values()) {
      if (
        typeof location === "string"
          ? p.info.id === location
          : sameLocation(p.info.location, location)
      ) {
        await p.link.close();
        return true;
      }
    }
    return false;
  }

  /** Registers `fn` as a service peers can run. */
  registerService(name: string, fn: TaskFunction): boolean {
    if (!op.isName(name)) throw new TypeError("registerService: 'name' must be a non-empty string");
    if (typeof fn !== "function") throw new TypeError("registerService: 'fn' must be a function");
    const existing = this.#services.get(name);
    if (existing !== undefined) return existing.fn === fn;
    // One wrapper per service, not per run: the peer's count travels as
    // the first argument and is given back however the function ends.
    const run = async (task: Task, peer: PeerState, ...args: unknown[]) => {
      try {
        return await fn(task, ...args);
      } finally {
        peer.services--;
      }
    };
    // The task's name is its function's, as for a local run.
    Object.defineProperty(run, "name", { value: fn.name });
    this.#services.set(name, { fn, run: run as TaskFunction });
    return true;
  }

  /** Removes a service; `false` if there was none. */
  unregisterService(name: string): boolean {
    return this.#services.delete(name);
  }

  /** The service function registered under `name` here. */
  service(name: string): TaskFunction | undefined {
    return this.#services.get(name)?.fn;
  }

  /**
   * Searches peers for a task (`KIND_TASK`), channel or service. Resolves
   * the first positive answer; `undefined` once every peer said no and no
   * time is left (peers that come online during the wait are asked too).
   */
  locate(
    kind: number,
    name: string,
    options: { location?: Location | null; timeout?: number } | undefined,
  ): Promise<unknown> {
    const task = currentTask();
    const bad = waitError(task, options);
    if (bad !== undefined) return Promise.reject(bad);
    const location = options?.location ?? null;
    const search: Search = {
      kind,
      name,
      location,
      queue: new WaitQueue(),
      asked: new Set(),
      answered: 0,
      waitNew: options?.timeout !== undefined && options.timeout > 0,
      open: new Map(),
      over: false,
    };
    const p = park<unknown>(search.queue, task, { timeout: options?.timeout }, undefined);
    this.#searches.add(search);
    for (const peer of this.#peers.values()) this.#ask(search, peer);
    this.#searchDone(search);
    return p.finally(() => this.#endSearch(search));
  }

  /**
   * Drops what a settled search still waits for: a peer that never answers
   * its LOCATE (a stalled or hostile one) must not hold an entry until it is
   * lost. A late answer then finds no request and is ignored.
   */
  #endSearch(search: Search): void {
    search.over = true;
    this.#searches.delete(search);
    for (const [req, peer] of search.open) {
      const pending = this.#pending.get(req);
      this.#pending.delete(req);
      peer.pending.delete(req);
      pending?.queue.shift()?.settle(undefined);
    }
    search.open.clear();
  }

  /** Sends a file to the peer at `location` (see `Scheduler.sendFile`). */
  async sendFile(location: Location, path: string, options?: SendFileOptions): Promise<number> {
    const peer = this.#peerAt(location);
    if (peer === undefined) {
      throw new PeerUnreachable(`${location.hostname}:${location.port}: not linked to that peer`);
    }
    return await sendFile(
      path,
      options,
      (msg) => this.#sendOp(peer, msg),
      (msg, opts) => this.#request(peer, msg, opts, TIMEOUT_REJECTS, "reject"),
      () => this.#nextReq++,
    );
  }

  /** Deletes a file sent earlier; resolves whether it was there. */
  deleteFile(
    location: Location,
    name: string,
    options?: { dir?: string; timeout?: number },
  ): Promise<boolean> {
    const peer = this.#peerAt(location);
    if (peer === undefined) {
      return Promise.reject(
        new PeerUnreachable(`${location.hostname}:${location.port}: not linked to that peer`),
      );
    }
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.FILE_DELETE, req, name, options?.dir ?? ""],
      { timeout: options?.timeout },
      TIMEOUT_REJECTS,
      "reject",
      req,
    ) as Promise<boolean>;
  }

  /**
   * @internal What this network holds for the tests: requests waiting for
   * an answer, searches in flight, and per peer the requests, monitors and
   * service tasks it has here.
   */
  get held(): {
    pending: number;
    searches: number;
    peerPending: number;
    monitors: number;
    services: number;
  } {
    let peerPending = 0, monitors = 0, services = 0;
    for (const p of this.#peers.values()) {
      peerPending += p.pending.size;
      monitors += p.monitors.size;
      services += p.services;
    }
    return {
      pending: this.#pending.size,
      searches: this.#searches.size,
      peerPending,
      monitors,
      services,
    };
  }

  /** Says goodbye to every peer and stops listening. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#toDial.clear();
    await this.#discovery?.close();
    await this.#hub.close();
    for (const s of this.#searches) s.queue.settleAll(undefined);
  }

  #fileEvent = (event: Parameters<FileListener>[0]): void => this.onFile?.(event);

  /** Where received files go: `destPath`, or a temporary folder made on first use. */
  #destPath = (): Promise<string> => {
    return this.#dest ??= this.config.destPath !== undefined
      ? Deno.mkdir(this.config.destPath, { recursive: true }).then(() => this.config.destPath!)
      : Deno.makeTempDir({ prefix: "denocos-files-" });
  };

  // ---- RemoteOps -------------------------------------------------------

  isOnline(peer: string): boolean {
    return this.#peers.get(peer)?.link.online === true;
  }

  sendTask(t: RemoteTask, message: unknown): boolean {
    const peer = this.#peers.get(t.peer);
    if (peer === undefined) return false;
    return this.#sendOp(peer, [op.SEND, t.id, t.incarnation, message]);
  }

  deliverTask(t: RemoteTask, message: unknown, options: WaitOptions | undefined): Promise<number> {
    const peer = this.#peers.get(t.peer);
    if (peer === undefined || t.done) {
      const bad = waitError(currentTask(), options);
      return bad !== undefined ? Promise.reject(bad) : Promise.resolve(0);
    }
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.DELIVER, req, t.id, t.incarnation, message],
      options,
      0,
      "zero",
      req,
    ).then(asCount);
  }

  terminateTask(t: RemoteTask): boolean {
    const peer = this.#peers.get(t.peer);
    return peer !== undefined && this.#sendOp(peer, [op.TERMINATE, t.id, t.incarnation]);
  }

  throwTask(t: RemoteTask, error: unknown): boolean {
    const peer = this.#peers.get(t.peer);
    return peer !== undefined && this.#sendOp(peer, [op.THROW, t.id, t.incarnation, error]);
  }

  finishTask(t: RemoteTask, options: WaitOptions | undefined): Promise<unknown> {
    const peer = this.#peers.get(t.peer);
    if (peer === undefined) {
      const bad = waitError(currentTask(), options);
      return Promise.reject(bad ?? new PeerLost(`${t} is on a peer that is gone`));
    }
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.FINISH, req, t.id, t.incarnation],
      options,
      TIMEOUT_REJECTS,
      "reject",
      req,
    );
  }

  monitorTask(t: RemoteTask, watcher: Task): void {
    const peer = this.#peers.get(t.peer);
    if (peer === undefined || !peer.link.online) {
      this.#notifyUnreachable(watcher, t);
      return;
    }
    const key = `${t.incarnation}:${t.id}`;
    let w = peer.monitors.get(key);
    if (w === undefined) peer.monitors.set(key, w = { ref: t, watchers: [] });
    w.watchers.push(watcher);
    try {
      this.#sendOp(peer, [op.MONITOR, t.id, t.incarnation, watcher]);
    } catch (e) {
      // The link's queue is full (MailboxFull): the peer never hears of this
      // monitor, so nothing may wait for its status (nor hear "unreachable"
      // for it later). The caller gets the error, as `send` gives it.
      const i = w.watchers.lastIndexOf(watcher);
      if (i >= 0) w.watchers.splice(i, 1);
      if (w.watchers.length === 0) peer.monitors.delete(key);
      throw e;
    }
  }

  sendChannel(c: RemoteChannel, message: unknown): boolean {
    const peer = this.#peers.get(c.peer);
    if (peer === undefined) return false;
    const hops = forwardHops + 1;
    if (hops > MAX_HOPS) {
      logger.warn("dropping a message for channel {name}: it made {hops} hops", {
        name: c.name,
        hops: MAX_HOPS,
      });
      return false;
    }
    return this.#sendOp(peer, [op.CH_SEND, c.wireName, message, hops]);
  }

  deliverChannel(
    c: RemoteChannel,
    message: unknown,
    options: { n?: number; timeout?: number; signal?: AbortSignal } | undefined,
  ): Promise<number> {
    const n = options?.n ?? 0;
    if (!Number.isInteger(n) || n < 0) {
      return Promise.reject(new RangeError(`deliver: 'n' must be an integer >= 0, got ${n}`));
    }
    const peer = this.#peers.get(c.peer);
    if (peer === undefined) {
      const bad = waitError(currentTask(), options);
      return bad !== undefined ? Promise.reject(bad) : Promise.resolve(0);
    }
    const req = this.#nextReq++;
    // The peer waits for subscribers until `timeout` after the message
    // reaches it, so its answer comes later than that here: we wait longer,
    // by the time a live peer may take to answer (a lost one settles 0),
    // rather than say 0 for a message it delivered.
    const timeout = options?.timeout;
    const wait = timeout === undefined
      ? undefined
      : timeout + this.config.peerTimeout + this.config.heartbeatInterval;
    return this.#request(
      peer,
      [op.CH_DELIVER, req, c.wireName, message, n, timeout ?? null, forwardHops + 1],
      { timeout: wait, signal: options?.signal },
      0,
      "zero",
      req,
    ).then(asCount);
  }

  subscribeChannel(
    c: RemoteChannel,
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options: WaitOptions | undefined,
  ): Promise<void> {
    const bad = this.#subscriberError(subscriber);
    if (bad !== undefined) return Promise.reject(bad);
    const peer = this.#peers.get(c.peer);
    if (peer === undefined) return Promise.reject(new PeerLost(`${c}: peer is gone`));
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.CH_SUB, req, c.wireName, subscriber],
      options,
      TIMEOUT_REJECTS,
      "reject",
      req,
    ).then(() => {});
  }

  unsubscribeChannel(
    c: RemoteChannel,
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options: WaitOptions | undefined,
  ): Promise<boolean> {
    const bad = this.#subscriberError(subscriber);
    if (bad !== undefined) return Promise.reject(bad);
    const peer = this.#peers.get(c.peer);
    if (peer === undefined) return Promise.resolve(false);
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.CH_UNSUB, req, c.wireName, subscriber],
      options,
      TIMEOUT_REJECTS,
      "reject",
      req,
    ).then((was) => was === true);
  }

  runService(
    peerId: string,
    name: string,
    args: unknown[],
    options: WaitOptions | undefined,
  ): Promise<RemoteTask> {
    const peer = this.#peers.get(peerId);
    if (peer === undefined) return Promise.reject(new PeerLost("service peer is gone"));
    const req = this.#nextReq++;
    return this.#request(
      peer,
      [op.SVC_RUN, req, name, args],
      options,
      TIMEOUT_REJECTS,
      "reject",
      req,
    ).then(asTask);
  }

  // ---- internals -------------------------------------------------------

  #subscriberError(s: unknown): Error | undefined {
    return s instanceof Task || s instanceof Channel || s instanceof RemoteTask ||
        s instanceof RemoteChannel
      ? undefined
      : new TypeError("subscribe: 'subscriber' must be a task or a channel reference");
  }

  #peerAt(location: Location): PeerState | undefined {
    for (const p of this.#peers.values()) if (sameLocation(p.info.location, location)) return p;
    return undefined;
  }

  #infoOf(link: Link): PeerInfo {
    const p = link.peer;
    return Object.freeze({
      id: p.id,
      name: p.name || `${p.location.hostname}:${p.location.port}`,
      location: Object.freeze({ hostname: p.location.hostname, port: p.location.port }),
    });
  }

  /** Encodes and queues one operation; `false` when the link is gone. */
  #sendOp(peer: PeerState, message: unknown[]): boolean {
    if (!peer.link.online) return false;
    const body = this.codec.encode(message);
    peer.link.send(body);
    return true;
  }

  /** Sends a request and parks the caller until its answer, timeout or the peer's loss. */
  #request(
    peer: PeerState,
    message: unknown[],
    options: WaitOptions | undefined,
    timeoutValue: unknown,
    lost: Pending["lost"],
    req = message[1] as number,
  ): Promise<unknown> {
    const task = currentTask();
    const bad = waitError(task, options);
    if (bad !== undefined) return Promise.reject(bad);
    if (!peer.link.online) {
      return lost === "zero"
        ? Promise.resolve(0)
        : lost === "undefined"
        ? Promise.resolve(undefined)
        : Promise.reject(new PeerLost(`peer ${peer.info.name} is gone`));
    }
    try {
      peer.link.send(this.codec.encode(message));
    } catch (e) {
      return Promise.reject(e);
    }
    const queue = new WaitQueue();
    const p = park<unknown>(queue, task, options, timeoutValue);
    this.#pending.set(req, { queue, peer: peer.info.id, lost });
    peer.pending.add(req);
    return p.finally(() => {
      this.#pending.delete(req);
      peer.pending.delete(req);
    });
  }

  #settle(peer: PeerState, req: number, ok: boolean, value: unknown): void {
    const pending = this.#pending.get(req);
    // Only the peer a request went to may answer it.
    if (pending === undefined || pending.peer !== peer.info.id) return;
    const w = pending.queue.shift();
    if (ok) w?.settle(value);
    else w?.fail(value);
  }

  #ask(search: Search, peer: PeerState): void {
    if (search.asked.has(peer.info.id) || !peer.link.online) return;
    if (search.location !== null && !sameLocation(search.location, peer.info.location)) return;
    search.asked.add(peer.info.id);
    const req = this.#nextReq++;
    const queue = new WaitQueue();
    const p = park<unknown>(queue, undefined, undefined, undefined);
    this.#pending.set(req, { queue, peer: peer.info.id, lost: "undefined" });
    peer.pending.add(req);
    search.open.set(req, peer);
    let sent = false;
    try {
      sent = this.#sendOp(peer, [op.LOCATE, req, search.kind, search.name]);
    } catch (e) {
      // A full queue: that peer cannot be asked now; it counts as a "no".
      logger.debug("locate: cannot ask {name}: {error}", { name: peer.info.name, error: e });
    }
    if (!sent) queue.shift()?.settle(undefined);
    p.then((found) => {
      this.#pending.delete(req);
      peer.pending.delete(req);
      if (search.over) return;
      search.open.delete(req);
      search.answered++;
      if (found !== undefined && found !== null) {
        search.queue.shift()?.settle(this.#located(search.kind, found, peer));
      } else this.#searchDone(search);
    }, () => {});
  }

  #located(kind: number, found: unknown, peer: PeerState): unknown {
    if (kind === op.KIND_SERVICE) {
      return typeof found === "string" ? { name: found, peer: peer.info } : undefined;
    }
    if (kind === op.KIND_TASK) return found instanceof RemoteTask ? found : undefined;
    return found instanceof RemoteChannel ? found : undefined;
  }

  /** Ends a search whose every peer said no, unless it may wait for new peers. */
  #searchDone(search: Search): void {
    if (search.answered >= search.asked.size && !search.waitNew) {
      search.queue.shift()?.settle(undefined);
    }
  }

  #encodeTask(v: Task | RemoteTask) {
    if (v instanceof RemoteTask) {
      return {
        peer: v.peer,
        incarnation: v.incarnation,
        id: v.id,
        name: v.name,
        location: v.location,
      };
    }
    if (v.scheduler === this.scheduler && !this.#handedOut.has(v.id)) {
      this.#handedOut.set(v.id, v);
      if (this.#handedOut.size > HANDED_OUT) {
        this.#handedOut.delete(this.#handedOut.keys().next().value!);
      }
    }
    return {
      peer: this.id,
      incarnation: v.scheduler.incarnation,
      id: v.id,
      name: v.name,
      location: this.#location,
    };
  }

  #decodeTask(
    r: { peer: string; incarnation: number; id: number; name: string; location: Location },
  ) {
    if (r.peer === this.id) {
      // Ours: live, or ended but handed out (so its result is still here).
      const local = this.#localTask(r.id, r.incarnation);
      if (local !== undefined) return local;
    }
    const key = `${r.peer}:${r.incarnation}:${r.id}`;
    const cached = this.#tasks.get(key)?.deref();
    if (cached !== undefined) return cached;
    const location = Object.freeze({ hostname: r.location.hostname, port: r.location.port });
    const t = new RemoteTask(this, r.peer, r.incarnation, r.id, r.name, location);
    if (r.peer === this.id) t.markEnded(); // ours, but gone (or an old incarnation)
    this.#tasks.set(key, new WeakRef(t));
    this.#forget.register(t, [this.#tasks, key]);
    return t;
  }

  #encodeChannel(v: Channel | RemoteChannel) {
    if (v instanceof RemoteChannel) {
      return { peer: v.peer, name: v.wireName, location: v.location };
    }
    if (coreChannel(this.scheduler, v.name) === v) {
      return { peer: this.id, name: v.name, location: this.#location };
    }
    // Not the channel registered under its name: it travels under a name of
    // its own, so that it never stands for (or is shadowed by) a namesake.
    const wire = `${v.name.slice(0, 200)}\0${v.id}`;
    if (!this.#exported.has(wire) && this.#exported.size >= this.#sweepAt) {
      for (const [k, ch] of this.#exported) if (ch.closed) this.#exported.delete(k);
      this.#sweepAt = Math.max(1024, 2 * this.#exported.size);
    }
    this.#exported.set(wire, v);
    return { peer: this.id, name: wire, location: this.#location };
  }

  #decodeChannel(r: { peer: string; name: string; location: Location }) {
    if (r.peer === this.id) {
      const local = this.#localChannel(r.name);
      if (local !== undefined) return local;
    }
    const key = `${r.peer}:${r.name}`;
    const cached = this.#channels.get(key)?.deref();
    if (cached !== undefined) return cached;
    const location = Object.freeze({ hostname: r.location.hostname, port: r.location.port });
    const c = new RemoteChannel(this, r.peer, r.name, location);
    this.#channels.set(key, new WeakRef(c));
    this.#forget.register(c, [this.#channels, key]);
    return c;
  }

  /** A channel of ours by wire name: a registered one, or one handed out in a message. */
  #localChannel(name: string): Channel | undefined {
    if (!name.includes("\0")) return coreChannel(this.scheduler, name);
    const exported = this.#exported.get(name);
    if (exported === undefined || !exported.closed) return exported;
    this.#exported.delete(name);
    return undefined;
  }

  /** A task of ours, live or recently ended and known to peers. */
  #localTask(id: number, incarnation: number): Task | undefined {
    if (incarnation !== this.scheduler.incarnation) return undefined;
    return this.scheduler.task(id) ?? this.#handedOut.get(id);
  }

  #notifyUnreachable(watcher: Task, t: RemoteTask): void {
    const status = new MonitorStatus(
      t as unknown as Task,
      "unreachable",
      new PeerLost(`${t}: its peer is gone`),
    );
    deliverStatus(watcher, status);
  }

  #online(link: Link): void {
    const info = this.#infoOf(link);
    let peer = this.#peers.get(info.id);
    if (peer === undefined) {
      peer = {
        link,
        info,
        pending: new Set(),
        monitors: new Map(),
        subscriptions: new Map(),
        files: new Map(),
        serving: 0,
        services: 0,
      };
      this.#peers.set(info.id, peer);
    } else peer.link = link;
    logger.info("peer {name} online at {loc}", {
      name: info.name,
      loc: `${info.location.hostname}:${info.location.port}`,
    });
    this.#tellWatchers(new PeerStatus(info, "online"));
    for (const s of this.#searches) this.#ask(s, peer);
    // Peer exchange: tell the newcomer whom we know, so that a cluster grown
    // from seeds (where multicast does not reach) still links everyone.
    const others = [...this.#peers.values()].filter((p) => p !== peer).slice(0, 1024);
    if (others.length > 0) {
      this.#sendOp(peer, [
        op.PEERS,
        others.map((p) => [p.info.id, p.info.location.hostname, p.info.location.port]),
      ]);
    }
  }

  #offline(link: Link, reason: string): void {
    const peer = this.#peers.get(link.peer.id);
    if (peer === undefined || peer.link !== link) return;
    this.#peers.delete(link.peer.id);
    logger.info("peer {name} offline: {reason}", { name: peer.info.name, reason });
    const lost = new PeerLost(`peer ${peer.info.name} is gone: ${reason}`);
    for (const req of [...peer.pending]) {
      const p = this.#pending.get(req);
      const w = p?.queue.shift();
      if (p === undefined || w === null || w === undefined) continue;
      if (p.lost === "zero") w.settle(0);
      else if (p.lost === "undefined") w.settle(undefined);
      else w.fail(lost);
    }
    for (const watched of peer.monitors.values()) {
      for (const watcher of watched.watchers) this.#notifyUnreachable(watcher, watched.ref);
    }
    peer.monitors.clear();
    for (const [channel, sub] of peer.subscriptions.values()) {
      channel.unsubscribe(sub as unknown as Subscriber).catch(() => {});
    }
    peer.subscriptions.clear();
    for (const f of peer.files.values()) f.abort();
    peer.files.clear();
    this.#tellWatchers(new PeerStatus(peer.info, "offline"));
    for (const s of this.#searches) this.#searchDone(s);
  }

  #tellWatchers(status: PeerStatus): void {
    if (this.#statusWatchers.length === 0) return;
    this.#statusWatchers = this.#statusWatchers.filter((t) => !t.done);
    for (const t of this.#statusWatchers) {
      try {
        t.send(status);
      } catch (e) {
        logger.warn("peer status for {task} dropped: {error}", { task: t.name, error: e });
      }
    }
  }

  #message(link: Link, body: Uint8Array): void {
    const peer = this.#peers.get(link.peer.id);
    if (peer === undefined) return;
    let m: unknown[];
    try {
      const decoded = this.codec.decode(body);
      const why = op.malformed(decoded);
      if (why !== undefined) throw new TypeError(why);
      m = decoded as unknown[];
    } catch (e) {
      logger.warn("closing link to {name}: malformed message: {error}", {
        name: peer.info.name,
        error: e,
      });
      link.close().catch(() => {});
      return;
    }
    try {
      this.#dispatch(peer, m);
    } catch (e) {
      logger.error("handling {op} from {name} failed: {error}", {
        op: m[0],
        name: peer.info.name,
        error: e,
      });
    }
  }

  #reply(peer: PeerState, req: number, value: unknown): void {
    try {
      this.#sendOp(peer, [op.REPLY, req, value]);
    } catch (e) {
      // The value cannot travel (or the queue is full): answer with the error.
      this.#fail(peer, req, e);
    }
  }

  #fail(peer: PeerState, req: number, error: unknown): void {
    try {
      this.#sendOp(peer, [op.FAIL, req, error]);
    } catch (e) {
      logger.warn("cannot answer {name}: {error}", { name: peer.info.name, error: e });
    }
  }

  #dispatch(peer: PeerState, m: unknown[]): void {
    switch (m[0]) {
      case op.SEND: {
        const t = this.#localTask(m[1] as number, m[2] as number);
        if (t === undefined || t.done) {
          this.#sendOp(peer, [op.ENDED, m[1], m[2]]);
          return;
        }
        try {
          t.send(m[3]);
        } catch (e) {
          if (!(e instanceof MailboxFull)) throw e;
          logger.warn("dropping a message from {peer} for {task}: {error}", {
            peer: peer.info.name,
            task: t.name,
            error: e,
          });
        }
        return;
      }
      case op.ENDED: {
        const key = `${peer.info.id}:${m[2]}:${m[1]}`;
        this.#tasks.get(key)?.deref()?.markEnded();
        return;
      }
      case op.DELIVER: {
        const req = m[1] as number;
        const t = this.#localTask(m[2] as number, m[3] as number);
        if (t === undefined || t.done) {
          this.#reply(peer, req, 0);
          return;
        }
        try {
          this.#reply(peer, req, t.send(m[4]) ? 1 : 0);
        } catch (e) {
          this.#fail(peer, req, e);
        }
        return;
      }
      case op.REPLY:
        this.#settle(peer, m[1] as number, true, m[2]);
        return;
      case op.FAIL:
        this.#settle(peer, m[1] as number, false, m[2]);
        return;
      case op.LOCATE:
        this.#answerLocate(peer, m[1] as number, m[2] as number, m[3] as string);
        return;
      case op.MONITOR: {
        const watcher = m[3];
        if (!(watcher instanceof RemoteTask)) throw new TypeError("MONITOR: watcher is not a task");
        const t = this.#localTask(m[1] as number, m[2] as number);
        if (t === undefined || peer.serving >= MAX_SERVING) {
          const gone = t === undefined
            ? new TaskEnded(`#${m[1]}`)
            : new RangeError(`more than ${MAX_SERVING} requests waiting`);
          this.#sendOp(peer, [op.STATUS, watcher.id, watcher.incarnation, {
            id: m[1],
            incarnation: m[2],
            type: "unreachable",
            value: gone,
          }]);
          return;
        }
        const report = (type: MonitorStatusType, value: unknown) => {
          const p = this.#peers.get(peer.info.id);
          if (p === undefined) return;
          const to = [op.STATUS, watcher.id, watcher.incarnation];
          try {
            this.#sendOp(p, [...to, new MonitorStatus(t, type, value)]);
          } catch {
            // A result the codec cannot carry: report how it ended, not what.
            try {
              this.#sendOp(p, [...to, new MonitorStatus(t, type, undefined)]);
            } catch (e) {
              // Its queue is full: thrown here it would end the process.
              logger.warn("monitor status for {name} dropped: {error}", {
                name: p.info.name,
                error: e,
              });
            }
          }
        };
        peer.serving++;
        t.finish().then((v) => {
          peer.serving--;
          report("finished", v);
        }, (e) => {
          peer.serving--;
          report(statusType(t), e);
        });
        return;
      }
      case op.STATUS: {
        const watcher = this.#localTask(m[1] as number, m[2] as number);
        const raw = m[3];
        let status: MonitorStatus;
        if (raw instanceof MonitorStatus) status = raw;
        else if (
          typeof raw === "object" && raw !== null && "type" in raw && raw.type === "unreachable"
        ) {
          const r = raw as unknown as { id: number; incarnation: number; value: unknown };
          const ref = this.#tasks.get(`${peer.info.id}:${r.incarnation}:${r.id}`)?.deref();
          if (ref === undefined) return;
          status = new MonitorStatus(ref as unknown as Task, "unreachable", r.value);
        } else throw new TypeError("STATUS: not a MonitorStatus");
        // Only a status this peer owes: about one of its own tasks, for a
        // watcher of ours that monitors it there. Anything else would let a
        // peer end other peers' references or fill any mailbox past its limit.
        const ref = status.task as unknown;
        if (!(ref instanceof RemoteTask) || ref.peer !== peer.info.id) return;
        const key = `${ref.incarnation}:${ref.id}`;
        const w = peer.monitors.get(key);
        const i = watcher === undefined || w === undefined ? -1 : w.watchers.indexOf(watcher);
        if (i < 0) return;
        ref.markEnded();
        w!.watchers.splice(i, 1);
        if (w!.watchers.length === 0) peer.monitors.delete(key);
        deliverStatus(watcher!, status);
        return;
      }
      case op.TERMINATE:
        this.#localTask(m[1] as number, m[2] as number)?.terminate();
        return;
      case op.THROW:
        this.#localTask(m[1] as number, m[2] as number)?.throw(m[3]);
        return;
      case op.FINISH: {
        const req = m[1] as number;
        const t = this.#localTask(m[2] as number, m[3] as number);
        if (t === undefined) {
          this.#fail(peer, req, new TaskEnded(`#${m[2]}`));
          return;
        }
        if (!this.#admit(peer, req)) return;
        t.finish().then((v) => {
          peer.serving--;
          this.#reply(peer, req, v);
        }, (e) => {
          peer.serving--;
          this.#fail(peer, req, e);
        });
        return;
      }
      case op.CH_SEND: {
        const ch = this.#localChannel(m[1] as string);
        if (ch === undefined || ch.closed) return;
        forwardHops = m[3] as number;
        try {
          ch.send(m[2]);
        } finally {
          forwardHops = 0;
        }
        return;
      }
      case op.CH_DELIVER: {
        const req = m[1] as number;
        const ch = this.#localChannel(m[2] as string);
        if (ch === undefined || ch.closed) {
          this.#reply(peer, req, 0);
          return;
        }
        // The hop count of a delivered message restarts here: deliver is
        // asynchronous, and a cycle is still cut by the sends it leads to.
        const timeout = m[5] as number | null;
        if (!this.#admit(peer, req)) return;
        ch.deliver(m[3], { n: m[4] as number, timeout: timeout ?? undefined })
          .then((count) => {
            peer.serving--;
            this.#reply(peer, req, count);
          }, (e) => {
            peer.serving--;
            this.#fail(peer, req, e);
          });
        return;
      }
      case op.CH_SUB:
      case op.CH_UNSUB: {
        const req = m[1] as number;
        const ch = this.#localChannel(m[2] as string);
        const sub = m[3];
        if (
          !(sub instanceof RemoteTask || sub instanceof RemoteChannel || sub instanceof Task ||
            sub instanceof Channel)
        ) {
          this.#fail(peer, req, new TypeError("subscriber is not a task or channel reference"));
          return;
        }
        if (ch === undefined) {
          this.#fail(peer, req, new Error(`no channel '${m[2]}' here`));
          return;
        }
        if (m[0] === op.CH_SUB) {
          ch.subscribe(sub as unknown as Subscriber).then(() => {
            if (sub instanceof RemoteTask || sub instanceof RemoteChannel) {
              peer.subscriptions.set(`${ch.id}/${sub.key}`, [ch, sub]);
            }
            this.#reply(peer, req, true);
          }, (e) => this.#fail(peer, req, e));
        } else {
          ch.unsubscribe(sub as unknown as Subscriber).then((was) => {
            if (sub instanceof RemoteTask || sub instanceof RemoteChannel) {
              peer.subscriptions.delete(`${ch.id}/${sub.key}`);
            }
            this.#reply(peer, req, was);
          }, (e) => this.#fail(peer, req, e));
        }
        return;
      }
      case op.SVC_RUN: {
        const req = m[1] as number;
        const entry = this.#services.get(m[2] as string);
        if (entry === undefined) {
          this.#fail(peer, req, new Error(`no service '${m[2]}' here`));
          return;
        }
        // Each run is a task that may live long: one peer may not start
        // them without bound. Refused, the request fails; the link stays.
        const max = this.config.maxServiceTasks;
        if (peer.services >= max) {
          this.#fail(
            peer,
            req,
            new RangeError(
              `service '${
                m[2]
              }' refused: ${max} service tasks of this peer are running here (maxServiceTasks)`,
            ),
          );
          return;
        }
        let t: Task;
        peer.services++;
        try {
          t = this.scheduler.spawn(entry.run, peer, ...(m[3] as unknown[]));
        } catch (e) {
          peer.services--;
          this.#fail(peer, req, e);
          return;
        }
        this.#reply(peer, req, t);
        return;
      }
      case op.PEERS:
        for (const [id, hostname, port] of m[1] as [string, string, number][]) {
          if (id === this.id || this.#peers.has(id) || this.#closed) continue;
          this.#dialLater(hostname, port, peer.info.name);
        }
        return;
      case op.FILE_OPEN:
      case op.FILE_DATA:
      case op.FILE_END:
      case op.FILE_DELETE:
        FileReceiver.handle(
          this.#destPath,
          peer.files,
          m,
          (req, value) => this.#reply(peer, req, value),
          (req, error) => this.#fail(peer, req, error),
          () => this.#peers.get(peer.info.id) === peer,
          this.#fileEvent,
        );
        return;
    }
  }

  /** Queues a dial to a peer heard of from `from`; dials MAX_DIALS at a time. */
  #dialLater(hostname: string, port: number, from: string): void {
    const key = `${hostname}:${port}`;
    if (this.#toDial.has(key) || this.#toDial.size >= MAX_TO_DIAL) return;
    this.#toDial.set(key, { hostname, port });
    this.#pumpDials(from);
  }

  #pumpDials(from: string): void {
    while (this.#dialing < MAX_DIALS && this.#toDial.size > 0 && !this.#closed) {
      const [key, to] = this.#toDial.entries().next().value!;
      this.#toDial.delete(key);
      if (this.#peerAt(to) !== undefined) continue;
      this.#dialing++;
      // Bounded, so that silent addresses cannot hold every dial slot.
      const timeout = Math.max(5000, 2 * this.config.peerTimeout);
      this.connect(to, { timeout }).catch((e) =>
        logger.debug("peer {loc} heard of from {from} unreachable: {error}", {
          loc: key,
          from,
          error: e,
        })
      ).finally(() => {
        this.#dialing--;
        this.#pumpDials(from);
      });
    }
  }

  /** Counts one more request of `peer` waiting here, or refuses it past MAX_SERVING. */
  #admit(peer: PeerState, req: number): boolean {
    if (peer.serving < MAX_SERVING) {
      peer.serving++;
      return true;
    }
    this.#fail(peer, req, new RangeError(`more than ${MAX_SERVING} requests waiting`));
    return false;
  }

  #answerLocate(peer: PeerState, req: number, kind: number, name: string): void {
    if (kind === op.KIND_SERVICE) {
      this.#reply(peer, req, this.#services.has(name) ? name : null);
      return;
    }
    if (kind === op.KIND_CHANNEL) {
      this.#reply(peer, req, coreChannel(this.scheduler, name) ?? null);
      return;
    }
    this.#reply(peer, req, coreTask(this.scheduler, name) ?? null);
  }
}

// The core's own registries, without the peer search the network adds.
function coreTask(s: CoreScheduler, name: string): Task | undefined {
  return schedulerInternals.lookupTask(s, name);
}

function coreChannel(s: CoreScheduler, name: string): Channel | undefined {
  return schedulerInternals.lookupChannel(s, name);
}

/** Queues a monitor status for `watcher` past its mailbox limit, as the core does. */
function deliverStatus(watcher: Task, status: MonitorStatus): void {
  taskInternals.notify(watcher, status);
}
