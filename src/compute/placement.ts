/**
 * Where the next jobs go: the least-loaded server, with a scheduler's CPU
 * slots shared fairly between the computations that want them. Pure
 * functions over a snapshot of the servers' loads, with no I/O and no
 * clock, so that a scheduler calls them whenever something changes (a job
 * was asked for, a job ended, a server came or went, a pulse arrived) and
 * tests can pin every decision.
 *
 * The rules, exactly:
 *
 * - **Slots.** A server has `capacity` CPU slots (1 for a server per core).
 *   A CPU-bound job (`comp.run`) needs a free slot: `cpuJobs < capacity`.
 *   An I/O-bound job (`comp.runAsync`) needs none and never waits; it only
 *   counts in `busy`, which breaks ties.
 * - **Eligible.** A server takes a job of computation `c` when it is not
 *   `suspended` and, if it lists `computations`, `c` is among them.
 * - **Least loaded.** Among eligible servers, the first in this order wins:
 *   the server's CPU occupancy `cpuJobs / capacity`, then its node's
 *   occupancy (Σ cpuJobs / Σ capacity over that node's servers in the
 *   snapshot, so that jobs spread over nodes before they pile up on one),
 *   then the node's measured `nodeLoad` (unknown counts as 0, so a node
 *   without `--allow-sys` is not shunned), then `busy / max(capacity, 1)`,
 *   then `node` and `id` in code-unit order. Async jobs use the same order
 *   starting from `busy / max(capacity, 1)`. Every step is a total order, so
 *   the same snapshot always gives the same answer.
 * - **Fair sharing.** When several computations have CPU-bound jobs queued,
 *   the next free slot goes to the computation with the **fewest running
 *   CPU-bound jobs** over the whole snapshot (counting the ones placed in
 *   this round); a tie goes to the one that has waited longest: first the
 *   computations not yet served in this round, by the age of their oldest
 *   queued job (`since`), then the one served least recently (round-robin).
 *   That computation's oldest queued job goes to its least-loaded eligible
 *   server. This is max–min fairness on running jobs, work-conserving (a
 *   lone computation gets every slot) and without preemption (a
 *   computation holding more than its share keeps its running jobs; it just
 *   gets no new slot until the others catch up).
 * - **Cost.** `allocate` works on a summary of the queue (per computation:
 *   how many jobs wait), so a call costs O(servers + grants × (computations
 *   + servers)) however long the queue is: a scheduler can call it on every
 *   job that ends. `placeJobs` is the same over a list of requests.
 *
 * @example
 * ```ts
 * import { placeJobs, type ServerLoad } from "@denocos/denocos/compute";
 *
 * const servers: ServerLoad[] = [
 *   { id: "a/1", node: "a", capacity: 1, busy: 1, cpuJobs: 1, running: { A: 1 } },
 *   { id: "a/2", node: "a", capacity: 1, busy: 0, cpuJobs: 0 },
 *   { id: "b/1", node: "b", capacity: 1, busy: 0, cpuJobs: 0 },
 * ];
 * // A already runs one job: B's job gets the first free slot, A's the second.
 * const placed = placeJobs(servers, [{ computation: "A" }, { computation: "B" }, { computation: "A" }]);
 * console.log(placed); // [{ request: 1, server: "b/1" }, { request: 0, server: "a/2" }]
 * ```
 *
 * @module
 */

/**
 * One server as the scheduler sees it when placing jobs.
 *
 * @example
 * ```ts
 * import type { ServerLoad } from "@denocos/denocos/compute";
 *
 * const s: ServerLoad = { id: "127.0.0.1:9705/1", node: "127.0.0.1:9705", capacity: 1, busy: 0, cpuJobs: 0 };
 * console.log(s.capacity);
 * ```
 */
export interface ServerLoad {
  /** The server's id, unique in the snapshot. */
  readonly id: string;
  /** Its node's id (servers with the same `node` share a machine). */
  readonly node: string;
  /** How many CPU-bound jobs it runs at once (an integer ≥ 0). */
  readonly capacity: number;
  /** Jobs running on it, CPU-bound and async. */
  readonly busy: number;
  /** CPU-bound jobs running on it. */
  readonly cpuJobs: number;
  /** A suspended server takes no new job. */
  readonly suspended?: boolean;
  /** The node's CPU in use (0–1, `NodeAvailability.cpu`); `null` or absent when unknown. */
  readonly nodeLoad?: number | null;
  /** CPU-bound jobs running on it per computation id (for fair sharing). */
  readonly running?: Readonly<Record<string, number>>;
  /** The computations allowed on it; absent means any. */
  readonly computations?: readonly string[];
}

/**
 * A queued job: which computation wants it and whether it is I/O-bound
 * (`runAsync`: it takes no CPU slot).
 *
 * @example
 * ```ts
 * import type { JobRequest } from "@denocos/denocos/compute";
 *
 * const r: JobRequest = { computation: "comp-1", async: true };
 * console.log(r.async);
 * ```
 */
export interface JobRequest {
  /** The computation's id. */
  readonly computation: string;
  /** `true` for an I/O-bound job (`runAsync`). */
  readonly async?: boolean;
}

/**
 * A decision of `placeJobs`: queued job number `request` (its index in the
 * queue) goes to `server`.
 *
 * @example
 * ```ts
 * import type { Placement } from "@denocos/denocos/compute";
 *
 * const p: Placement = { request: 0, server: "127.0.0.1:9705/1" };
 * console.log(p.server);
 * ```
 */
export interface Placement {
  /** The index of the job in the queue given to `placeJobs`. */
  readonly request: number;
  /** The id of the server it goes to. */
  readonly server: string;
}

/** Mutable working copy of one server. */
interface Slot {
  readonly load: ServerLoad;
  readonly node: NodeSum;
  readonly capacity: number;
  readonly nodeLoad: number;
  cpuJobs: number;
  busy: number;
}

interface NodeSum {
  cpuJobs: number;
  capacity: number;
}

function count(x: unknown, what: string, id: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0) {
    throw new RangeError(`server '${id}': ${what} must be an integer >= 0, got ${String(x)}`);
  }
  return x;
}

function slots(servers: readonly ServerLoad[]): Slot[] {
  const nodes = new Map<string, NodeSum>();
  const seen = new Set<string>();
  const out: Slot[] = [];
  for (const s of servers) {
    if (seen.has(s.id)) throw new RangeError(`server '${s.id}' appears twice`);
    seen.add(s.id);
    const capacity = count(s.capacity, "capacity", s.id);
    const cpuJobs = count(s.cpuJobs, "cpuJobs", s.id);
    const busy = count(s.busy, "busy", s.id);
    let node = nodes.get(s.node);
    if (node === undefined) nodes.set(s.node, node = { cpuJobs: 0, capacity: 0 });
    node.cpuJobs += cpuJobs;
    node.capacity += capacity;
    const nl = s.nodeLoad;
    const nodeLoad = typeof nl === "number" && Number.isFinite(nl) && nl > 0 ? nl : 0;
    out.push({ load: s, node, capacity, nodeLoad, cpuJobs, busy });
  }
  return out;
}

function ratio(n: number, d: number): number {
  return d === 0 ? (n === 0 ? 0 : Infinity) : n / d;
}

function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative when `a` is the better (less loaded) server for a CPU-bound job. */
function cpuOrder(a: Slot, b: Slot): number {
  return ratio(a.cpuJobs, a.capacity) - ratio(b.cpuJobs, b.capacity) ||
    asyncOrder(a, b);
}

/** Negative when `a` is the better server for an async job (and the CPU order's tail). */
function asyncOrder(a: Slot, b: Slot): number {
  return ratio(a.node.cpuJobs, a.node.capacity) - ratio(b.node.cpuJobs, b.node.capacity) ||
    a.nodeLoad - b.nodeLoad ||
    a.busy / Math.max(a.capacity, 1) - b.busy / Math.max(b.capacity, 1) ||
    codeUnitOrder(a.load.node, b.load.node) ||
    codeUnitOrder(a.load.id, b.load.id);
}

function serves(s: Slot, computation: string): boolean {
  return !s.load.suspended &&
    (s.load.computations === undefined || s.load.computations.includes(computation));
}

function best(all: readonly Slot[], computation: string, async: boolean): Slot | null {
  let found: Slot | null = null;
  for (const s of all) {
    if (!serves(s, computation)) continue;
    if (!async && s.cpuJobs >= s.capacity) continue;
    if (found === null || (async ? asyncOrder(s, found) : cpuOrder(s, found)) < 0) found = s;
  }
  return found;
}

function take(s: Slot, async: boolean): void {
  s.busy++;
  if (!async) {
    s.cpuJobs++;
    s.node.cpuJobs++;
  }
}

/**
 * The least-loaded server for one job of `computation`, ignoring fairness
 * (for `runAt`-style choices and single placements), or `null` if none can
 * take it now (every eligible server's slots are full; for an async job,
 * only when no server is eligible).
 *
 * @example
 * ```ts
 * import { pickServer } from "@denocos/denocos/compute";
 *
 * const servers = [
 *   { id: "s1", node: "n", capacity: 1, busy: 1, cpuJobs: 1 },
 *   { id: "s2", node: "n", capacity: 1, busy: 3, cpuJobs: 0 },
 * ];
 * console.log(pickServer(servers, "comp")); // "s2"
 * console.log(pickServer(servers, "comp", { async: true })); // "s1" (fewer jobs)
 * ```
 *
 * @param servers the snapshot
 * @param computation the computation's id
 * @param options `async: true` for an I/O-bound job
 * @returns the server's id, or `null`
 */
export function pickServer(
  servers: readonly ServerLoad[],
  computation: string,
  options?: { async?: boolean },
): string | null {
  return best(slots(servers), computation, options?.async === true)?.load.id ?? null;
}

/**
 * What one computation has queued, for `allocate`.
 *
 * @example
 * ```ts
 * import type { Demand } from "@denocos/denocos/compute";
 *
 * const d: Demand = { computation: "comp-1", cpu: 40, async: 2, since: 17 };
 * console.log(d.cpu);
 * ```
 */
export interface Demand {
  /** The computation's id (each at most once per call). */
  readonly computation: string;
  /** CPU-bound jobs queued (`run`). */
  readonly cpu: number;
  /** I/O-bound jobs queued (`runAsync`; default 0). */
  readonly async?: number;
  /**
   * When its oldest queued CPU-bound job was queued, on any increasing
   * scale (a sequence number): the older one wins a tie. Default: the
   * demand's index in the array.
   */
  readonly since?: number;
}

/**
 * A decision of `allocate`: the oldest queued job of `computation` of this
 * kind (`async` or CPU-bound) goes to `server`.
 *
 * @example
 * ```ts
 * import type { Grant } from "@denocos/denocos/compute";
 *
 * const g: Grant = { computation: "comp-1", server: "127.0.0.1:9705/1", async: false };
 * console.log(g.server);
 * ```
 */
export interface Grant {
  /** The computation whose job is placed. */
  readonly computation: string;
  /** The id of the server it goes to. */
  readonly server: string;
  /** Whether it is an async job. */
  readonly async: boolean;
}

interface Want {
  readonly computation: string;
  cpu: number;
  readonly since: number;
  /** Grant number of its last CPU slot in this call, -1 before its first. */
  lastServed: number;
  /** No eligible server has a free slot: stays so for this call (slots only fill up). */
  blocked: boolean;
}

/**
 * Places as many queued jobs as the snapshot allows, by the module's rules,
 * from a summary of the queue: every async job at once (each computation's
 * in turn, in `demands` order), then CPU-bound jobs one free slot at a time
 * to the computation with the fewest running CPU-bound jobs. Returns the
 * grants in the order they were decided; the caller starts, for each, that
 * computation's oldest queued job of that kind. The input is not modified.
 *
 * Throws `RangeError` for a malformed snapshot or demand (a duplicate id, a
 * count that is not an integer ≥ 0): that is the caller's bug, not load.
 *
 * @example
 * ```ts
 * import { allocate } from "@denocos/denocos/compute";
 *
 * const servers = [{ id: "s1", node: "n", capacity: 3, busy: 0, cpuJobs: 0 }];
 * const grants = allocate(servers, [{ computation: "A", cpu: 100 }, { computation: "B", cpu: 1 }]);
 * console.log(grants.map((g) => g.computation)); // ["A", "B", "A"]
 * ```
 *
 * @param servers the snapshot
 * @param demands what each computation has queued
 * @returns where each placed job goes
 */
export function allocate(servers: readonly ServerLoad[], demands: readonly Demand[]): Grant[] {
  const all = slots(servers);
  const grants: Grant[] = [];
  const running = new Map<string, number>();
  for (const s of servers) {
    if (s.running === undefined) continue;
    for (const [c, n] of Object.entries(s.running)) {
      running.set(c, (running.get(c) ?? 0) + count(n, `running[${c}]`, s.id));
    }
  }
  const wants: Want[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < demands.length; i++) {
    const d = demands[i];
    if (seen.has(d.computation)) {
      throw new RangeError(`computation '${d.computation}' has two demands`);
    }
    seen.add(d.computation);
    const cpu = count(d.cpu, "cpu", d.computation);
    const async = count(d.async ?? 0, "async", d.computation);
    for (let k = 0; k < async; k++) {
      const s = best(all, d.computation, true);
      if (s === null) break;
      take(s, true);
      grants.push({ computation: d.computation, server: s.load.id, async: true });
    }
    const since = d.since ?? i;
    if (typeof since !== "number" || Number.isNaN(since)) {
      throw new RangeError(`computation '${d.computation}': since must be a number`);
    }
    if (cpu > 0) {
      wants.push({ computation: d.computation, cpu, since, lastServed: -1, blocked: false });
    }
  }
  for (let n = grants.length;; n++) {
    let chosen: Want | null = null;
    let chosenSlot: Slot | null = null;
    let chosenRunning = 0;
    for (const w of wants) {
      if (w.cpu === 0 || w.blocked) continue;
      const s = best(all, w.computation, false);
      if (s === null) {
        w.blocked = true;
        continue;
      }
      const r = running.get(w.computation) ?? 0;
      if (
        chosen === null || r < chosenRunning ||
        (r === chosenRunning && waitedLonger(w, chosen))
      ) {
        chosen = w;
        chosenSlot = s;
        chosenRunning = r;
      }
    }
    if (chosen === null || chosenSlot === null) return grants;
    take(chosenSlot, false);
    chosen.cpu--;
    chosen.lastServed = n;
    running.set(chosen.computation, chosenRunning + 1);
    grants.push({ computation: chosen.computation, server: chosenSlot.load.id, async: false });
  }
}

/** Whether `a` has waited longer than `b`: never served beats served, then age or recency. */
function waitedLonger(a: Want, b: Want): boolean {
  if (a.lastServed !== b.lastServed) {
    if (a.lastServed === -1) return true;
    if (b.lastServed === -1) return false;
    return a.lastServed < b.lastServed;
  }
  return a.since < b.since;
}

/**
 * Places as many queued jobs as the snapshot allows, by the module's rules,
 * from the queue itself (oldest first): `allocate` over the queue's summary,
 * with each grant given to that computation's oldest queued job of its
 * kind. Returns the placements in the order they were decided; jobs not
 * listed stay queued. The input is not modified. It reads the whole queue:
 * a scheduler with long queues keeps per-computation counts and calls
 * `allocate`.
 *
 * Throws `RangeError` for a malformed snapshot.
 *
 * @example
 * ```ts
 * import { placeJobs } from "@denocos/denocos/compute";
 *
 * const servers = [{ id: "s1", node: "n", capacity: 2, busy: 0, cpuJobs: 0 }];
 * const queue = [{ computation: "A" }, { computation: "A" }, { computation: "B" }];
 * console.log(placeJobs(servers, queue).map((p) => p.request)); // [0, 2]
 * ```
 *
 * @param servers the snapshot
 * @param queue the queued jobs, oldest first
 * @returns where each placed job goes
 */
export function placeJobs(
  servers: readonly ServerLoad[],
  queue: readonly JobRequest[],
): Placement[] {
  // Per computation, in first-appearance order: its queued CPU-bound and async jobs.
  const lists = new Map<
    string,
    { cpu: number[]; async: number[]; nextCpu: number; nextAsync: number }
  >();
  for (let i = 0; i < queue.length; i++) {
    const r = queue[i];
    let l = lists.get(r.computation);
    if (l === undefined) {
      lists.set(r.computation, l = { cpu: [], async: [], nextCpu: 0, nextAsync: 0 });
    }
    (r.async === true ? l.async : l.cpu).push(i);
  }
  const demands: Demand[] = [];
  for (const [computation, l] of lists) {
    demands.push({ computation, cpu: l.cpu.length, async: l.async.length, since: l.cpu[0] ?? 0 });
  }
  return allocate(servers, demands).map((g) => {
    const l = lists.get(g.computation)!;
    return { request: g.async ? l.async[l.nextAsync++] : l.cpu[l.nextCpu++], server: g.server };
  });
}
