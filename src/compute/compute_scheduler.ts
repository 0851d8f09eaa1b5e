/**
 * `ComputeScheduler`: what `denocos scheduler` runs. A peer that links to
 * compute nodes (those it is told about, and every node that connects to
 * it), polls each one's `denocos.compute.info` once a second, and answers
 * two services: `denocos.scheduler.status` (a `ClusterSnapshot` of the
 * nodes) and `denocos.scheduler.nodes` (where the online nodes listen, which
 * `Computation.schedule({ location })` asks before it connects to them).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Location, Task } from "../core/_internal.ts";
import { Scheduler } from "../net/scheduler.ts";
import type { PeerListenOptions } from "../net/scheduler.ts";
import type { PeerInfo } from "../net/peer_info.ts";
import { PeerStatus } from "../net/peer_status.ts";
import { Service } from "../net/service.ts";
import { NodeAvailability, StatusMessage } from "./status_message.ts";
import { NODE_SERVICES, type NodeInfo } from "./node.ts";
import "./_wire.ts";
import { tellListener } from "./_listeners.ts";

const logger = getLogger(["denocos", "compute", "scheduler"]);

/** The services a cluster scheduler offers. */
export const SCHEDULER_SERVICES = {
  status: "denocos.scheduler.status",
  nodes: "denocos.scheduler.nodes",
} as const;

/**
 * One node in a `ClusterSnapshot`.
 *
 * @example
 * ```ts ignore
 * for (const n of snapshot.nodes) console.log(n.name, n.online, n.jobsRunning);
 * ```
 */
export interface NodeSnapshot {
  /** The node's name. */
  name: string;
  /** Where it listens. */
  location: Location;
  /** Whether it is linked now. */
  online: boolean;
  /** Servers it offers to each computation. */
  cpus: number;
  /** Server processes running now (over every computation). */
  servers: number;
  /** Computations it hosts now. */
  computations: number;
  /** Jobs running now. */
  jobsRunning: number;
  /** Jobs ended since it started. */
  jobsDone: number;
  /** Fraction of CPU in use (0–1), `null` if unknown. */
  cpu: number | null;
  /** Available memory in bytes, `null` if unknown. */
  memory: number | null;
  /** Available over total memory (0–1), `null` if unknown. */
  memoryFraction: number | null;
  /** 1-minute load average, `null` if unknown. */
  load: number | null;
  /** When the figures were taken (ms since the epoch; 0: never). */
  updated: number;
}

/**
 * What `denocos.scheduler.status` answers.
 *
 * @example
 * ```ts ignore
 * const snapshot = await ComputeScheduler.status({ hostname: "127.0.0.1", port: 9705 });
 * console.log(snapshot.nodes.length);
 * ```
 */
export interface ClusterSnapshot {
  /** The scheduler's name. */
  scheduler: string;
  /** Where it listens. */
  location: Location;
  /** When the snapshot was taken (ms since the epoch). */
  time: number;
  /** The nodes it knows, online or not. */
  nodes: NodeSnapshot[];
}

/**
 * Options for `ComputeScheduler.start`.
 *
 * @example
 * ```ts
 * import type { ComputeSchedulerOptions } from "@denocos/denocos/compute";
 *
 * const options: ComputeSchedulerOptions = { port: 0, nodes: [{ hostname: "127.0.0.1", port: 9706 }] };
 * console.log(options.nodes?.length);
 * ```
 */
export interface ComputeSchedulerOptions extends PeerListenOptions {
  /** Nodes to link to (retried at every poll while unreachable). */
  nodes?: Location[];
  /** How often nodes are polled, in ms (default 1,000). */
  pollInterval?: number;
}

interface Tracked {
  peer: PeerInfo | null;
  info: Service | null;
  snapshot: NodeSnapshot;
  polling: boolean;
  /** The info listeners heard it initialized with (none yet: not announced). */
  initialized?: NodeInfo;
}

const key = (l: Location) => `${l.hostname}:${l.port}`;

/**
 * A shared scheduler: knows the cluster's nodes and tells clients.
 *
 * @example
 * ```ts ignore
 * import { ComputeScheduler } from "@denocos/denocos/compute";
 *
 * const s = await ComputeScheduler.start({ hostname: "127.0.0.1", port: 9705, secret: "s3cret" });
 * console.log(s.snapshot().nodes.length);
 * await s.close();
 * ```
 */
export class ComputeScheduler implements AsyncDisposable {
  /** The scheduler's peer. */
  readonly scheduler: Scheduler;
  /** Where it listens. */
  readonly location: Location;
  /** Its name. */
  readonly name: string;
  readonly #nodes = new Map<string, Tracked>();
  readonly #seeds: Location[];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #listeners = new Set<(message: unknown) => void>();
  #closed = false;

  private constructor(scheduler: Scheduler, location: Location, options: ComputeSchedulerOptions) {
    this.scheduler = scheduler;
    this.location = location;
    this.name = options.name ?? key(location);
    this.#seeds = options.nodes ?? [];
    const every = options.pollInterval ?? 1000;
    if (!(every >= 50) || !Number.isFinite(every)) {
      throw new RangeError("ComputeScheduler: 'pollInterval' must be at least 50 ms");
    }
    this.#timer = setInterval(() => this.#poll(), every);
  }

  /** Listens, registers the services and links to `nodes`. */
  static async start(options: ComputeSchedulerOptions = {}): Promise<ComputeScheduler> {
    const scheduler = new Scheduler();
    const location = await scheduler.listen(options);
    const cs = new ComputeScheduler(scheduler, location, options);
    scheduler.registerService(SCHEDULER_SERVICES.status, () => cs.snapshot());
    scheduler.registerService(SCHEDULER_SERVICES.nodes, () => cs.nodes());
    const watcher = scheduler.spawn(async function clusterWatcher(task: Task) {
      task.setDaemon();
      for (;;) {
        const m = await task.receive();
        if (m instanceof PeerStatus) cs.#peerStatus(m);
      }
    });
    scheduler.peerStatus(watcher);
    await Promise.all(cs.#seeds.map((l) => cs.#dial(l)));
    await cs.#poll();
    return cs;
  }

  /** The nodes known now, online or not, with their latest figures. */
  snapshot(): ClusterSnapshot {
    return {
      scheduler: this.name,
      location: this.location,
      time: Date.now(),
      nodes: [...this.#nodes.values()].map((t) => ({ ...t.snapshot })),
    };
  }

  /** Where the online nodes listen. */
  nodes(): Location[] {
    return [...this.#nodes.values()].filter((t) => t.snapshot.online).map((t) =>
      t.snapshot.location
    );
  }

  /** Stops polling and closes the links. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.scheduler.finish();
  }

  /** `await using s = await ComputeScheduler.start()` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #dial(l: Location): Promise<void> {
    try {
      await this.scheduler.peer({ hostname: l.hostname, port: l.port, timeout: 5000 });
    } catch (e) {
      logger.warn("node {node} unreachable: {error}", { node: key(l), error: e });
    }
  }

  /**
   * Calls `listener` with the cluster's changes as a computation's status
   * task would get them (`NodeDiscovered` / `NodeInitialized` when a node
   * joins, `NodeAvailability` at every poll, `NodeClosed` when one goes), so
   * a `Dashboard` can show the shared cluster. Jobs are the clients' own:
   * they talk to the nodes directly. A listener first hears the nodes known
   * so far, as those messages, so one added after `start` (which already
   * links to `nodes`) misses none. Returns the function that removes it.
   */
  addStatusListener(listener: (message: unknown) => void): () => void {
    for (const t of this.#nodes.values()) {
      const at = t.snapshot.location;
      const replay = [new StatusMessage("NodeDiscovered", at, { info: t.snapshot.name })];
      if (t.initialized !== undefined) {
        replay.push(new StatusMessage("NodeInitialized", at, { info: t.initialized }));
        for (let i = 0; i < t.snapshot.cpus; i++) {
          replay.push(new StatusMessage("ServerInitialized", at, { server: String(i) }));
        }
      }
      if (!t.snapshot.online) replay.push(new StatusMessage("NodeClosed", at, { info: "offline" }));
      for (const m of replay) tellListener(listener, m);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #tell(m: unknown): void {
    for (const l of this.#listeners) tellListener(l, m);
  }

  #peerStatus(m: PeerStatus): void {
    const t = this.#nodes.get(key(m.peer.location));
    if (m.status === "offline") {
      if (t !== undefined) {
        t.snapshot.online = false;
        t.peer = null;
        t.info = null;
        logger.info("node {node} offline", { node: t.snapshot.name });
        this.#tell(
          new StatusMessage("NodeClosed", t.snapshot.location, { info: "offline" }),
        );
      }
      return;
    }
    if (t !== undefined) {
      t.peer = m.peer;
      t.snapshot.online = true;
    }
    // Any peer may be a node: it is one if it offers the info service.
    this.#adopt(m.peer).catch((e) =>
      logger.debug("peer {peer} is not a node: {error}", { peer: m.peer.name, error: e })
    );
  }

  async #adopt(peer: PeerInfo): Promise<void> {
    const info = await Service.locate(NODE_SERVICES.info, {
      scheduler: this.scheduler,
      location: peer.location,
      timeout: 5000,
    });
    if (info === undefined || this.#closed) return;
    const k = key(peer.location);
    let t = this.#nodes.get(k);
    if (t === undefined) {
      t = { peer, info, polling: false, snapshot: emptySnapshot(peer) };
      this.#nodes.set(k, t);
      logger.info("node {node} joined", { node: peer.name });
    }
    this.#tell(new StatusMessage("NodeDiscovered", peer.location, { info: peer.name }));
    t.peer = peer;
    t.info = info;
    t.snapshot.online = true;
    await this.#pollOne(t);
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    const linked = new Set(this.scheduler.peers().map((p) => key(p.location)));
    const pending: Promise<void>[] = [];
    for (const l of this.#seeds) {
      if (!linked.has(key(l)) && !this.#nodes.get(key(l))?.snapshot.online) {
        pending.push(this.#dial(l));
      }
    }
    for (const t of this.#nodes.values()) {
      if (t.info !== null && !t.polling) pending.push(this.#pollOne(t));
    }
    await Promise.allSettled(pending);
  }

  async #pollOne(t: Tracked): Promise<void> {
    const svc = t.info;
    if (svc === null || t.polling) return;
    t.polling = true;
    try {
      const info = await (await svc.run()).finish({ timeout: 5000 }) as NodeInfo;
      const a = info.availability;
      Object.assign(t.snapshot, {
        name: String(info.name),
        cpus: Number(info.cpus) || 0,
        servers: Number(info.servers) || 0,
        computations: Number(info.computations) || 0,
        jobsRunning: Number(info.jobsRunning) || 0,
        jobsDone: Number(info.jobsDone) || 0,
        cpu: a?.cpu ?? null,
        memory: a?.memory ?? null,
        memoryFraction: a?.memoryFraction ?? null,
        load: a?.load ?? null,
        updated: Date.now(),
      });
      if (t.snapshot.updated !== 0 && t.initialized === undefined) {
        t.initialized = info;
        this.#tell(new StatusMessage("NodeInitialized", t.snapshot.location, { info }));
        for (let i = 0; i < t.snapshot.cpus; i++) {
          this.#tell(
            new StatusMessage("ServerInitialized", t.snapshot.location, { server: String(i) }),
          );
        }
      }
      if (a instanceof NodeAvailability) this.#tell(a);
    } catch (e) {
      logger.debug("node {node} did not answer: {error}", { node: t.snapshot.name, error: e });
    } finally {
      t.polling = false;
    }
  }
}

function emptySnapshot(peer: PeerInfo): NodeSnapshot {
  return {
    name: peer.name,
    location: { hostname: peer.location.hostname, port: peer.location.port },
    online: true,
    cpus: 0,
    servers: 0,
    computations: 0,
    jobsRunning: 0,
    jobsDone: 0,
    cpu: null,
    memory: null,
    memoryFraction: null,
    load: null,
    updated: 0,
  };
}

/**
 * Asks the cluster scheduler at `location` for a service's answer, from
 * `scheduler` (a networked client).
 */
export async function askScheduler(
  scheduler: Scheduler,
  location: Location,
  service: string,
  options?: { timeout?: number },
): Promise<unknown> {
  const timeout = options?.timeout ?? 10_000;
  const svc = await Service.locate(service, { scheduler, location, timeout });
  if (svc === undefined) {
    throw new Error(`${location.hostname}:${location.port} is not a denocos scheduler`);
  }
  return await (await svc.run()).finish({ timeout });
}
