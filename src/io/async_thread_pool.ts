/**
 * `AsyncThreadPool`: a pool of Deno Workers for blocking or CPU-heavy work,
 * which tasks wait on like on any other denocos primitive.
 *
 * Jobs are queued FIFO and handed to the Workers in batches, several per
 * Worker at a time, so tiny jobs cost about as much as bare `postMessage`
 * round trips (less, in fact: one message carries many jobs). A Worker that
 * runs out of work takes jobs that another Worker has been sent but not
 * started yet, so one long job does not hold up the jobs queued behind it.
 * Each job's state lives in a shared cell that both sides change with
 * compare-and-swap, which is what makes "not started yet" exact: a job runs
 * at most once, and a job cancelled before it started never runs.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import { type WaitOptions, waitOptionsError } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import { park, pendingError, TIMEOUT_REJECTS, type Waiter, WaitQueue } from "../core/wait.ts";
import { PoolClosed, WorkerCrashed, WorkerJobError } from "./pool_errors.ts";
import { describe, WorkerChannel } from "./_worker_channel.ts";
import { workerScript } from "./_pool_internal.ts";

/**
 * Options for `new AsyncThreadPool(size, options)`.
 *
 * @example
 * ```ts
 * import type { ThreadPoolOptions } from "@denocos/denocos/io";
 *
 * const opts: ThreadPoolOptions = { permissions: { read: ["./data"] }, maxQueue: 10_000 };
 * console.log(opts.maxQueue); // 10000
 * ```
 */
export interface ThreadPoolOptions {
  /**
   * The Deno permissions of every Worker (default `"none"`). Anything other
   * than `"inherit"` needs `--unstable-worker-options`, and a Worker can
   * only get permissions the process has. `runModule` needs read
   * permission for the module's files.
   */
  permissions?: Deno.PermissionOptions;
  /** How many jobs may wait in the queue (default 1,000,000); more are refused with a `RangeError`. */
  maxQueue?: number;
  /** The scheduler whose `finish()` closes this pool (default: the current task's, else the default one). */
  scheduler?: Scheduler;
  /** A name for the Workers, shown in their error messages (default `"denocos-pool"`). */
  name?: string;
  /**
   * Run every job in a Worker of its own (default `false`): a Worker is
   * replaced after one job, so no job sees what another left in the
   * Worker's globals. It costs a Worker start (some 20 ms) per job; the
   * `size` Workers are started ahead, so up to `size` jobs start at once.
   */
  workerPerJob?: boolean;
}

/**
 * Options for one job (`apply`, `applyModule`): `timeout` in milliseconds
 * (rejects with `TimeoutError`) and `signal`. Either one cancels the job:
 * a queued job is removed, a running one has its Worker terminated and
 * replaced.
 *
 * @example
 * ```ts
 * import type { JobOptions } from "@denocos/denocos/io";
 *
 * const opts: JobOptions = { timeout: 1000, signal: AbortSignal.timeout(5000) };
 * console.log(opts.timeout); // 1000
 * ```
 */
export type JobOptions = WaitOptions;

/** Slots (shared cells) per Worker: the most jobs sent to one Worker and not yet answered. */
const WINDOW = 512;
const MASK = WINDOW - 1;
/** A Worker is sent more jobs once it has fewer than this many. */
const LOW_WATER = WINDOW >> 1;
/** The most jobs in one message. */
const BATCH = 256;
/** How long to wait for a crashed Worker's last words before declaring its jobs lost. */
const CRASH_GRACE = 500;

// Cell states, as in thread_pool_worker.js.
const CANCELLED = 0, PENDING = 1, STARTED = 2;
const READY = -1, CRASH = -2, CLOSING = -3;
const OK = 0, ERROR = 1, THROWN = 2;
const DONE = 3;
/** Bounds on an error report's fields, as in thread_pool_worker.js. */
const NAME_MAX = 256, TEXT_MAX = 65536;

// Job states on this side.
const J_NEW = 0, J_QUEUED = 1, J_SENT = 2, J_ABANDONED = 3, J_SETTLED = 4;

const WORKER_URL = new URL("./thread_pool_worker.js", import.meta.url);

function tag(seq: number, state: number): number {
  return ((seq & 0x1fffffff) << 2) | state;
}

/** One submitted job. */
class Job {
  state = J_NEW;
  seq = 0;
  worker: PoolWorker | null = null;
  prev: Job | null = null;
  next: Job | null = null;
  waiter: Waiter | null = null;
  resolve: ((value: unknown) => void) | null = null;
  reject: ((error: unknown) => void) | null = null;
  readonly fnId: number;
  readonly args: unknown[];
  constructor(fnId: number, args: unknown[]) {
    this.fnId = fnId;
    this.args = args;
  }
}

/** One Worker and the jobs it has been sent. */
class PoolWorker {
  channel!: WorkerChannel;
  readonly cells: Int32Array;
  /** Sent jobs not yet answered, by `seq & MASK`. */
  readonly slots: (Job | null)[] = new Array(WINDOW).fill(null);
  /** Which function ids this Worker has been sent. */
  readonly known: number[] = [];
  seq = 0;
  inflight = 0;
  ready = false;
  /** It has been sent a job (a pool with `workerPerJob` sends it no other). */
  used = false;
  dead = false;
  /** The running job whose cancellation condemned this Worker. */
  doomed: Job | null = null;
  crashTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The message being built by the current flush. */
  msg: unknown[] | null = null;
  msgJobs = 0;
  constructor(cells: Int32Array) {
    this.cells = cells;
  }
}

/** Where parked callers wait; knows when a caller stops waiting. */
class JobWaiters extends WaitQueue {
  last: Waiter | null = null;
  readonly #onAbandon: (job: Job) => void;
  constructor(onAbandon: (job: Job) => void) {
    super();
    this.#onAbandon = onAbandon;
  }
  override push(w: Waiter): void {
    super.push(w);
    this.last = w;
  }
  override remove(w: Waiter): void {
    if (w.queue !== this) return;
    super.remove(w);
    const job = w.data as Job;
    if (job.state < J_ABANDONED) this.#onAbandon(job);
  }
}

// `new Promise` without a closure per job.
let capturedResolve: ((value: unknown) => void) | null = null;
let capturedReject: ((error: unknown) => void) | null = null;
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

const STANDARD_ERRORS: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

interface RemoteError {
  name: string;
  message: string;
  stack: string;
  code?: string | number;
}

/** Re-creates an error a Worker reported: its own class where that exists here. */
function revive(info: RemoteError): Error {
  const name = info.name;
  const Cls = Object.hasOwn(STANDARD_ERRORS, name)
    ? STANDARD_ERRORS[name]
    : Object.hasOwn(Deno.errors, name)
    ? (Deno.errors as unknown as Record<string, new (message: string) => Error>)[name]
    : undefined;
  if (Cls === undefined) return new WorkerJobError(name, info.message, info.stack, info.code);
  const err = new Cls(info.message);
  if (info.stack) err.stack = info.stack;
  if (info.code !== undefined) (err as { code?: unknown }).code = info.code;
  return err;
}

function describeRemote(info: unknown): string {
  if (info instanceof Error) {
    const name = info instanceof WorkerJobError ? info.remoteName : info.name;
    return name && name !== "Error" ? `${name}: ${info.message}` : info.message;
  }
  return String(info);
}

/** Whether `v` is an error report as the Worker script makes them, within bounds. */
function isErrorReport(v: unknown): v is RemoteError {
  if (v === null || typeof v !== "object" || Object.getPrototypeOf(v) !== Object.prototype) {
    return false;
  }
  const r = v as Record<string, unknown>;
  const code = r.code;
  return typeof r.name === "string" && r.name.length <= NAME_MAX &&
    typeof r.message === "string" && r.message.length <= TEXT_MAX &&
    typeof r.stack === "string" && r.stack.length <= TEXT_MAX &&
    (code === undefined || (typeof code === "number") ||
      (typeof code === "string" && code.length <= NAME_MAX));
}

/**
 * The shape check of every message a pool Worker sends on its private
 * channel (which has checked it is an array of at most 3 elements headed
 * by a safe integer): `[seq > 0, OK | ERROR | THROWN, value]`,
 * `[READY, OK, null]`, or `[CRASH | CLOSING, ERROR | THROWN, reason]`, with
 * ERROR values bounded error reports. Returns why a message is refused.
 */
function checkMessage(d: unknown[]): string | undefined {
  if (d.length !== 3) return `a message of ${d.length} elements (3 expected)`;
  const head = d[0] as number, status = d[1];
  if (head > 0) {
    if (status === OK || status === THROWN) return undefined;
    if (status === ERROR) return isErrorReport(d[2]) ? undefined : "a malformed error report";
    return `an answer with status ${describe(status)}`;
  }
  if (head === READY) return status === OK && d[2] === null ? undefined : "a malformed READY";
  if (head === CRASH || head === CLOSING) {
    if (status === THROWN) return undefined;
    if (status === ERROR) return isErrorReport(d[2]) ? undefined : "a malformed error report";
    return `a farewell with status ${describe(status)}`;
  }
  return `a message headed ${head}`;
}

/**
 * A pool of Deno Workers for blocking or CPU-heavy work (pycos's
 * `AsyncThreadPool`, with Workers instead of threads).
 *
 * - `run(fn, ...args)` ships `fn` **by its source text**: it must be
 *   self-contained (no variables from outside it, no `this`); arguments and
 *   results are structured-cloned. The source is sent once per Worker and
 *   compiled once there.
 * - `runModule(url, exportName, ...args)` imports a module in the Worker
 *   (once) and calls one of its exports; the Worker needs read permission
 *   for the module (`permissions: { read: [url] }`).
 * - A job that throws rejects with the same error class where it is a
 *   standard one (`TypeError`, `Deno.errors.NotCapable`…), else with
 *   `WorkerJobError` (`remoteName`, `message`, the Worker's `stack`).
 * - A task waiting on a job can be terminated (`TaskTerminated`); `apply`
 *   / `applyModule` take `{ timeout, signal }`. Giving up on a job cancels
 *   it: a queued job is removed and never runs; a running one has its
 *   Worker terminated and replaced (the other jobs sent to that Worker run
 *   on the new one). Deno 2.9 stops a terminated Worker only when it
 *   returns to its event loop: one stuck in a synchronous loop keeps its
 *   thread busy (and keeps the process from exiting by itself) until the
 *   loop ends, although the pool has moved on. Long computations that may
 *   be cancelled should `await` now and then.
 * - A Worker that dies (uncaught error or unhandled rejection in its global
 *   scope, `self.close()`, `Deno.exit()`) is replaced; the job it was
 *   running fails with `WorkerCrashed`, jobs it had not started run
 *   elsewhere. (An out-of-memory error in a Worker aborts the whole Deno
 *   process: V8 offers no per-Worker heap limit.)
 * - Workers get the pool's `permissions`, **none by default**; a job that
 *   needs more fails with Deno's permission error (`NotCapable`) and the
 *   pool stays up.
 *
 * - What a job posts on its Worker's own `postMessage` is ignored (logged
 *   once per Worker at debug level): the pool talks to its Workers on a
 *   private `MessagePort` that job code cannot reach. A Worker that sends
 *   the pool anything malformed there (only a subverted Worker script
 *   could) is terminated and replaced, the job it was running fails with
 *   `WorkerCrashed`, and the jobs it had not started run elsewhere.
 *
 * **What a job can and cannot do.** Jobs are code you chose to run, and
 * `permissions` bound what they can do to the system. Between jobs, the
 * pool guarantees less:
 * - A job cannot settle another job or make the pool accept an answer the
 *   Worker script did not send: the protocol port is held in a
 *   module-private binding, every builtin the script uses on it was
 *   captured before the first job ran (so replacing `MessagePort`,
 *   `EventTarget`, `Array` or `Object` prototype members, `Reflect`,
 *   `structuredClone`… later changes nothing), messages from the pool are
 *   never dispatched as events in the Worker, and `Deno[Deno.internal]`
 *   (which could rebuild the port from its resource id) is removed. Every
 *   answer is checked against the job the pool sent and the shared cell
 *   the Worker marked, so even a subverted Worker script can only touch
 *   the jobs sent to its own Worker.
 * - A job can misbehave for itself (hang, crash, return anything) and it
 *   can break the jobs that run **after it on the same Worker**: they share
 *   its realm, so a job that changes globals or prototypes (or leaves
 *   timers behind) changes what their code computes. Jobs on the other
 *   Workers and jobs that ran before it are out of its reach. It can also
 *   read and change the arguments of the jobs queued behind it on its
 *   Worker through such hooks.
 * - So a pool is one trust domain: give jobs that must not influence
 *   each other separate pools, or a Worker each (`workerPerJob: true`,
 *   at the cost of a Worker start, about 20 ms, per job).
 * - Sizes: a Worker's messages are deserialized by Deno before the pool
 *   sees them, so a job's result may be as large as the job makes it; the
 *   pool bounds the fields of the protocol (error names and texts).
 *
 * Flags: `--unstable-worker-options` (for the Worker permissions; without
 * it Deno exits when the pool starts a Worker, unless `permissions` is
 * `"inherit"`), and read permission for `src/io/thread_pool_worker.js` and
 * `src/io/_worker_channel_worker.js` (Deno checks it to load the Worker
 * script from a local file). With `deno compile`, add `--include` for
 * both.
 *
 * The Workers keep the process alive until `close()` (or the owning
 * scheduler's `finish()`, or `await using`).
 *
 * @example
 * ```ts
 * import { AsyncThreadPool, spawn } from "@denocos/denocos";
 *
 * await using pool = new AsyncThreadPool(2);
 * const fib = (n: number): number => {
 *   const f = (k: number): number => (k < 2 ? k : f(k - 1) + f(k - 2));
 *   return f(n);
 * };
 * const t = spawn(async () => await pool.run(fib, 25));
 * console.log(await t.finish()); // 75025
 * ```
 */
export class AsyncThreadPool implements AsyncDisposable {
  readonly #size: number;
  readonly #permissions: Deno.PermissionOptions;
  readonly #name: string;
  readonly #script: URL;
  readonly #maxQueue: number;
  readonly #perJob: boolean;
  readonly #scheduler: Scheduler;
  readonly #workers: PoolWorker[] = [];
  readonly #waiters: JobWaiters;
  readonly #idle = new WaitQueue();
  // Function ids: by function object, by source text; definitions by id.
  readonly #fnIds = new WeakMap<object, number>();
  readonly #srcIds = new Map<string, number>();
  readonly #defs: (string | [string, string])[] = [];
  // The queue of jobs not yet sent (an intrusive list).
  #head: Job | null = null;
  #tail: Job | null = null;
  #queued = 0;
  /** Jobs sent and not yet answered, over all Workers (abandoned ones included). */
  #running = 0;
  #flushQueued = false;
  #rr = 0;
  #closed = false;
  #broken: Error | null = null;

  /**
   * Starts `size` Workers.
   *
   * @param size how many Workers (default: `navigator.hardwareConcurrency`)
   * @param options permissions, queue limit, owning scheduler, Worker name
   */
  constructor(size: number = navigator.hardwareConcurrency, options?: ThreadPoolOptions) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`AsyncThreadPool: 'size' must be an integer >= 1, got ${size}`);
    }
    const maxQueue = options?.maxQueue ?? 1_000_000;
    if (!(maxQueue >= 1)) {
      throw new RangeError(`AsyncThreadPool: 'maxQueue' must be >= 1, got ${maxQueue}`);
    }
    this.#size = size;
    this.#maxQueue = maxQueue;
    this.#permissions = options?.permissions ?? "none";
    this.#name = options?.name ?? "denocos-pool";
    this.#perJob = options?.workerPerJob === true;
    this.#script = (options as { [workerScript]?: URL } | undefined)?.[workerScript] ?? WORKER_URL;
    this.#waiters = new JobWaiters((job) => this.#abandon(job));
    for (let i = 0; i < size; i++) this.#workers.push(this.#spawn(i));
    this.#scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.#scheduler.adopt(this);
  }

  /** How many Workers the pool keeps. */
  get size(): number {
    return this.#size;
  }

  /** Jobs submitted and not yet ended: queued plus running. */
  get pending(): number {
    return this.#queued + this.#running;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `fn(...args)` in a Worker and resolves with its (awaited) result.
   * `fn` travels as source text: it must not use anything from outside its
   * own body.
   *
   * @example
   * ```ts
   * import { AsyncThreadPool } from "@denocos/denocos/io";
   *
   * await using pool = new AsyncThreadPool(1);
   * console.log(await pool.run((a: number, b: number) => a * b, 6, 7)); // 42
   * ```
   */
  run<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Awaited<R>> {
    return this.#submit(this.#fnId(fn), args, undefined) as Promise<Awaited<R>>;
  }

  /**
   * `run` with the arguments as an array and per-job `{ timeout, signal }`.
   *
   * @example
   * ```ts
   * import { AsyncThreadPool } from "@denocos/denocos/io";
   *
   * await using pool = new AsyncThreadPool(1);
   * const hang = () => new Promise<never>(() => {});
   * await pool.apply(hang, [], { timeout: 50 }).catch((e) => console.log(e.name)); // "TimeoutError"
   * console.log(await pool.apply((x: number) => x + 1, [1])); // 2
   * ```
   */
  apply<A extends unknown[], R>(
    fn: (...args: A) => R,
    args: A,
    options?: JobOptions,
  ): Promise<Awaited<R>> {
    return this.#submit(this.#fnId(fn), args, options) as Promise<Awaited<R>>;
  }

  /**
   * Imports `module` in a Worker (once per Worker) and resolves with the
   * (awaited) result of its export `exportName` called with `args`.
   * `module` must be an absolute URL (`new URL("./m.ts", import.meta.url)`),
   * and the pool's permissions must let the Worker read it.
   *
   * @example
   * ```ts ignore
   * const url = new URL("./jobs.ts", import.meta.url);
   * await using pool = new AsyncThreadPool(2, { permissions: { read: [url] } });
   * console.log(await pool.runModule(url, "square", 7)); // 49
   * ```
   */
  runModule<R = unknown>(module: string | URL, exportName: string, ...args: unknown[]): Promise<R> {
    return this.applyModule<R>(module, exportName, args);
  }

  /**
   * `runModule` with the arguments as an array and per-job `{ timeout, signal }`.
   *
   * @example
   * ```ts ignore
   * const sum = await pool.applyModule<number>(url, "sum", [[1, 2, 3]], { timeout: 1000 });
   * ```
   */
  applyModule<R = unknown>(
    module: string | URL,
    exportName: string,
    args: unknown[],
    options?: JobOptions,
  ): Promise<R> {
    let url: string;
    try {
      url = new URL(module).href;
    } catch {
      return Promise.reject(
        new TypeError(
          `runModule: 'module' must be an absolute URL (new URL("./m.ts", import.meta.url)), got ${module}`,
        ),
      );
    }
    if (typeof exportName !== "string") {
      return Promise.reject(new TypeError("runModule: 'exportName' must be a string"));
    }
    const key = `\0${url}#${exportName}`;
    let id = this.#srcIds.get(key);
    if (id === undefined) {
      id = this.#defs.length;
      this.#defs.push([url, exportName]);
      this.#srcIds.set(key, id);
    }
    return this.#submit(id, args, options) as Promise<R>;
  }

  /**
   * Resolves `true` once no job is queued or running, `false` on timeout.
   *
   * @example
   * ```ts
   * import { AsyncThreadPool } from "@denocos/denocos/io";
   *
   * await using pool = new AsyncThreadPool(2);
   * for (let i = 0; i < 10; i++) pool.run((x: number) => x * x, i);
   * console.log(await pool.join({ timeout: 10_000 })); // true
   * ```
   */
  join(options?: WaitOptions): Promise<boolean> {
    const task = currentTask();
    const err = pendingError(task);
    if (err !== undefined) return Promise.reject(err);
    if (this.#queued === 0 && this.#running === 0) {
      const bad = waitOptionsError(options);
      return bad !== undefined ? Promise.reject(bad) : Promise.resolve(true);
    }
    return park(this.#idle, task, options, false);
  }

  /**
   * Terminates the Workers. Queued and running jobs, and jobs submitted
   * later, reject with `PoolClosed`. Idempotent. Call `join()` first to let
   * the submitted jobs finish.
   *
   * @example
   * ```ts
   * import { AsyncThreadPool } from "@denocos/denocos/io";
   *
   * const pool = new AsyncThreadPool(1);
   * const job = pool.run(() => 1);
   * await pool.join();
   * await pool.close();
   * console.log(await job); // 1
   * ```
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#scheduler.disown(this);
    this.#failAll(new PoolClosed());
    this.#idle.settleAll(true);
    return Promise.resolve();
  }

  /** `await using pool = new AsyncThreadPool(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- submitting ---

  #fnId(fn: unknown): number {
    if (typeof fn !== "function") return -1;
    let id = this.#fnIds.get(fn);
    if (id !== undefined) return id;
    const src = Function.prototype.toString.call(fn);
    if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) return -2;
    id = this.#srcIds.get(src);
    if (id === undefined) {
      id = this.#defs.length;
      this.#defs.push(src);
      this.#srcIds.set(src, id);
    }
    this.#fnIds.set(fn, id);
    return id;
  }

  #submit(fnId: number, args: unknown[], options: JobOptions | undefined): Promise<unknown> {
    if (fnId < 0) {
      return Promise.reject(
        new TypeError(
          fnId === -1
            ? "run: 'fn' must be a function"
            : "run: a native or bound function cannot be shipped to a Worker; pass a self-contained function",
        ),
      );
    }
    if (this.#closed) return Promise.reject(new PoolClosed());
    if (this.#broken !== null) return Promise.reject(this.#broken);
    if (this.#queued >= this.#maxQueue) {
      return Promise.reject(
        new RangeError(`the thread pool's queue is full (${this.#maxQueue} jobs waiting)`),
      );
    }
    const task = currentTask();
    const job = new Job(fnId, args);
    let p: Promise<unknown>;
    if (task === undefined && options === undefined) {
      p = new Promise(capture);
      job.resolve = capturedResolve;
      job.reject = capturedReject;
    } else {
      const err = pendingError(task);
      if (err !== undefined) return Promise.reject(err);
      const waiters = this.#waiters;
      waiters.last = null;
      p = park(waiters, task, options, TIMEOUT_REJECTS, job);
      // Not parked (a bad or zero timeout) or already given up (an aborted signal).
      if (waiters.last === null || job.state === J_ABANDONED) return p;
      job.waiter = waiters.last;
    }
    this.#enqueue(job);
    return p;
  }

  #enqueue(job: Job): void {
    job.state = J_QUEUED;
    job.prev = this.#tail;
    job.next = null;
    if (this.#tail === null) this.#head = job;
    else this.#tail.next = job;
    this.#tail = job;
    this.#queued++;
    this.#scheduleFlush();
  }

  /** Puts `jobs` (in order) back at the front of the queue. */
  #requeueFront(jobs: Job[]): void {
    for (let i = jobs.length - 1; i >= 0; i--) {
      const job = jobs[i];
      job.state = J_QUEUED;
      job.worker = null;
      job.prev = null;
      job.next = this.#head;
      if (this.#head === null) this.#tail = job;
      else this.#head.prev = job;
      this.#head = job;
      this.#queued++;
    }
    if (jobs.length > 0) this.#scheduleFlush();
  }

  #unlink(job: Job): void {
    if (job.prev === null) this.#head = job.next;
    else job.prev.next = job.next;
    if (job.next === null) this.#tail = job.prev;
    else job.next.prev = job.prev;
    job.prev = job.next = null;
    this.#queued--;
  }

  #scheduleFlush(): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Sends queued jobs to Workers with room, round robin, one message per Worker. */
  #flush = (): void => {
    this.#flushQueued = false;
    if (this.#closed || this.#head === null) return;
    const ws = this.#workers;
    const n = ws.length;
    let k = this.#rr;
    for (let job = this.#head; job !== null; job = this.#head) {
      let w: PoolWorker | null = null;
      for (let t = 0; t < n; t++) {
        const c = ws[k];
        k = k + 1 === n ? 0 : k + 1;
        if (this.#hasRoom(c)) {
          w = c;
          break;
        }
      }
      if (w === null) break;
      this.#unlink(job);
      this.#assign(w, job);
    }
    this.#rr = k;
    for (let i = 0; i < n; i++) if (ws[i].msg !== null) this.#post(ws[i]);
  };

  #hasRoom(w: PoolWorker): boolean {
    return w.ready && !w.dead && w.doomed === null && w.inflight < WINDOW &&
      w.msgJobs < BATCH && w.slots[(w.seq + 1) & MASK] === null &&
      !(this.#perJob && w.used);
  }

  /** Gives `job` a cell on `w` and adds it to `w`'s message being built. */
  #assign(w: PoolWorker, job: Job): void {
    const seq = ++w.seq;
    const idx = seq & MASK;
    job.state = J_SENT;
    job.seq = seq;
    job.worker = w;
    w.used = true;
    w.slots[idx] = job;
    w.inflight++;
    this.#running++;
    Atomics.store(w.cells, idx, tag(seq, PENDING));
    let msg = w.msg;
    if (msg === null) msg = w.msg = [null];
    const id = job.fnId;
    if (w.known[id] !== 1) {
      w.known[id] = 1;
      if (msg[0] === null) msg[0] = [];
      (msg[0] as unknown[]).push(id, this.#defs[id]);
    }
    msg.push(seq, id, job.args);
    w.msgJobs++;
  }

  #post(w: PoolWorker): void {
    const msg = w.msg!;
    w.msg = null;
    w.msgJobs = 0;
    try {
      w.channel.post(msg);
    } catch {
      // Some job's arguments cannot be cloned: send one job at a time and
      // fail only the ones that cannot go.
      if (msg[0] !== null) w.channel.post([msg[0]]);
      for (let i = 1; i < msg.length; i += 3) {
        try {
          w.channel.post([null, msg[i], msg[i + 1], msg[i + 2]]);
        } catch (e) {
          const seq = msg[i] as number;
          const job = w.slots[seq & MASK]!;
          if (this.#takeBack(w, job)) this.#fail(job, e);
        }
      }
      if (this.#perJob) this.#afterChange(w);
    }
  }

  /**
   * Takes a sent job back from `w` if it has not started there (the cell
   * moves from PENDING to CANCELLED, so the Worker will skip it).
   */
  #takeBack(w: PoolWorker, job: Job): boolean {
    const idx = job.seq & MASK;
    const pending = tag(job.seq, PENDING);
    if (Atomics.compareExchange(w.cells, idx, pending, tag(job.seq, CANCELLED)) !== pending) {
      return false;
    }
    w.slots[idx] = null;
    w.inflight--;
    this.#running--;
    job.worker = null;
    return true;
  }

  // --- settling ---

  #ok(job: Job, value: unknown): void {
    job.state = J_SETTLED;
    if (job.waiter !== null) job.waiter.settle(value);
    else job.resolve!(value);
  }

  #fail(job: Job, error: unknown): void {
    job.state = J_SETTLED;
    if (job.waiter !== null) job.waiter.fail(error);
    else job.reject!(error);
  }

  /** The caller stopped waiting (terminated, aborted, timed out): cancel the job. */
  #abandon(job: Job): void {
    const state = job.state;
    job.state = J_ABANDONED;
    if (state === J_QUEUED) {
      this.#unlink(job);
    } else if (state === J_SENT) {
      const w = job.worker!;
      if (this.#takeBack(w, job)) {
        this.#afterChange(w);
      } else if (Atomics.load(w.cells, job.seq & MASK) === tag(job.seq, STARTED)) {
        // Running: the only way to stop it is to terminate its Worker.
        this.#condemn(w, job);
      }
      // Otherwise it has just finished; its answer will be ignored.
    }
    this.#checkIdle();
  }

  /** `w` must go because `job` runs on it and was cancelled. */
  #condemn(w: PoolWorker, job: Job): void {
    if (w.doomed !== null || w.dead) return;
    w.doomed = job;
    // Jobs it has not started go elsewhere.
    const back: Job[] = [];
    for (let s = w.seq; s > job.seq; s--) {
      const j = w.slots[s & MASK];
      if (j === null || j.seq !== s || j.state !== J_SENT) continue;
      if (this.#takeBack(w, j)) back.push(j);
    }
    back.reverse();
    this.#requeueFront(back);
    this.#checkDoom(w);
  }

  /**
   * Terminates a condemned Worker once it owes no answer but the cancelled
   * job's: answers it sent before starting that job are still on their way
   * and would be lost to `terminate()`.
   */
  #checkDoom(w: PoolWorker): void {
    const job = w.doomed;
    if (job === null || w.dead) return;
    if (w.inflight === 1 && w.slots[job.seq & MASK] === job) this.#replace(w);
  }

  /** A message on `w`'s private channel, already shape-checked by `checkMessage`. */
  #onMessage(w: PoolWorker, d: unknown[]): void {
    if (w.dead) return;
    const seq = d[0] as number;
    if (seq < 0) {
      this.#onControl(w, seq, d[1] as number, d[2]);
      return;
    }
    const idx = seq & MASK;
    const job = w.slots[idx];
    // An honest Worker answers only jobs it was sent and started, once each,
    // after marking them DONE.
    if (job === null || job.seq !== seq) {
      w.channel.fail(`an answer for job ${seq}, which it is not running`);
      return;
    }
    if (Atomics.load(w.cells, idx) !== tag(seq, DONE)) {
      w.channel.fail(`an answer for job ${seq}, which it has not marked done`);
      return;
    }
    w.slots[idx] = null;
    w.inflight--;
    this.#running--;
    if (job.state === J_SENT) {
      const status = d[1];
      if (status === OK) this.#ok(job, d[2]);
      else if (status === ERROR) this.#fail(job, revive(d[2] as RemoteError));
      else this.#fail(job, d[2]);
    } else if (w.doomed === job) {
      // The cancelled job ended by itself: the Worker can stay.
      w.doomed = null;
    }
    this.#afterChange(w);
  }

  /** After `w` has fewer jobs: refill it, let it steal, wake `join`. */
  #afterChange(w: PoolWorker): void {
    if (this.#perJob && w.used && w.inflight === 0 && !w.dead) {
      // Its one job is over (answered or taken back): a fresh Worker takes its place.
      this.#replace(w);
      return;
    }
    if (w.doomed !== null) this.#checkDoom(w);
    else if (this.#queued > 0) {
      if (w.inflight <= LOW_WATER) this.#scheduleFlush();
    } else if (w.inflight === 0) this.#steal(w);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#queued === 0 && this.#running === 0 && this.#idle.length > 0) {
      this.#idle.settleAll(true);
    }
  }

  /** `thief` is idle and nothing is queued: take half the unstarted jobs of the busiest Worker. */
  #steal(thief: PoolWorker): void {
    if (!this.#hasRoom(thief)) return;
    let victim: PoolWorker | null = null;
    for (const c of this.#workers) {
      if (c !== thief && !c.dead && c.doomed === null && c.inflight > 1) {
        if (victim === null || c.inflight > victim.inflight) victim = c;
      }
    }
    if (victim === null) return;
    const want = victim.inflight >> 1;
    const taken: Job[] = [];
    const low = Math.max(1, victim.seq - WINDOW + 1);
    for (let s = victim.seq; s >= low && taken.length < want; s--) {
      const j = victim.slots[s & MASK];
      if (j === null || j.seq !== s || j.state !== J_SENT) continue;
      // Once one has started, every older one has too.
      if (!this.#takeBack(victim, j)) break;
      taken.push(j);
    }
    if (taken.length === 0) return;
    for (let i = taken.length - 1; i >= 0; i--) {
      if (!this.#hasRoom(thief)) {
        // Rare: no room after all; queue the rest in order.
        this.#requeueFront(taken.slice(0, i + 1).reverse());
        break;
      }
      this.#assign(thief, taken[i]);
    }
    if (thief.msg !== null) this.#post(thief);
  }

  // --- Workers coming and going ---

  #spawn(index: number): PoolWorker {
    const cells = new Int32Array(new SharedArrayBuffer(WINDOW * 4));
    const w = new PoolWorker(cells);
    w.channel = new WorkerChannel(this.#script, {
      message: (d) => this.#onMessage(w, d),
      error: (e) => this.#onError(w, e),
      violation: (reason) => this.#violated(w, reason),
    }, {
      name: `${this.#name}-${index}`,
      permissions: this.#permissions,
      init: { cells: cells.buffer, mask: MASK },
      maxLength: 3,
      check: checkMessage,
    });
    return w;
  }

  #onControl(w: PoolWorker, kind: number, status: number, info: unknown): void {
    if (kind === READY) {
      if (w.ready) {
        w.channel.fail("a second READY");
        return;
      }
      w.ready = true;
      if (this.#queued > 0) this.#scheduleFlush();
      else this.#steal(w);
      return;
    }
    const what = kind === CRASH ? "crashed" : "closed itself";
    this.#crashed(w, what, status === ERROR ? revive(info as RemoteError) : info);
  }

  /** `w` broke the protocol (its channel has terminated it already). */
  #violated(w: PoolWorker, reason: string): void {
    if (!w.ready) {
      this.#brokenPool(`a Worker broke the protocol before it was ready: ${reason}`);
      return;
    }
    this.#crashed(
      w,
      "broke the thread pool's protocol and was terminated",
      new Error(`protocol violation: ${reason}`),
    );
  }

  #onError(w: PoolWorker, e: ErrorEvent): void {
    // Never let a Worker's error take the whole process down.
    e.preventDefault();
    if (w.dead || this.#closed) return;
    if (!w.ready) {
      this.#brokenPool(e.message);
      return;
    }
    // The Worker's own report (sent before this event) says which answers
    // came before the crash; give it a moment to arrive.
    if (w.crashTimer === undefined) {
      const info = new Error(e.message);
      w.crashTimer = setTimeout(() => this.#crashed(w, "crashed", info), CRASH_GRACE);
    }
  }

  /**
   * `w` died: jobs it had not started are sent again (first in line), the
   * job it was running fails with `WorkerCrashed`, and a new Worker takes
   * its place.
   */
  #crashed(w: PoolWorker, what: string, cause: unknown): void {
    if (w.dead || this.#closed) return;
    const reason = describeRemote(cause);
    const again: Job[] = [];
    const low = Math.max(1, w.seq - WINDOW + 1);
    for (let s = low; s <= w.seq; s++) {
      const job = w.slots[s & MASK];
      if (job === null || job.seq !== s) continue;
      if (job.state === J_SENT && this.#takeBack(w, job)) {
        again.push(job);
        continue;
      }
      w.slots[s & MASK] = null;
      w.inflight--;
      this.#running--;
      if (job.state === J_SENT) {
        this.#fail(
          job,
          new WorkerCrashed(`the Worker running this job ${what}: ${reason}`, { cause }),
        );
      }
    }
    this.#replace(w);
    this.#requeueFront(again);
    this.#checkIdle();
  }

  /** Terminates `w` and starts a new Worker in its place. */
  #replace(w: PoolWorker): void {
    this.#retire(w);
    // Whatever it still owed (only abandoned jobs by now) is dropped.
    for (let i = 0; i < WINDOW; i++) {
      const job = w.slots[i];
      if (job === null) continue;
      w.slots[i] = null;
      this.#running--;
      if (job.state === J_SENT) {
        this.#fail(job, new WorkerCrashed("the Worker running this job was replaced"));
      }
    }
    w.inflight = 0;
    if (this.#closed) return;
    const i = this.#workers.indexOf(w);
    if (i >= 0) this.#workers[i] = this.#spawn(i);
    this.#checkIdle();
  }

  #retire(w: PoolWorker): void {
    w.dead = true;
    if (w.crashTimer !== undefined) clearTimeout(w.crashTimer);
    w.crashTimer = undefined;
    w.channel.close();
  }

  /** A Worker could not even start: nothing will work, so every job fails. */
  #brokenPool(message: string): void {
    this.#broken = new WorkerCrashed(`the thread pool's Workers cannot start: ${message}`);
    this.#failAll(this.#broken);
  }

  #failAll(error: Error): void {
    for (let job = this.#head; job !== null; job = this.#head) {
      this.#unlink(job);
      this.#fail(job, error);
    }
    for (const w of this.#workers) {
      for (let i = 0; i < WINDOW; i++) {
        const job = w.slots[i];
        if (job === null) continue;
        w.slots[i] = null;
        this.#running--;
        if (job.state === J_SENT) this.#fail(job, error);
      }
      w.inflight = 0;
      if (!w.dead) this.#retire(w);
    }
    this.#checkIdle();
  }
}
