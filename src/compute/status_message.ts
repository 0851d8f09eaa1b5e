/**
 * The messages a computation's `status` task receives about its cluster:
 * `StatusMessage` when a node, a server or a job changes state, and
 * `NodeAvailability` at every pulse (a `MonitorStatus` for every job comes
 * from the core).
 *
 * Both are classes so that a status task tells them apart with
 * `instanceof`, as pycos's status tasks do with `isinstance`. Both have a
 * `from` that rebuilds one from an untrusted plain value (what the network
 * codec decodes), checking every field and bounding every string.
 *
 * @module
 */
import type { Location } from "../core/location.ts";

/**
 * The kinds of `StatusMessage`, in the order a node's life goes through them.
 *
 * @example
 * ```ts
 * import { STATUS_TYPES } from "@denocos/denocos/compute";
 *
 * console.log(STATUS_TYPES.includes("ServerInitialized")); // true
 * ```
 */
export const STATUS_TYPES = [
  "NodeDiscovered",
  "NodeInitialized",
  "NodeClosed",
  "NodeAbandoned",
  "ServerInitialized",
  "ServerClosed",
  "ServerAbandoned",
  "TaskStarted",
  "TaskAbandoned",
] as const;

/**
 * What happened: a node was discovered, initialized (the computation's code
 * and `nodeSetup` are in place), closed or abandoned (silent for
 * `zombiePeriod`); a server initialized (ready for jobs), closed or
 * abandoned; a job started or was abandoned with its node.
 *
 * @example
 * ```ts
 * import type { StatusType } from "@denocos/denocos/compute";
 *
 * const t: StatusType = "NodeAbandoned";
 * console.log(t);
 * ```
 */
export type StatusType = typeof STATUS_TYPES[number];

const TYPES: ReadonlySet<string> = new Set(STATUS_TYPES);
/** Longest host name a message may carry (DNS allows 253). */
const MAX_HOSTNAME = 255;
/** Longest server id a message may carry. */
const MAX_SERVER_ID = 255;

/**
 * Whether `value` names a `StatusType`.
 *
 * @example
 * ```ts
 * import { isStatusType } from "@denocos/denocos/compute";
 *
 * console.log(isStatusType("TaskStarted"), isStatusType("Bogus")); // true false
 * ```
 */
export function isStatusType(value: unknown): value is StatusType {
  return typeof value === "string" && TYPES.has(value);
}

/**
 * Rebuilds a `Location` from an untrusted value, or returns `null` if it is
 * not one (host name a non-empty string of at most 255 characters, port an
 * integer 0–65535). Extra fields are dropped.
 *
 * @example
 * ```ts
 * import { locationFrom } from "@denocos/denocos/compute";
 *
 * console.log(locationFrom({ hostname: "127.0.0.1", port: 9705 })); // { hostname: "127.0.0.1", port: 9705 }
 * console.log(locationFrom({ hostname: "", port: -1 })); // null
 * ```
 */
export function locationFrom(value: unknown): Location | null {
  if (typeof value !== "object" || value === null) return null;
  const { hostname, port } = value as Record<string, unknown>;
  if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > MAX_HOSTNAME) {
    return null;
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return null;
  }
  return { hostname, port };
}

/**
 * A change in the cluster, sent to a computation's `status` task (pycos's
 * `DispycosStatus`). `node` is the node's location; `server` the server's id
 * on that node (for `Server*` and `Task*`); `task` the job (for `Task*`; a
 * `RemoteTask` once the network layer provides it); `info` anything more
 * (the node's name, the reason a node was abandoned, …). A `Computation`'s
 * `TaskStarted` carries `info: { name, args, attempt }`: the export run, its
 * arguments and which attempt this is (1 unless resubmitted).
 *
 * @example
 * ```ts
 * import { StatusMessage } from "@denocos/denocos/compute";
 *
 * const msg: unknown = new StatusMessage("ServerInitialized", { hostname: "127.0.0.1", port: 9705 }, {
 *   server: "1",
 * });
 * if (msg instanceof StatusMessage && msg.type === "ServerInitialized") {
 *   console.log(`server ${msg.server} on ${msg.node.hostname}:${msg.node.port} is ready`);
 * }
 * ```
 */
export class StatusMessage {
  /** What happened. */
  readonly type: StatusType;
  /** The node it happened on. */
  readonly node: Location;
  // `declare`: an absent field stays absent (no own `undefined` property).
  /** The server's id on its node, if the message is about a server or a job. */
  declare readonly server?: string;
  /** The job, if the message is about one. */
  declare readonly task?: unknown;
  /** Anything more the sender wants to say. */
  declare readonly info?: unknown;

  /**
   * Creates a `StatusMessage`.
   *
   * @param type what happened
   * @param node the node it happened on
   * @param fields the server, the job, more information
   */
  constructor(
    type: StatusType,
    node: Location,
    fields?: { server?: string; task?: unknown; info?: unknown },
  ) {
    this.type = type;
    this.node = node;
    if (fields?.server !== undefined) this.server = fields.server;
    if (fields?.task !== undefined) this.task = fields.task;
    if (fields?.info !== undefined) this.info = fields.info;
  }

  /**
   * Rebuilds a `StatusMessage` from an untrusted plain value (a decoded
   * network message), or returns `null` if it is not one: an unknown
   * `type`, a malformed `node`, a `server` that is not a string of 1–255
   * characters. `task` and `info` are passed through as they are; whoever
   * uses them validates them.
   *
   * @example
   * ```ts
   * import { StatusMessage } from "@denocos/denocos/compute";
   *
   * const m = StatusMessage.from({ type: "NodeClosed", node: { hostname: "h", port: 1 } });
   * console.log(m?.type); // "NodeClosed"
   * console.log(StatusMessage.from({ type: "Reboot", node: { hostname: "h", port: 1 } })); // null
   * ```
   */
  static from(value: unknown): StatusMessage | null {
    if (typeof value !== "object" || value === null) return null;
    const { type, node, server, task, info } = value as Record<string, unknown>;
    if (!isStatusType(type)) return null;
    const location = locationFrom(node);
    if (location === null) return null;
    if (
      server !== undefined &&
      (typeof server !== "string" || server.length === 0 || server.length > MAX_SERVER_ID)
    ) return null;
    return new StatusMessage(type, location, { server, task, info });
  }
}

/**
 * How busy a node is, sent to a computation's `status` task at every pulse
 * (pycos's `DispycosNodeAvailInfo`). A field is `null` when the node could
 * not measure it (it was not given `--allow-sys=loadavg,systemMemoryInfo`).
 *
 * - `cpu`: the fraction of the node's CPU in use, 0–1, estimated as the
 *   1-minute load average over the number of cores (capped at 1).
 * - `memory`: available memory in bytes.
 * - `memoryFraction`: available memory over total memory, 0–1.
 * - `load`: the 1-minute load average as the OS reports it.
 *
 * @example
 * ```ts
 * import { NodeAvailability } from "@denocos/denocos/compute";
 *
 * const a = new NodeAvailability({ hostname: "127.0.0.1", port: 9705 }, {
 *   cpu: 0.25,
 *   memory: 2 ** 30,
 *   memoryFraction: 0.5,
 *   load: 1,
 * });
 * console.log(`${Math.round(a.cpu! * 100)}% CPU, ${a.memory! >> 20} MiB free`); // "25% CPU, 1024 MiB free"
 * ```
 */
export class NodeAvailability {
  /** The node measured. */
  readonly node: Location;
  /** Fraction of CPU in use (0–1), or `null` if unknown. */
  readonly cpu: number | null;
  /** Available memory in bytes, or `null` if unknown. */
  readonly memory: number | null;
  /** Available memory over total memory (0–1), or `null` if unknown. */
  readonly memoryFraction: number | null;
  /** The 1-minute load average, or `null` if unknown. */
  readonly load: number | null;

  /**
   * Creates a `NodeAvailability`.
   *
   * @param node the node measured
   * @param fields the measurements, `null` (or absent) for unknown
   */
  constructor(
    node: Location,
    fields?: {
      cpu?: number | null;
      memory?: number | null;
      memoryFraction?: number | null;
      load?: number | null;
    },
  ) {
    this.node = node;
    this.cpu = fields?.cpu ?? null;
    this.memory = fields?.memory ?? null;
    this.memoryFraction = fields?.memoryFraction ?? null;
    this.load = fields?.load ?? null;
  }

  /**
   * Rebuilds a `NodeAvailability` from an untrusted plain value, or returns
   * `null` if `node` is malformed. A measurement that is not a finite number
   * in its range (`cpu`, `memoryFraction` 0–1; `memory`, `load` ≥ 0) becomes
   * `null` rather than failing the whole pulse.
   *
   * @example
   * ```ts
   * import { NodeAvailability } from "@denocos/denocos/compute";
   *
   * const a = NodeAvailability.from({ node: { hostname: "h", port: 1 }, cpu: 7, load: 0.5 });
   * console.log(a?.cpu, a?.load); // null 0.5
   * ```
   */
  static from(value: unknown): NodeAvailability | null {
    if (typeof value !== "object" || value === null) return null;
    const v = value as Record<string, unknown>;
    const node = locationFrom(v.node);
    if (node === null) return null;
    return new NodeAvailability(node, {
      cpu: inRange(v.cpu, 1),
      memory: inRange(v.memory, Infinity),
      memoryFraction: inRange(v.memoryFraction, 1),
      load: inRange(v.load, Infinity),
    });
  }
}

function inRange(x: unknown, max: number): number | null {
  return typeof x === "number" && Number.isFinite(x) && x >= 0 && x <= max ? x : null;
}
