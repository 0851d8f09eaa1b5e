/**
 * `Computation`: the client side of distributed computing (pycos's
 * dispycos client). A module of job functions is shipped to compute nodes
 * (`denocos node`), each node starts sandboxed servers for it, and `run`
 * starts an export of the module as a job on the least loaded server.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Location, MonitorStatus, type Task } from "../core/_internal.ts";
import type { RemoteTask } from "../net/remote_task.ts";
import { Scheduler } from "../net/scheduler.ts";
import { Service } from "../net/service.ts";
import type { PeerInfo } from "../net/peer_info.ts";
import { PeerStatus } from "../net/peer_status.ts";
import { CodeBundle } from "./_code_bundle.ts";
import type { PermissionSet } from "./_permissions.ts";
import { NODE_SERVICES, type NodeInfo } from "./node.ts";
import { pickServer, type ServerLoad } from "./placement.ts";
import { NodeAvailability, StatusMessage, type StatusType } from "./status_message.ts";
import { askScheduler, SCHEDULER_SERVICES } from "./compute_scheduler.ts";
import "./_wire.ts";
import { tellListener } from "./_listeners.ts";

const logger = getLogger(["denocos", "compute"]);

/**
 * Options for `new Computation`.
 *
 * @example
 * ```ts
 * import type { ComputationOptions } from "@denocos/denocos/compute";
 *
 * const options: ComputationOptions = {
 *   module: new URL("./job.ts", import.meta.url),
 *   nodes: [{ hostname: "127.0.0.1", port: 9706 }],
 * };
 * console.log(options.nodes?.length);
 * ```
 */
export interface ComputationOptions {
  /** The module whose exports jobs run (it and its relative imports are shipped). */
  module: URL | string;
  /** What jobs may do (Deno permissions), intersected with what each node allows; none by default. */
  permissions?: PermissionSet;
  /** A task that receives `StatusMessage`s, every job's `MonitorStatus` and `NodeAvailability` pulses. */
  status?: Task;
  /** Nodes to use (besides any that `scheduler`'s peers already are). */
  nodes?: Location[];
  /** The local scheduler the client's tasks live on (default `Scheduler.default()`). */
  scheduler?: Scheduler;
  /** An export run once per server before any job; its result is `task.setup` in jobs. */
  serverSetup?: string;
  /** Arguments for `serverSetup` (and `nodeSetup`). */
  setupArgs?: unknown[];
  /**
   * An export run once per node, in a sandbox of its own, before its servers
   * start; its result is the first argument of `serverSetup` on each server
   * of that node (after the task), or, without a `serverSetup`, `task.setup`
   * in jobs.
   */
  nodeSetup?: string;
  /** How often nodes report their availability, in ms (default 1,000). */
  pulseInterval?: number;
  /** A node silent (no pulse, no message) this long is abandoned, in ms (default 3,000). */
  zombiePeriod?: number;
  /**
   * Start the jobs of an abandoned node again elsewhere (for jobs that are
   * safe to run twice; default `false`). The new job is announced with
   * `TaskStarted`; the old one's monitors heard `"unreachable"`.
   */
  resubmit?: boolean;
  /** With `resubmit`, how many times one job may be started in all (default 3). */
  maxAttempts?: number;
}

/**
 * A self-contained job function for `run(fn)`: it travels by its source, so
 * it may use only its parameters and globals (no variables from around it,
 * no imports), as `AsyncThreadPool.run`'s functions.
 *
 * @example
 * ```ts ignore
 * const job = await comp.run(async (task, n: number) => { await task.sleep(n); return n; }, 10);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type JobFunction = (task: Task, ...args: any[]) => unknown;

const FN_JOB = "\0fn";

/** What it takes to start a job again. */
interface JobRecord {
  task: RemoteTask;
  server: ServerState;
  exportName: string;
  args: unknown[];
  attempts: number;
  isAsync: boolean;
}

/** One server as the computation tracks it. */
interface ServerState {
  id: string;
  index: string;
  node: PeerInfo;
  busy: number;
}

/** One node as the computation tracks it. */
interface NodeState {
  peer: PeerInfo;
  run: Service;
  info: NodeInfo;
  /** When it last showed it is alive (a pulse or any status), `performance.now()`. */
  seen: number;
}

let computations = 0;

/**
 * A computation: code shipped to compute nodes, and jobs run there.
 *
 * @example
 * ```ts ignore
 * import { Computation } from "@denocos/denocos/compute";
 *
 * const comp = new Computation({
 *   module: new URL("./job.ts", import.meta.url),
 *   nodes: [{ hostname: "127.0.0.1", port: 9706 }],
 * });
 * await comp.schedule();
 * const job = await comp.run("compute", 42); // a RemoteTask
 * console.log(await job.finish()); // 42
 * await comp.close();
 * ```
 */
export class Computation implements AsyncDisposable {
  /** The computation's id, unique among this client's computations. */
  readonly id: string;
  readonly #options: ComputationOptions;
  readonly #scheduler: Scheduler;
  readonly #nodes = new Map<string, NodeState>();
  readonly #servers = new Map<string, ServerState>();
  /** Servers that take no new job (`suspend`), by id. */
  readonly #suspended = new Set<string>();
  /** Running jobs by their reference's key. */
  readonly #jobs = new Map<string, JobRecord>();
  #bundle: CodeBundle | null = null;
  #watcher: Task | null = null;
  #zombieTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Taps on the status stream (a dashboard), called before the status task gets each message. */
  readonly #listeners: ((message: unknown) => void)[] = [];

  /**
   * Creates a `Computation`; nothing is shipped before `schedule`.
   *
   * @param options the module, permissions, status task and nodes
   */
  constructor(options: ComputationOptions) {
    if (options === null || typeof options !== "object" || options.module === undefined) {
      throw new TypeError("Computation: 'module' is required");
    }
    this.#options = options;
    this.#scheduler = options.scheduler ?? Scheduler.default();
    this.id = `c${++computations}-${crypto.randomUUID().slice(0, 8)}`;
  }

  /**
   * Ships the code to the nodes and starts servers there; resolves once
   * every reachable node has its servers. Starts listening (port 0) if the
   * scheduler is not a peer yet. With `location`, the nodes are those the
   * shared scheduler there (`denocos scheduler`) knows, besides `nodes`.
   */
  async schedule(options?: { location?: Location; timeout?: number }): Promise<void> {
    if (this.#bundle !== null) throw new Error("schedule: already scheduled");
    const s = this.#scheduler;
    if (!s.networked) await s.listen({ port: 0 });
    this.#bundle = await CodeBundle.create(this.#options.module);
    this.#watcher = s.spawn(async function computationWatcher(task: Task, comp: Computation) {
      task.setDaemon();
      for (;;) comp.#observe(await task.receive());
    }, this);
    s.peerStatus(this.#watcher);
    const peers: PeerInfo[] = [];
    const nodes = [...this.#options.nodes ?? []];
    if (options?.location !== undefined) {
      // A shared scheduler (`denocos scheduler`): it knows the nodes; the jobs go to them directly.
      const at = options.location;
      await s.peer({ hostname: at.hostname, port: at.port, timeout: options.timeout });
      const listed = await askScheduler(s, at, SCHEDULER_SERVICES.nodes, options);
      if (!Array.isArray(listed)) {
        throw new TypeError("schedule: the scheduler's answer is not a list");
      }
      for (const l of listed) {
        const loc = l as Location;
        if (typeof loc?.hostname !== "string" || !Number.isInteger(loc?.port)) continue;
        nodes.push({ hostname: loc.hostname, port: loc.port });
      }
    }
    for (const loc of nodes) {
      peers.push(
        await s.peer({ hostname: loc.hostname, port: loc.port, timeout: options?.timeout }),
      );
    }
    if (peers.length === 0) peers.push(...s.peers());
    await Promise.all(peers.map((p) => this.#initNode(p, options?.timeout)));
    if (this.#servers.size === 0) throw new Error("schedule: no compute node offered a server");
    const zombie = this.#options.zombiePeriod ?? 3000;
    this.#zombieTimer = setInterval(() => {
      const now = performance.now();
      for (const n of [...this.#nodes.values()]) {
        if (now - n.seen > zombie) {
          this.#abandon(n.peer);
          s.closePeer(n.peer.location).catch(() => {});
        }
      }
    }, Math.max(50, zombie / 4));
  }

  /** The nodes in use. */
  nodes(): Location[] {
    return [...this.#nodes.values()].map((n) => n.peer.location);
  }

  /** The servers in use: `{ id, node, busy, suspended }` (`suspended`: by {@linkcode Computation.suspend}). */
  servers(): { id: string; node: Location; busy: number; suspended: boolean }[] {
    return [...this.#servers.values()].map((s) => ({
      id: s.id,
      node: s.node.location,
      busy: s.busy,
      suspended: this.#suspended.has(s.id),
    }));
  }

  /**
   * Runs `job` (an export name of the module, or a self-contained function,
   * shipped by its source) with `args` on the least loaded server that is
   * not suspended, and resolves its `RemoteTask` (`finish()` it for the
   * result). Rejects when no server fits.
   */
  run(job: string | JobFunction, ...args: unknown[]): Promise<RemoteTask> {
    return this.#start(null, false, job, args);
  }

  /** Runs a job on a server of the node at `location` (or on the server with that id). */
  runAt(
    location: Location | string,
    job: string | JobFunction,
    ...args: unknown[]
  ): Promise<RemoteTask> {
    return this.#start(location, false, job, args);
  }

  /** Like `run`, for an I/O-bound job: it takes no CPU slot from CPU-bound jobs. */
  runAsync(job: string | JobFunction, ...args: unknown[]): Promise<RemoteTask> {
    return this.#start(null, true, job, args);
  }

  /**
   * Taps the status stream: `listener` is called with every message the
   * `status` task gets (`StatusMessage`, every job's `MonitorStatus`,
   * `NodeAvailability`), synchronously and before the status task gets it,
   * which still gets every message (pycos's `httpd` chains the status task
   * the same way). A listener added once the computation is under way first
   * hears the state so far, as the messages that made it: `NodeDiscovered`
   * and `NodeInitialized` for each node in use, `ServerInitialized` for each
   * server, `TaskStarted` for each running job (so a dashboard opened late
   * shows everything). A listener that throws is logged and kept. Returns a
   * function that removes the listener.
   *
   * @example
   * ```ts
   * import { Computation, StatusMessage } from "@denocos/denocos/compute";
   *
   * const comp = new Computation({ module: new URL("./job.ts", import.meta.url) });
   * const remove = comp.addStatusListener((m) => {
   *   if (m instanceof StatusMessage) console.log(m.type);
   * });
   * remove();
   * ```
   */
  addStatusListener(listener: (message: unknown) => void): () => void {
    if (typeof listener !== "function") throw new TypeError("addStatusListener: not a function");
    const replay: unknown[] = [];
    for (const n of this.#nodes.values()) {
      replay.push(
        new StatusMessage("NodeDiscovered", n.peer.location, { info: n.peer.name }),
        new StatusMessage("NodeInitialized", n.peer.location, { info: n.info }),
      );
    }
    for (const sv of this.#servers.values()) {
      replay.push(new StatusMessage("ServerInitialized", sv.node.location, { server: sv.index }));
    }
    for (const job of this.#jobs.values()) replay.push(taskStarted(job));
    for (const m of replay) tellListener(listener, m);
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Stops placing new jobs on a server (by id, `host:port/index`) or on every
   * server of a node (by its `Location` or `host:port`); running jobs go on.
   * Returns how many servers it suspended. `resume` undoes it.
   */
  suspend(target: Location | string): number {
    let n = 0;
    for (const s of this.#matching(target)) {
      if (!this.#suspended.has(s.id)) n++;
      this.#suspended.add(s.id);
    }
    return n;
  }

  /** Places jobs on suspended servers again; returns how many it resumed. */
  resume(target: Location | string): number {
    let n = 0;
    for (const s of this.#matching(target)) if (this.#suspended.delete(s.id)) n++;
    return n;
  }

  /** Picks a server and runs the job there; a failure to pick rejects, never throws. */
  #start(
    where: Location | string | null,
    isAsync: boolean,
    job: string | JobFunction,
    args: unknown[],
  ): Promise<RemoteTask> {
    let exportName: string;
    if (typeof job === "function") {
      // A self-contained function travels by its source, as AsyncThreadPool.run ships one.
      exportName = FN_JOB;
      args = [job.toString(), ...args];
    } else exportName = job;
    let server: ServerState;
    try {
      server = this.#pick(where, isAsync);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#runOn(server, exportName, args, 1, isAsync);
  }

  #matching(target: Location | string): ServerState[] {
    const servers = [...this.#servers.values()];
    if (typeof target === "string") {
      return servers.filter((s) =>
        s.id === target || `${s.node.location.hostname}:${s.node.location.port}` === target
      );
    }
    return servers.filter((s) =>
      s.node.location.hostname === target.hostname && s.node.location.port === target.port
    );
  }

  /** Closes the servers on every node; running jobs are terminated there. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(
      [...this.#nodes.values()].map(async (n) => {
        const svc = await Service.locate(NODE_SERVICES.close, {
          scheduler: this.#scheduler,
          location: n.peer.location,
        });
        await (await svc?.run(this.id))?.finish({ timeout: 10_000 });
        this.#status("NodeClosed", n.peer.location);
      }),
    );
    clearInterval(this.#zombieTimer);
    this.#watcher?.terminate();
    this.#nodes.clear();
    this.#servers.clear();
  }

  /** `await using comp = new Computation(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #pick(location: Location | string | null, isAsync = false): ServerState {
    if (this.#closed) throw new Error("the computation is closed");
    let candidates = [...this.#servers.values()];
    if (typeof location === "string") candidates = candidates.filter((s) => s.id === location);
    else if (location !== null) {
      candidates = candidates.filter((s) =>
        s.node.location.hostname === location.hostname && s.node.location.port === location.port
      );
    }
    candidates = candidates.filter((s) => !this.#suspended.has(s.id));
    if (candidates.length === 0) {
      throw new Error("no server available there (none, or all suspended)");
    }
    const loads: ServerLoad[] = candidates.map((s) => ({
      id: s.id,
      node: s.node.id,
      capacity: Number.MAX_SAFE_INTEGER, // servers queue their jobs: never refuse one
      busy: s.busy,
      cpuJobs: s.busy,
    }));
    const id = pickServer(loads, this.id, { async: isAsync });
    return this.#servers.get(id ?? candidates[0].id)!;
  }

  async #runOn(
    server: ServerState,
    exportName: string,
    args: unknown[],
    attempts: number,
    isAsync: boolean,
  ): Promise<RemoteTask> {
    if (typeof exportName !== "string" || exportName === "") {
      throw new TypeError("run: the job is an export name of the module, or a function");
    }
    const node = this.#nodes.get(server.node.id)!;
    server.busy++;
    let job: RemoteTask;
    try {
      job = await node.run.run(this.id, server.index, exportName, args) as RemoteTask;
    } catch (e) {
      server.busy--;
      throw e;
    }
    const record: JobRecord = { task: job, server, exportName, args, attempts, isAsync };
    this.#jobs.set(job.key, record);
    this.#watcher!.monitor(job as unknown as Task);
    this.#forward(taskStarted(record));
    return job;
  }

  #observe(m: unknown): void {
    if (m instanceof PeerStatus) {
      if (m.status === "offline" && this.#nodes.has(m.peer.id)) this.#abandon(m.peer);
      return;
    }
    if (m instanceof NodeAvailability) {
      for (const n of this.#nodes.values()) {
        const loc = n.peer.location;
        if (loc.hostname === m.node.hostname && loc.port === m.node.port) {
          n.seen = performance.now();
        }
      }
    }
    if (m instanceof MonitorStatus) {
      const key = (m.task as { key?: unknown }).key;
      const job = typeof key === "string" ? this.#jobs.get(key) : undefined;
      if (job !== undefined) {
        job.server.busy--;
        this.#jobs.delete(key as string);
      }
      if (m.type === "unreachable" && job !== undefined) {
        const server = job.server;
        this.#status("TaskAbandoned", server.node.location, { server: server.index, task: m.task });
        this.#abandon(server.node);
        this.#forward(m);
        this.#resubmit(job);
        return;
      }
    }
    this.#forward(m);
  }

  #resubmit(job: JobRecord): void {
    if (this.#closed || !this.#options.resubmit) return;
    if (job.attempts >= (this.#options.maxAttempts ?? 3) || this.#servers.size === 0) return;
    let server: ServerState;
    try {
      server = this.#pick(null, job.isAsync);
    } catch {
      return;
    }
    this.#runOn(server, job.exportName, job.args, job.attempts + 1, job.isAsync).catch((e) =>
      logger.warn("resubmitting {name} failed: {error}", { name: job.exportName, error: e })
    );
  }

  #abandon(peer: PeerInfo): void {
    if (!this.#nodes.delete(peer.id)) return;
    for (const [id, s] of this.#servers) {
      if (s.node.id !== peer.id) continue;
      this.#servers.delete(id);
      this.#status("ServerAbandoned", peer.location, { server: s.index });
    }
    this.#status("NodeAbandoned", peer.location);
  }

  async #initNode(peer: PeerInfo, timeout: number | undefined): Promise<void> {
    const s = this.#scheduler;
    const call = async (name: string, ...args: unknown[]): Promise<unknown> => {
      const svc = await Service.locate(name, { scheduler: s, location: peer.location, timeout });
      if (svc === undefined) throw new Error(`${peer.name} is not a compute node`);
      return await (await svc.run(...args)).finish({ timeout: timeout ?? 30_000 });
    };
    const run = await Service.locate(NODE_SERVICES.run, {
      scheduler: s,
      location: peer.location,
      timeout,
    });
    if (run === undefined) return; // a peer, but not a node
    this.#status("NodeDiscovered", peer.location, { info: peer.name });
    const info = await call(NODE_SERVICES.info) as NodeInfo;
    const bundle = this.#bundle!;
    const missing = await call(NODE_SERVICES.prepare, this.id, bundle.manifest) as string[];
    for (const sha of missing) await call(NODE_SERVICES.put, sha, await bundle.readSha(sha));
    this.#nodes.set(peer.id, { peer, run, info, seen: performance.now() });
    this.#status("NodeInitialized", peer.location, { info });
    const ids = await call(NODE_SERVICES.open, this.id, {
      manifest: bundle.manifest,
      permissions: this.#options.permissions ?? "none",
      serverSetup: this.#options.serverSetup,
      nodeSetup: this.#options.nodeSetup,
      setupArgs: this.#options.setupArgs,
      pulseInterval: this.#options.pulseInterval ?? 1000,
    }, this.#watcher) as string[];
    for (const index of ids) {
      const id = `${peer.location.hostname}:${peer.location.port}/${index}`;
      this.#servers.set(id, { id, index, node: peer, busy: 0 });
      this.#status("ServerInitialized", peer.location, { server: index });
    }
    this.#forward(info.availability);
  }

  #status(
    type: StatusType,
    node: Location,
    extra?: { server?: string; task?: unknown; info?: unknown },
  ): void {
    this.#forward(new StatusMessage(type, node, extra));
  }

  #forward(m: unknown): void {
    for (let i = 0; i < this.#listeners.length; i++) tellListener(this.#listeners[i], m);
    const status = this.#options.status;
    if (status === undefined) return;
    try {
      status.send(m);
    } catch (e) {
      logger.warn("status message dropped: {error}", { error: e });
    }
  }
}

/** The `TaskStarted` message of a job. */
function taskStarted(job: JobRecord): StatusMessage {
  return new StatusMessage("TaskStarted", job.server.node.location, {
    server: job.server.index,
    task: job.task,
    info: {
      name: job.exportName === FN_JOB ? "function" : job.exportName,
      args: job.exportName === FN_JOB ? job.args.slice(1) : job.args,
      attempt: job.attempts,
    },
  });
}
