/**
 * `ClusterModel`: what a dashboard knows about a cluster, built from the
 * messages a computation's status task receives (`StatusMessage`, every
 * job's `MonitorStatus`, `NodeAvailability` pulses). Pure: no I/O, no timer;
 * the clock is a parameter so that tests pin every time.
 *
 * Memory is bounded whatever the cluster does: at most `maxNodes` nodes
 * (closed ones are forgotten first), `maxRunning` running jobs listed (more
 * are counted, not listed), the last `maxDone` finished jobs, `history`
 * pulses per node, and every job's arguments and result kept only as a
 * short text preview (`preview`), never as the values themselves.
 *
 * A dashboard sends the whole `snapshot()` once to a new viewer, then the
 * `takeChanges()` batches: only what changed since the last batch.
 *
 * @module
 */
import { MonitorStatus } from "../core/monitor_status.ts";
import { NodeAvailability, StatusMessage } from "../compute/status_message.ts";

/**
 * A node's status as the dashboard shows it.
 *
 * @example
 * ```ts
 * import type { NodeStatus } from "@denocos/denocos/monitor";
 *
 * const s: NodeStatus = "initialized";
 * console.log(s);
 * ```
 */
export type NodeStatus = "discovered" | "initialized" | "closed" | "abandoned";

/**
 * How a job is doing: `"running"`, or how it ended (`MonitorStatus` types,
 * and `"abandoned"` when its node was).
 *
 * @example
 * ```ts
 * import type { JobOutcome } from "@denocos/denocos/monitor";
 *
 * const o: JobOutcome = "terminated";
 * console.log(o);
 * ```
 */
export type JobOutcome =
  | "running"
  | "finished"
  | "failed"
  | "terminated"
  | "unreachable"
  | "abandoned";

/**
 * One availability pulse, as kept for a node's sparkline.
 *
 * @example
 * ```ts
 * import type { Pulse } from "@denocos/denocos/monitor";
 *
 * const p: Pulse = { time: Date.now(), cpu: 0.5, memoryFraction: 0.7, load: 1 };
 * console.log(p.cpu);
 * ```
 */
export interface Pulse {
  /** When it arrived (ms since the epoch). */
  time: number;
  /** Fraction of CPU in use (0–1), or `null`. */
  cpu: number | null;
  /** Available over total memory (0–1), or `null`. */
  memoryFraction: number | null;
  /** 1-minute load average, or `null`. */
  load: number | null;
}

/**
 * One server of a node.
 *
 * @example
 * ```ts
 * import type { ServerView } from "@denocos/denocos/monitor";
 *
 * const s: ServerView = { id: "1", status: "initialized", suspended: false, running: 0, done: 3 };
 * console.log(s.id);
 * ```
 */
export interface ServerView {
  /** The server's id on its node. */
  id: string;
  /** `"initialized"` (ready), `"closed"` or `"abandoned"`. */
  status: "initialized" | "closed" | "abandoned";
  /**
   * Whether it takes no new job: suspended through the dashboard at once, or
   * on the computation directly from the next pulse (the status stream does
   * not say; the dashboard reads the computation's `servers()`).
   */
  suspended: boolean;
  /** Jobs running on it. */
  running: number;
  /** Jobs that ended on it. */
  done: number;
}

/**
 * One node as the dashboard shows it.
 *
 * @example
 * ```ts
 * import { ClusterModel, type NodeView } from "@denocos/denocos/monitor";
 *
 * const nodes: NodeView[] = new ClusterModel().snapshot().nodes;
 * console.log(nodes.length); // 0
 * ```
 */
export interface NodeView {
  /** `hostname:port`, the node's key. */
  id: string;
  /** Where the node listens. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Its name (as it announced it), or its id. */
  name: string;
  /** What the computation last heard of it. */
  status: NodeStatus;
  /** Fraction of CPU in use at the last pulse (0–1), or `null`. */
  cpu: number | null;
  /** Available memory in bytes at the last pulse, or `null`. */
  memory: number | null;
  /** Available over total memory at the last pulse, or `null`. */
  memoryFraction: number | null;
  /** 1-minute load average at the last pulse, or `null`. */
  load: number | null;
  /** The last pulses, oldest first (at most `history` of them). */
  history: Pulse[];
  /** Its servers. */
  servers: ServerView[];
  /** How many of its servers are suspended (`ServerView.suspended`). */
  suspended: number;
  /** Jobs running on it. */
  running: number;
  /** Jobs that ended on it. */
  done: number;
  /** When it last changed (ms since the epoch). */
  updated: number;
}

/**
 * One job as the dashboard shows it.
 *
 * @example
 * ```ts
 * import { ClusterModel, type JobView } from "@denocos/denocos/monitor";
 *
 * const running: JobView[] = new ClusterModel().snapshot().running;
 * console.log(running.length); // 0
 * ```
 */
export interface JobView {
  /**
   * The job's identity in the cluster, `host:port/incarnation/id` (its
   * node's address, that node's incarnation and its task id there): what
   * `terminate` takes. `id` alone is only unique on one node.
   */
  key: string;
  /** The job's task id on its node (two nodes can both have a job 7). */
  id: number;
  /** The export it runs. */
  name: string;
  /** Its arguments, as a short preview. */
  args: string;
  /** Its node's id (`hostname:port`). */
  node: string;
  /** Its server's id on the node. */
  server: string;
  /** Which attempt this is (1 unless resubmitted). */
  attempt: number;
  /** When it started (ms since the epoch). */
  started: number;
  /** When it ended, or `null` while running. */
  ended: number | null;
  /** `ended - started`, or `null` while running. */
  duration: number | null;
  /** `"running"` or how it ended. */
  outcome: JobOutcome;
  /** A preview of its result or error, once ended. */
  result: string | null;
}

/**
 * Counts since the model was made.
 *
 * @example
 * ```ts
 * import { ClusterModel } from "@denocos/denocos/monitor";
 *
 * console.log(new ClusterModel().snapshot().totals.started); // 0
 * ```
 */
export interface Totals {
  /** Jobs started. */
  started: number;
  /** Jobs running now (including any not listed, past `maxRunning`). */
  running: number;
  /** Jobs that ended, by outcome. */
  finished: number;
  /** Jobs that threw. */
  failed: number;
  /** Jobs terminated. */
  terminated: number;
  /** Jobs whose node was lost (`"unreachable"` or `"abandoned"`). */
  lost: number;
  /** Status messages the model has taken in. */
  messages: number;
  /** Messages it could not use (unknown shape, unknown job). */
  ignored: number;
}

/**
 * The whole picture, sent to a new viewer.
 *
 * @example
 * ```ts
 * import { ClusterModel, type Snapshot } from "@denocos/denocos/monitor";
 *
 * const s: Snapshot = new ClusterModel().snapshot();
 * console.log(s.seq, s.nodes.length, s.running.length, s.done.length); // 0 0 0 0
 * ```
 */
export interface Snapshot {
  /** The change batch this snapshot includes (0 before any). */
  seq: number;
  /** When it was taken (ms since the epoch). */
  time: number;
  /** The nodes, in the order they were first heard of. */
  nodes: NodeView[];
  /** Jobs running, oldest first. */
  running: JobView[];
  /** Jobs that ended, oldest first (the last `maxDone`). */
  done: JobView[];
  /** The counts. */
  totals: Totals;
  /** How many pulses a node's `history` keeps. */
  historyLength: number;
  /** Whether nodes and servers can be suspended and resumed (`ClusterModelOptions.suspendable`). */
  suspendable: boolean;
}

/**
 * What changed since the previous batch: nodes and jobs in full as they
 * are now (except a node's `history`, which holds only the pulses since the
 * previous batch: a viewer appends them and keeps the last
 * `Snapshot.historyLength`), the keys of jobs forgotten (pushed out of the
 * done list), and the counts. A viewer applies batches in `seq` order on top
 * of a snapshot.
 *
 * @example
 * ```ts
 * import { ClusterModel } from "@denocos/denocos/monitor";
 *
 * const model = new ClusterModel();
 * console.log(model.takeChanges()); // null: nothing changed
 * ```
 */
export interface ChangeBatch {
  /** 1 for the first batch, then +1. */
  seq: number;
  /** When it was taken (ms since the epoch). */
  time: number;
  /** Nodes that changed. */
  nodes: NodeView[];
  /** Jobs that started or ended. */
  jobs: JobView[];
  /** Keys of jobs no longer kept. */
  removed: string[];
  /** The counts. */
  totals: Totals;
}

/**
 * Options for `new ClusterModel`.
 *
 * @example
 * ```ts
 * import { ClusterModel, type ClusterModelOptions } from "@denocos/denocos/monitor";
 *
 * const options: ClusterModelOptions = { maxDone: 100, history: 30 };
 * console.log(new ClusterModel(options).snapshot().done.length); // 0
 * ```
 */
export interface ClusterModelOptions {
  /** Finished jobs kept (the most recent ones; default 500). */
  maxDone?: number;
  /** Running jobs listed; more are counted only (default 10,000). */
  maxRunning?: number;
  /** Nodes kept; closed and abandoned ones are forgotten first (default 1,024). */
  maxNodes?: number;
  /** Pulses kept per node for its sparkline (default 60). */
  history?: number;
  /** Longest preview of a job's arguments or result, in characters (default 160). */
  previewLength?: number;
  /** Whether the viewer may suspend and resume servers (what `Snapshot.suspendable` says; default `false`). */
  suspendable?: boolean;
}

/** A job the model keeps, with the task reference that `terminate` uses. */
interface JobEntry {
  view: JobView;
  task: unknown;
}

interface NodeEntry {
  view: NodeView;
  servers: Map<string, ServerView>;
  /** Pulses since the last batch (what the next batch's `history` carries). */
  fresh: number;
}

/**
 * Builds a short, bounded text preview of `value` (a job's arguments or
 * result) without ever walking or copying more than it shows: strings are
 * cut, arrays and objects list their first items, nesting stops at depth 3,
 * binary data shows its length. At most `max` characters (default 160),
 * ending in `…` when cut.
 *
 * @example
 * ```ts
 * import { preview } from "@denocos/denocos/monitor";
 *
 * console.log(preview([1, "two", { three: 3 }])); // [1, "two", {three: 3}]
 * console.log(preview("x".repeat(1000), 10)); // "xxxxxxxx…
 * ```
 */
export function preview(value: unknown, max = 160): string {
  const out = { text: "", max };
  write(out, value, 0);
  return out.text.length > max ? out.text.slice(0, max - 1) + "…" : out.text;
}

function write(out: { text: string; max: number }, value: unknown, depth: number): void {
  if (out.text.length > out.max) return;
  switch (typeof value) {
    case "string":
      out.text += JSON.stringify(value.length > out.max ? value.slice(0, out.max) : value);
      return;
    case "number":
    case "boolean":
    case "undefined":
      out.text += String(value);
      return;
    case "bigint":
      out.text += `${value}n`;
      return;
    case "symbol":
      out.text += value.toString();
      return;
    case "function":
      out.text += `[function ${(value as { name?: string }).name || "anonymous"}]`;
      return;
  }
  if (value === null) {
    out.text += "null";
    return;
  }
  if (value instanceof Error) {
    out.text += `${value.name}: ${String(value.message).slice(0, out.max)}`;
    return;
  }
  if (ArrayBuffer.isView(value)) {
    out.text += `${value.constructor.name}(${value.byteLength} bytes)`;
    return;
  }
  if (value instanceof ArrayBuffer) {
    out.text += `ArrayBuffer(${value.byteLength} bytes)`;
    return;
  }
  if (value instanceof Date) {
    out.text += Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
    return;
  }
  const task = value as { key?: unknown; name?: unknown };
  if (typeof task.key === "string" && typeof task.name === "string" && "location" in task) {
    out.text += `task ${task.name}`;
    return;
  }
  if (depth >= 3) {
    out.text += Array.isArray(value) ? "[…]" : "{…}";
    return;
  }
  if (Array.isArray(value)) {
    out.text += "[";
    for (let i = 0; i < value.length; i++) {
      if (out.text.length > out.max) return;
      if (i > 0) out.text += ", ";
      write(out, value[i], depth + 1);
    }
    out.text += "]";
    return;
  }
  if (value instanceof Map || value instanceof Set) {
    out.text += `${value.constructor.name}(${value.size})`;
    return;
  }
  out.text += "{";
  let first = true;
  for (const k in value as Record<string, unknown>) {
    if (out.text.length > out.max) return;
    if (!first) out.text += ", ";
    first = false;
    out.text += /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k.slice(0, out.max));
    out.text += ": ";
    let v: unknown;
    try {
      v = (value as Record<string, unknown>)[k];
    } catch {
      v = "[getter threw]";
    }
    write(out, v, depth + 1);
  }
  out.text += "}";
}

function numberOr(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new RangeError(`ClusterModel: '${name}' must be a non-negative integer, got ${v}`);
  }
  return v;
}

/**
 * The dashboard's model of a cluster: `apply` each status message, read a
 * `snapshot`, take the `takeChanges` batches.
 *
 * @example
 * ```ts
 * import { ClusterModel } from "@denocos/denocos/monitor";
 * import { NodeAvailability, StatusMessage } from "@denocos/denocos/compute";
 *
 * const node = { hostname: "127.0.0.1", port: 9706 };
 * const model = new ClusterModel();
 * model.apply(new StatusMessage("NodeInitialized", node, { info: { name: "n1", cpus: 2 } }));
 * model.apply(new StatusMessage("ServerInitialized", node, { server: "1" }));
 * model.apply(new NodeAvailability(node, { cpu: 0.25, load: 0.5 }));
 * const [n] = model.snapshot().nodes;
 * console.log(n.name, n.status, n.cpu, n.servers.length); // n1 initialized 0.25 1
 * console.log(model.takeChanges()?.nodes.length); // 1
 * ```
 */
export class ClusterModel {
  readonly #maxDone: number;
  readonly #maxRunning: number;
  readonly #maxNodes: number;
  readonly #history: number;
  readonly #previewLength: number;
  readonly #suspendable: boolean;
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #running = new Map<string, JobEntry>();
  /** Insertion order is end order: the first is the oldest, forgotten first. */
  readonly #done = new Map<string, JobEntry>();
  readonly #dirtyNodes = new Set<string>();
  readonly #dirtyJobs = new Set<string>();
  /** Jobs first seen since the last batch: forgetting one of them needs no `removed` entry. */
  readonly #newJobs = new Set<string>();
  readonly #removed = new Set<string>();
  readonly #totals: Totals = {
    started: 0,
    running: 0,
    finished: 0,
    failed: 0,
    terminated: 0,
    lost: 0,
    messages: 0,
    ignored: 0,
  };
  /** Running jobs past `maxRunning`, counted but not listed. */
  readonly #unlisted = new Set<string>();
  #seq = 0;

  /**
   * Creates an empty model.
   *
   * @param options the bounds
   */
  constructor(options: ClusterModelOptions = {}) {
    this.#maxDone = numberOr(options.maxDone, 500, "maxDone");
    this.#maxRunning = numberOr(options.maxRunning, 10_000, "maxRunning");
    this.#maxNodes = numberOr(options.maxNodes, 1024, "maxNodes");
    this.#history = numberOr(options.history, 60, "history");
    this.#previewLength = Math.max(8, numberOr(options.previewLength, 160, "previewLength"));
    this.#suspendable = options.suspendable === true;
  }

  /** Whether anything changed since the last `takeChanges`. */
  get dirty(): boolean {
    return this.#dirtyNodes.size > 0 || this.#dirtyJobs.size > 0 || this.#removed.size > 0;
  }

  /**
   * Takes in one message of the status stream; returns whether it changed
   * anything. Anything that is not a `StatusMessage`, `MonitorStatus` or
   * `NodeAvailability` (or is one about a job it never heard of) is counted
   * in `totals.ignored` and otherwise ignored: it never throws.
   *
   * @param message a status message
   * @param now the time it arrived (ms since the epoch, default `Date.now()`)
   */
  apply(message: unknown, now: number = Date.now()): boolean {
    this.#totals.messages++;
    let changed = false;
    if (message instanceof NodeAvailability) changed = this.#pulse(message, now);
    else if (message instanceof StatusMessage) changed = this.#status(message, now);
    else if (message instanceof MonitorStatus) {
      const key = jobKey(message.task);
      changed = key !== null && this.#end(key, message.type, message.value, now);
    }
    if (!changed) this.#totals.ignored++;
    return changed;
  }

  /**
   * The task reference of a running job (what `terminate` is called on), or
   * `undefined` if no job with that key is running.
   *
   * @param key a job's key
   */
  task(key: string): unknown {
    return this.#running.get(key)?.task;
  }

  /** Whether the model knows a job with that key (running or done). */
  hasJob(key: string): boolean {
    return this.#running.has(key) || this.#done.has(key);
  }

  /** Whether the model knows a node with that id (`hostname:port`). */
  hasNode(id: string): boolean {
    return this.#nodes.has(id);
  }

  /**
   * Marks the servers that `target` names (a node, `host:port`, or one
   * server, `host:port/index`, as `Computation.suspend` takes them) as
   * suspended or not, once the source has done it; returns how many it
   * knows (changed or not). The change goes out in the next batch.
   *
   * @example
   * ```ts
   * import { ClusterModel } from "@denocos/denocos/monitor";
   * import { StatusMessage } from "@denocos/denocos/compute";
   *
   * const node = { hostname: "127.0.0.1", port: 9706 };
   * const model = new ClusterModel({ suspendable: true });
   * model.apply(new StatusMessage("ServerInitialized", node, { server: "0" }));
   * console.log(model.setSuspended("127.0.0.1:9706", true)); // 1
   * console.log(model.snapshot().nodes[0].suspended); // 1
   * ```
   *
   * @param target a node id or a server id
   * @param suspended `true` once suspended, `false` once resumed
   * @param now the time (ms since the epoch, default `Date.now()`)
   */
  setSuspended(target: string, suspended: boolean, now: number = Date.now()): number {
    let n = this.#nodes.get(target);
    let only: string | undefined;
    if (n === undefined) {
      const slash = target.lastIndexOf("/");
      if (slash < 0) return 0;
      n = this.#nodes.get(target.slice(0, slash));
      only = target.slice(slash + 1);
      if (n === undefined || !n.servers.has(only)) return 0;
    }
    let matched = 0, changed = false;
    for (const s of n.servers.values()) {
      if (only !== undefined && s.id !== only) continue;
      matched++;
      if (s.suspended !== suspended) {
        s.suspended = suspended;
        n.view.suspended += suspended ? 1 : -1;
        changed = true;
      }
    }
    if (changed) this.#touch(n, now);
    return matched;
  }

  /**
   * The whole picture now. It does not take the pending changes: a viewer
   * that gets a snapshot of `seq` n applies batches from n + 1 on, and a
   * pending batch repeats what the snapshot already shows, harmlessly.
   *
   * @param now the time (ms since the epoch, default `Date.now()`)
   */
  snapshot(now: number = Date.now()): Snapshot {
    return {
      seq: this.#seq,
      time: now,
      nodes: [...this.#nodes.values()].map((n) => n.view),
      running: [...this.#running.values()].map((j) => j.view),
      done: [...this.#done.values()].map((j) => j.view),
      totals: { ...this.#totals },
      historyLength: this.#history,
      suspendable: this.#suspendable,
    };
  }

  /**
   * What changed since the previous call, or `null` if nothing did.
   *
   * @param now the time (ms since the epoch, default `Date.now()`)
   */
  takeChanges(now: number = Date.now()): ChangeBatch | null {
    if (!this.dirty) return null;
    const nodes: NodeView[] = [];
    for (const id of this.#dirtyNodes) {
      const n = this.#nodes.get(id);
      if (n === undefined) continue;
      // Only the pulses since the last batch: the viewer appends them.
      nodes.push({ ...n.view, history: n.fresh === 0 ? [] : n.view.history.slice(-n.fresh) });
      n.fresh = 0;
    }
    const jobs: JobView[] = [];
    for (const key of this.#dirtyJobs) {
      const j = this.#running.get(key) ?? this.#done.get(key);
      if (j !== undefined) jobs.push(j.view);
    }
    const batch: ChangeBatch = {
      seq: ++this.#seq,
      time: now,
      nodes,
      jobs,
      removed: [...this.#removed],
      totals: { ...this.#totals },
    };
    this.#dirtyNodes.clear();
    this.#dirtyJobs.clear();
    this.#newJobs.clear();
    this.#removed.clear();
    return batch;
  }

  #node(hostname: string, port: number, now: number): NodeEntry | undefined {
    const id = `${hostname}:${port}`;
    let n = this.#nodes.get(id);
    if (n !== undefined) return n;
    if (this.#nodes.size >= this.#maxNodes && !this.#forgetNode()) return undefined;
    n = {
      view: {
        id,
        hostname,
        port,
        name: id,
        status: "discovered",
        cpu: null,
        memory: null,
        memoryFraction: null,
        load: null,
        history: [],
        servers: [],
        suspended: 0,
        running: 0,
        done: 0,
        updated: now,
      },
      servers: new Map(),
      fresh: 0,
    };
    this.#nodes.set(id, n);
    return n;
  }

  /** Forgets the oldest node that is no longer up; `false` if every node is. */
  #forgetNode(): boolean {
    for (const [id, n] of this.#nodes) {
      if (n.view.status === "closed" || n.view.status === "abandoned") {
        this.#nodes.delete(id);
        this.#dirtyNodes.delete(id);
        return true;
      }
    }
    return false;
  }

  #touch(n: NodeEntry, now: number): void {
    n.view.updated = now;
    this.#dirtyNodes.add(n.view.id);
  }

  #pulse(m: NodeAvailability, now: number): boolean {
    const n = this.#node(m.node.hostname, m.node.port, now);
    if (n === undefined) return false;
    const v = n.view;
    v.cpu = m.cpu;
    v.memory = m.memory;
    v.memoryFraction = m.memoryFraction;
    v.load = m.load;
    if (this.#history > 0) {
      if (v.history.length >= this.#history) v.history.shift();
      v.history.push({ time: now, cpu: m.cpu, memoryFraction: m.memoryFraction, load: m.load });
      if (n.fresh < this.#history) n.fresh++;
    }
    this.#touch(n, now);
    return true;
  }

  #status(m: StatusMessage, now: number): boolean {
    const n = this.#node(m.node.hostname, m.node.port, now);
    if (n === undefined) return false;
    const v = n.view;
    switch (m.type) {
      case "NodeDiscovered":
        if (typeof m.info === "string" && m.info !== "") v.name = m.info.slice(0, 255);
        v.status = "discovered";
        break;
      case "NodeInitialized": {
        const name = (m.info as { name?: unknown } | undefined)?.name;
        if (typeof name === "string" && name !== "") v.name = name.slice(0, 255);
        v.status = "initialized";
        break;
      }
      case "NodeClosed":
      case "NodeAbandoned":
        v.status = m.type === "NodeClosed" ? "closed" : "abandoned";
        for (const s of n.servers.values()) {
          if (s.status === "initialized") s.status = v.status;
        }
        break;
      case "ServerInitialized":
      case "ServerClosed":
      case "ServerAbandoned": {
        if (m.server === undefined) return false;
        let s = n.servers.get(m.server);
        if (s === undefined) {
          if (n.servers.size >= 4096) return false; // a node offers at most 1,024
          s = { id: m.server, status: "initialized", suspended: false, running: 0, done: 0 };
          n.servers.set(m.server, s);
          v.servers = [...n.servers.values()];
        }
        s.status = m.type === "ServerInitialized"
          ? "initialized"
          : m.type === "ServerClosed"
          ? "closed"
          : "abandoned";
        break;
      }
      case "TaskStarted":
        return this.#start(n, m, now);
      case "TaskAbandoned": {
        const key = jobKey(m.task, v.id);
        return key !== null && this.#end(key, "abandoned", undefined, now);
      }
    }
    this.#touch(n, now);
    return true;
  }

  #start(n: NodeEntry, m: StatusMessage, now: number): boolean {
    const key = jobKey(m.task, n.view.id);
    if (key === null || this.#running.has(key) || this.#unlisted.has(key)) return false;
    const info = (typeof m.info === "object" && m.info !== null ? m.info : {}) as Record<
      string,
      unknown
    >;
    const id = (m.task as { id?: unknown }).id;
    const server = m.server ?? "";
    this.#totals.started++;
    this.#totals.running++;
    n.view.running++;
    const s = n.servers.get(server);
    if (s !== undefined) s.running++;
    this.#touch(n, now);
    if (this.#running.size >= this.#maxRunning) {
      this.#unlisted.add(key);
      return true;
    }
    const view: JobView = {
      key,
      id: typeof id === "number" ? id : 0,
      name: typeof info.name === "string" ? info.name.slice(0, 255) : "",
      args: Array.isArray(info.args) ? argsPreview(info.args, this.#previewLength) : "",
      node: n.view.id,
      server,
      attempt: typeof info.attempt === "number" ? info.attempt : 1,
      started: now,
      ended: null,
      duration: null,
      outcome: "running",
      result: null,
    };
    this.#done.delete(key); // a resubmitted job shows once
    this.#running.set(key, { view, task: m.task });
    this.#dirtyJobs.add(key);
    this.#newJobs.add(key);
    return true;
  }

  #end(key: string, outcome: JobOutcome, value: unknown, now: number): boolean {
    const entry = this.#running.get(key);
    const unlisted = entry === undefined && this.#unlisted.delete(key);
    if (entry === undefined && !unlisted) {
      // Its node was abandoned (TaskAbandoned) and now its monitor says
      // "unreachable": the same ending, already counted.
      return false;
    }
    this.#totals.running--;
    if (outcome === "finished") this.#totals.finished++;
    else if (outcome === "failed") this.#totals.failed++;
    else if (outcome === "terminated") this.#totals.terminated++;
    else this.#totals.lost++;
    const node = entry === undefined ? undefined : this.#nodes.get(entry.view.node);
    if (node !== undefined) {
      node.view.running--;
      node.view.done++;
      const s = node.servers.get(entry!.view.server);
      if (s !== undefined) {
        s.running--;
        s.done++;
      }
      this.#touch(node, now);
    }
    if (entry === undefined) return true;
    this.#running.delete(key);
    const v = entry.view;
    v.ended = now;
    v.duration = Math.max(0, now - v.started);
    v.outcome = outcome;
    v.result = outcome === "abandoned" || (outcome === "unreachable" && value === undefined)
      ? null
      : preview(value, this.#previewLength);
    entry.task = undefined;
    this.#dirtyJobs.add(key);
    if (this.#maxDone === 0) {
      this.#forgetJob(key);
      return true;
    }
    this.#done.set(key, entry);
    if (this.#done.size > this.#maxDone) {
      this.#forgetJob(this.#done.keys().next().value!);
    }
    return true;
  }

  #forgetJob(key: string): void {
    this.#done.delete(key);
    this.#dirtyJobs.delete(key);
    if (!this.#newJobs.delete(key)) this.#removed.add(key);
  }
}

/** The arguments as `a, b, c` (the array's brackets dropped). */
function argsPreview(args: unknown[], max: number): string {
  const p = preview(args, max + 2);
  return p.endsWith("…") ? p.slice(1) : p.slice(1, -1);
}

/**
 * A job's identity in the cluster, as the model and the dashboard's API
 * name it (`JobView.key`): `host:port/incarnation/id`, from the task
 * reference's own `location`, `incarnation` and `id` (a `RemoteTask` has
 * all three; `node`, the node a status message names, stands in for a
 * missing location, 0 for a missing incarnation). Never the reference's
 * `key` alone: another source's keys need not differ from node to node, and
 * the id, the one part that must be there, is only unique on its node.
 * `null` for what is not a task reference.
 *
 * @example
 * ```ts
 * import { jobKey } from "@denocos/denocos/monitor";
 *
 * const task = { id: 7, incarnation: 42, location: { hostname: "127.0.0.1", port: 9706 } };
 * console.log(jobKey(task)); // 127.0.0.1:9706/42/7
 * console.log(jobKey({ id: 7 }, "10.0.0.2:9706")); // 10.0.0.2:9706/0/7
 * ```
 *
 * @param task a task reference (a `RemoteTask`)
 * @param node the node's id (`host:port`) to use if the reference has no location
 */
export function jobKey(task: unknown, node: string | null = null): string | null {
  if (typeof task !== "object" || task === null) return null;
  const t = task as { id?: unknown; incarnation?: unknown; location?: unknown };
  if (typeof t.id !== "number" || !Number.isSafeInteger(t.id) || t.id < 0) return null;
  const loc = t.location as { hostname?: unknown; port?: unknown } | null | undefined;
  if (
    typeof loc === "object" && loc !== null && typeof loc.hostname === "string" &&
    loc.hostname !== "" && loc.hostname.length <= 255 && Number.isInteger(loc.port)
  ) {
    node = `${loc.hostname}:${loc.port}`;
  }
  if (node === null) return null;
  const inc = Number.isSafeInteger(t.incarnation) ? t.incarnation : 0;
  return `${node}/${inc}/${t.id}`;
}
