/**
 * `ComputeNode`: what `denocos node` runs on each machine. A networked
 * scheduler (a peer) that offers servers to computations: it receives a
 * computation's code (content-addressed, cached, never sent twice), starts
 * one sandboxed server process per CPU for it, and runs its jobs there.
 *
 * A job is addressable as a `RemoteTask` whose location is the node: the
 * node runs a small relay task per job, and that relay is what peers see.
 * Messages to it go on to the job in its Worker; what the job sends to the
 * references it was given comes back through the node; its end (return
 * value, error, termination) is the relay's end, so `finish`, `monitor` and
 * `terminate` work as for any task. Job code never sees the node's channel
 * to its server.
 *
 * Peers use it through services named `denocos.compute.*`, which the
 * `Computation` class calls; nothing else needs to know them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Location, Task } from "../core/_internal.ts";
import { RemoteTask } from "../net/remote_task.ts";
import { Scheduler } from "../net/scheduler.ts";
import type { PeerListenOptions } from "../net/scheduler.ts";
import { AvailabilitySampler } from "./_availability.ts";
import { CodeCache } from "./_code_cache.ts";
import { validateManifest } from "./_bundle_manifest.ts";
import type { PermissionSet } from "./_permissions.ts";
import { ServerProcess } from "./_server_process.ts";
import { type NodeAvailability, StatusMessage } from "./status_message.ts";
import "./_wire.ts";

const logger = getLogger(["denocos", "compute", "node"]);

/** The services a node offers, by the name `Computation` calls. */
export const NODE_SERVICES = {
  info: "denocos.compute.info",
  prepare: "denocos.compute.prepare",
  put: "denocos.compute.put",
  open: "denocos.compute.open",
  run: "denocos.compute.run",
  close: "denocos.compute.close",
} as const;

/**
 * Options for `ComputeNode.start`.
 *
 * @example
 * ```ts
 * import type { ComputeNodeOptions } from "@denocos/denocos/compute";
 *
 * const options: ComputeNodeOptions = { port: 0, cpus: 2, secret: "s3cret", allow: { read: ["/data"] } };
 * console.log(options.cpus);
 * ```
 */
export interface ComputeNodeOptions extends PeerListenOptions {
  /** Servers to offer (default: one per CPU, `navigator.hardwareConcurrency`). */
  cpus?: number;
  /** What the operator allows jobs (intersected with what a computation declares; default none). */
  allow?: PermissionSet;
  /** Heap cap of each server process, in MiB (default 512). */
  serverMemory?: number;
  /** Where shipped code is cached (default: a new temporary folder). */
  cacheDir?: string;
  /** Peers (schedulers, clients) to connect to at start. */
  peers?: Location[];
  /**
   * Called when a computation's servers are closed here, with its id and
   * why: `"closed"` (its client closed it), `"client gone"` (its client's
   * status watcher ended or its peer was lost: a client killed mid-run
   * leaves nothing running), `"no server"`, `"nodeSetup failed"` or
   * `"node closing"`. For logs
   * and metrics; an exception it throws is logged.
   */
  onComputationClosed?: (id: string, reason: string) => void;
}

/** What a node answers to `info`. */
export interface NodeInfo {
  /** The node's name. */
  name: string;
  /** How many servers it offers. */
  cpus: number;
  /** Its availability now. */
  availability: NodeAvailability;
  /** Server processes running now, over every computation. */
  servers: number;
  /** Computations hosted now. */
  computations: number;
  /** Jobs running now. */
  jobsRunning: number;
  /** Jobs ended since the node started (returned, failed or terminated). */
  jobsDone: number;
}

/** One computation's servers and jobs on this node. */
interface Hosted {
  id: string;
  dir: string;
  servers: (ServerProcess | null)[];
  closing: boolean;
  pulse: ReturnType<typeof setInterval> | undefined;
  /** Watches the client's status watcher: its end closes the computation here. */
  guard?: Task;
}

const ID = /^[\w.:-]{1,128}$/;

/**
 * A compute node: a peer offering sandboxed servers to computations.
 *
 * @example
 * ```ts ignore
 * import { ComputeNode } from "@denocos/denocos/compute";
 *
 * const node = await ComputeNode.start({ hostname: "127.0.0.1", port: 9706, cpus: 2, secret: "s3cret" });
 * console.log(`node ${node.name} listening on ${node.location.hostname}:${node.location.port}`);
 * await node.close();
 * ```
 */
export class ComputeNode implements AsyncDisposable {
  /** The node's scheduler (the peer). */
  readonly scheduler: Scheduler;
  /** Where it listens. */
  readonly location: Location;
  /** Its name. */
  readonly name: string;
  /** How many servers it offers to each computation. */
  readonly cpus: number;
  readonly #options: ComputeNodeOptions;
  readonly #cache: CodeCache;
  readonly #sampler = new AvailabilitySampler();
  readonly #hosted = new Map<string, Hosted>();
  readonly #jobs = new Map<number, Task>();
  #nextJob = 1;
  #jobsDone = 0;
  #closed = false;

  private constructor(
    scheduler: Scheduler,
    location: Location,
    cache: CodeCache,
    options: ComputeNodeOptions,
  ) {
    this.scheduler = scheduler;
    this.location = location;
    this.#cache = cache;
    this.#options = options;
    this.name = options.name ?? `${location.hostname}:${location.port}`;
    this.cpus = options.cpus ?? navigator.hardwareConcurrency;
  }

  /** Starts a node: listens, registers its services, connects to `peers`. */
  static async start(options: ComputeNodeOptions = {}): Promise<ComputeNode> {
    const cpus = options.cpus ?? navigator.hardwareConcurrency;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 1024) {
      throw new RangeError(`ComputeNode: 'cpus' must be an integer 1..1024, got ${cpus}`);
    }
    const cacheDir = options.cacheDir ?? await Deno.makeTempDir({ prefix: "denocos-node-" });
    const cache = await CodeCache.open(cacheDir);
    const scheduler = new Scheduler();
    // A job's failure is reported to whoever ran it; the node only logs it.
    scheduler.onUncaughtError = (error, task) =>
      logger.debug("job {name} failed: {error}", { name: task.name, error });
    const location = await scheduler.listen(options);
    const node = new ComputeNode(scheduler, location, cache, { ...options, cpus, cacheDir });
    node.#register();
    for (const peer of options.peers ?? []) {
      await scheduler.peer({ hostname: peer.hostname, port: peer.port }).catch((e) =>
        logger.warn("peer {peer} unreachable: {error}", {
          peer: `${peer.hostname}:${peer.port}`,
          error: e,
        })
      );
    }
    return node;
  }

  /** Computations hosted now. */
  get computations(): number {
    return this.#hosted.size;
  }

  /** Jobs running now. */
  get jobs(): number {
    return this.#jobs.size;
  }

  /** Jobs ended since the node started. */
  get jobsDone(): number {
    return this.#jobsDone;
  }

  /**
   * Stops: running jobs are terminated (their watchers hear it), every server
   * is closed and the links are closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#jobs.values()) job.terminate();
    await Promise.allSettled([...this.#jobs.values()].map((j) => j.finish()));
    await Promise.allSettled(
      [...this.#hosted.values()].map((h) => this.#closeHosted(h, "node closing")),
    );
    await this.scheduler.finish();
  }

  /** `await using node = await ComputeNode.start()` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #register(): void {
    const s = this.scheduler;
    s.registerService(NODE_SERVICES.info, () => this.#info());
    s.registerService(
      NODE_SERVICES.prepare,
      (_t: Task, comp: unknown, manifest: unknown) => this.#prepare(comp, manifest),
    );
    s.registerService(
      NODE_SERVICES.put,
      (_t: Task, sha: unknown, bytes: unknown) => this.#put(sha, bytes),
    );
    s.registerService(
      NODE_SERVICES.open,
      (_t: Task, comp: unknown, spec: unknown, watcher: unknown) =>
        this.#open(comp, spec, watcher as { send(m: unknown): boolean } | undefined),
    );
    s.registerService(
      NODE_SERVICES.run,
      (t: Task, comp: unknown, server: unknown, exportName: unknown, args: unknown) =>
        this.#run(t, comp, server, exportName, args),
    );
    s.registerService(NODE_SERVICES.close, async (_t: Task, comp: unknown) => {
      const h = this.#hosted.get(String(comp));
      if (h !== undefined) await this.#closeHosted(h);
      return h !== undefined;
    });
  }

  #info(): NodeInfo {
    let servers = 0;
    for (const h of this.#hosted.values()) for (const s of h.servers) if (s !== null) servers++;
    return {
      name: this.name,
      cpus: this.cpus,
      availability: this.#sampler.sample(this.location),
      servers,
      computations: this.#hosted.size,
      jobsRunning: this.#jobs.size,
      jobsDone: this.#jobsDone,
    };
  }

  async #prepare(comp: unknown, manifest: unknown): Promise<string[]> {
    this.#checkOpen(comp);
    validateManifest(manifest);
    return await this.#cache.missing(manifest);
  }

  async #put(sha: unknown, bytes: unknown): Promise<boolean> {
    if (typeof sha !== "string" || !(bytes instanceof Uint8Array)) {
      throw new TypeError("put: expected a SHA-256 and the file's bytes");
    }
    await this.#cache.put(sha, bytes as Uint8Array<ArrayBuffer>);
    return true;
  }

  async #open(
    comp: unknown,
    spec: unknown,
    watcher: { send(m: unknown): boolean } | undefined,
  ): Promise<string[]> {
    const id = this.#checkOpen(comp);
    if (this.#hosted.has(id)) throw new Error(`computation '${id}' is open already`);
    if (watcher !== undefined && !(watcher instanceof RemoteTask)) {
      throw new TypeError("open: the watcher must be a task reference");
    }
    const { manifest, permissions, serverSetup, nodeSetup, pulseInterval, ...rest } = openSpec(
      spec,
    );
    let setupArgs = rest.setupArgs;
    const dir = await Deno.makeTempDir({ dir: this.#options.cacheDir, prefix: `comp-` });
    const code = await this.#cache.materialize(manifest, `${dir}/code`);
    const hosted: Hosted = { id, dir, servers: [], closing: false, pulse: undefined };
    this.#hosted.set(id, hosted);
    if (nodeSetup !== undefined) {
      // Once per node, in a sandbox of its own: its result goes to every server.
      let value: unknown;
      try {
        const once = await ServerProcess.start({
          codeDir: code.dir,
          entry: code.entry,
          permissions,
          allowed: this.#options.allow,
          memoryMB: this.#options.serverMemory,
          protect: [this.#cache.dir],
        });
        try {
          value = await once.run(0, nodeSetup, setupArgs ?? []);
        } finally {
          await once.close();
        }
      } catch (e) {
        await this.#closeHosted(hosted, "nodeSetup failed");
        throw e;
      }
      setupArgs = [value, ...(serverSetup === undefined ? [] : setupArgs ?? [])];
    }
    const started = await Promise.allSettled(
      Array.from({ length: this.cpus }, (_, i) =>
        ServerProcess.start({
          codeDir: code.dir,
          entry: code.entry,
          permissions,
          allowed: this.#options.allow,
          memoryMB: this.#options.serverMemory,
          protect: [this.#cache.dir], // no job may be granted write access to the cache
          serverSetup,
          setupArgs,
          onJobMessage: (target, message) => {
            try {
              (target as { send(m: unknown): boolean }).send(message);
            } catch (e) {
              logger.warn("a job's message could not be sent: {error}", { error: e });
            }
          },
          jobRef: (jobId) => this.#jobs.get(jobId) ?? null,
          onExit: (exit) => {
            hosted.servers[i] = null;
            if (hosted.closing || this.#closed) return;
            logger.warn("server {i} of {comp} exited: {reason}", {
              i,
              comp: id,
              reason: exit.reason,
            });
            watcher?.send(
              new StatusMessage("ServerClosed", this.location, {
                server: String(i),
                info: exit.reason,
              }),
            );
          },
        })),
    );
    hosted.servers = started.map((r) => r.status === "fulfilled" ? r.value : null);
    const failed = started.find((r) => r.status === "rejected") as
      | PromiseRejectedResult
      | undefined;
    if (hosted.servers.every((s) => s === null)) {
      await this.#closeHosted(hosted, "no server");
      throw failed?.reason ?? new Error("no server started");
    }
    if (watcher !== undefined) {
      // Availability pulses: the client sees the node alive and how busy it is.
      hosted.pulse = setInterval(() => {
        if (!watcher.send(this.#sampler.sample(this.location))) clearInterval(hosted.pulse);
      }, pulseInterval);
      this.#guard(hosted, watcher as RemoteTask);
    }
    return hosted.servers.flatMap((s, i) => s === null ? [] : [String(i)]);
  }

  async #run(
    task: Task,
    comp: unknown,
    serverId: unknown,
    exportName: unknown,
    args: unknown,
  ): Promise<unknown> {
    const hosted = this.#hosted.get(String(comp));
    const server = hosted?.servers[Number(serverId)];
    if (hosted === undefined || hosted.closing) throw new Error(`no computation '${comp}' here`);
    if (server === undefined || server === null) {
      throw new Error(`no server ${serverId} for '${comp}'`);
    }
    if (typeof exportName !== "string" || !Array.isArray(args)) {
      throw new TypeError("run: expected an export name and an argument array");
    }
    task.name = exportName === "\0fn" ? "function" : exportName;
    const jobId = this.#nextJob++;
    this.#jobs.set(jobId, task);
    const result = server.run(jobId, exportName, args);
    let over = false;
    const ended = result.then(() => over = true, () => over = true);
    try {
      // Relay: what peers send the job's task goes on to the job.
      for (;;) {
        const next = await Promise.race([ended.then(() => END), task.receive()]);
        if (next === END) return await result;
        server.send(jobId, next);
      }
    } finally {
      this.#jobs.delete(jobId);
      this.#jobsDone++;
      if (!over) server.terminate(jobId);
    }
  }

  #checkOpen(comp: unknown): string {
    if (this.#closed) throw new Error("the node is closing");
    if (typeof comp !== "string" || !ID.test(comp)) throw new TypeError("bad computation id");
    return comp;
  }

  /**
   * Closes `h` once its client is gone: its status watcher ended (finished,
   * failed, terminated) or its peer was declared lost ("unreachable"). A
   * client killed with SIGKILL would otherwise leave its server processes
   * running here until the node stops.
   */
  #guard(h: Hosted, watcher: RemoteTask): void {
    // The closing happens in the guard itself: a `finish()` awaited from
    // here would belong to the service task that runs `open`, which ends.
    const close = (reason: string) => this.#closeHosted(h, reason);
    h.guard = this.scheduler.spawn(async function clientWatch(t: Task) {
      t.setDaemon();
      let status: unknown;
      try {
        t.monitor(watcher as unknown as Task);
        status = await t.receive();
      } catch (e) {
        if (!h.closing) {
          logger.warn("computation {id}: cannot watch its client: {error}", { id: h.id, error: e });
        }
        return;
      }
      if (h.closing) return;
      h.guard = undefined; // closing must not terminate the task doing it
      logger.info("computation {id}: its client is gone ({status})", {
        id: h.id,
        status: (status as { type?: string })?.type,
      });
      await close("client gone");
    });
    h.guard.name = `guard ${h.id}`;
  }

  async #closeHosted(h: Hosted, reason = "closed"): Promise<void> {
    if (h.closing) return;
    h.closing = true;
    clearInterval(h.pulse);
    h.guard?.terminate();
    await Promise.allSettled(h.servers.map((s) => s?.close()));
    this.#hosted.delete(h.id);
    await Deno.remove(h.dir, { recursive: true }).catch(() => {});
    try {
      this.#options.onComputationClosed?.(h.id, reason);
    } catch (e) {
      logger.warn("onComputationClosed failed: {error}", { error: e });
    }
  }
}

const END = Symbol("end");

function openSpec(spec: unknown): {
  manifest: unknown;
  permissions: PermissionSet | "none";
  serverSetup?: string;
  nodeSetup?: string;
  setupArgs?: unknown[];
  pulseInterval: number;
} {
  if (typeof spec !== "object" || spec === null) throw new TypeError("open: bad specification");
  const o = spec as Record<string, unknown>;
  validateManifest(o.manifest);
  const permissions = o.permissions === undefined || o.permissions === "none"
    ? "none"
    : o.permissions as PermissionSet;
  if (o.serverSetup !== undefined && typeof o.serverSetup !== "string") {
    throw new TypeError("open: 'serverSetup' must be an export name");
  }
  if (o.nodeSetup !== undefined && typeof o.nodeSetup !== "string") {
    throw new TypeError("open: 'nodeSetup' must be an export name");
  }
  if (o.setupArgs !== undefined && !Array.isArray(o.setupArgs)) {
    throw new TypeError("open: 'setupArgs' must be an array");
  }
  const pulseInterval = o.pulseInterval ?? 1000;
  if (typeof pulseInterval !== "number" || !(pulseInterval >= 50) || pulseInterval > 3_600_000) {
    throw new RangeError("open: 'pulseInterval' must be 50 ms to an hour");
  }
  return {
    pulseInterval,
    manifest: o.manifest,
    permissions,
    serverSetup: o.serverSetup as string | undefined,
    nodeSetup: o.nodeSetup as string | undefined,
    setupArgs: o.setupArgs as unknown[] | undefined,
  };
}
