/**
 * `Task`: a lightweight unit of concurrency with its own mailbox, in the
 * style of pycos tasks and Erlang processes.
 *
 * A task is an async function whose first parameter is the task itself.
 * Its waits (`receive`, `sleep`, and every primitive in this package) are
 * interruptible: `terminate`, `throw` and `hotSwap` act at the task's current
 * or next wait, which is how a cooperative task is stopped or replaced.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { currentTask, taskStorage } from "./context.ts";
import { MailboxFull, TaskEnded, TaskTerminated } from "./errors.ts";
import { HotSwap } from "./errors.ts";
import { MonitorStatus, type MonitorStatusType } from "./monitor_status.ts";
import type { WaitOptions } from "./options.ts";
import { RingBuffer } from "./ring_buffer.ts";
import { Scheduler, schedulerInternals } from "./scheduler.ts";
import {
  installTaskWaitHooks,
  park,
  pendingError,
  TIMEOUT_REJECTS,
  type Waiter,
  WaitQueue,
} from "./wait.ts";
import { timeoutError, waitOptionsError } from "./options.ts";
import type { Location } from "./location.ts";
import { reportUncaught } from "./uncaught.ts";
import { remoteEndpoint, type RemoteReference } from "./remote_ref.ts";

const logger = getLogger(["denocos", "task"]);

/**
 * The states a task goes through; the last three are final.
 *
 * @example
 * ```ts
 * import { spawn, type TaskState } from "@denocos/denocos";
 *
 * const t = spawn((task) => task.sleep());
 * const before: TaskState = t.state; // "ready": it starts at the next microtask
 * t.terminate();
 * await t.finish().catch(() => {});
 * console.log(before, t.state); // "ready" "terminated"
 * ```
 */
export type TaskState =
  | "ready"
  | "running"
  | "suspended"
  | "receiving"
  | "finished"
  | "failed"
  | "terminated";

/**
 * The function a task runs: it gets the task first, then the spawn arguments.
 *
 * @example
 * ```ts
 * import { spawn, type TaskFunction } from "@denocos/denocos";
 *
 * const echo: TaskFunction<void, [string]> = (_task, word) => console.log(word);
 * await spawn(echo, "hi").finish();
 * ```
 */
// deno-lint-ignore no-explicit-any
export type TaskFunction<R = unknown, A extends any[] = any[]> = (
  task: Task<R>,
  ...args: A
) => R | Promise<R>;

/**
 * Options for `receive`.
 *
 * @example
 * ```ts
 * import { spawn } from "@denocos/denocos";
 *
 * const t = spawn((task) => task.receive({ timeout: 10, alarmValue: "none" }));
 * console.log(await t.finish()); // "none"
 * ```
 */
export interface ReceiveOptions<A = unknown> extends WaitOptions {
  /** What a timed-out `receive` resolves to (default `undefined`). */
  alarmValue?: A;
}

/**
 * Options for `Task.locate` and `Scheduler.locate`.
 *
 * @example
 * ```ts
 * import { Scheduler, Task } from "@denocos/denocos";
 *
 * const found = await Task.locate("nobody", { scheduler: Scheduler.default(), timeout: 10 });
 * console.log(found); // undefined
 * ```
 */
export interface LocateOptions {
  /** The scheduler whose registry is searched (default: the default scheduler). */
  scheduler?: Scheduler;
  /** Search only this peer (needs the network layer); `null` = this process. */
  location?: Location | null;
  /** How long to search, in milliseconds. */
  timeout?: number;
}

// Task states, as small integers so hot paths compare numbers. SUSPENDED
// waits on other primitives only; SLEEPING and RECEIVING are the task's own
// wait (at most one), which may run alongside others.
const READY = 0, RUNNING = 1, SUSPENDED = 2, SLEEPING = 3, RECEIVING = 4;
const FINISHED = 5, FAILED = 6, TERMINATED = 7;
const STATE_NAMES: readonly TaskState[] = [
  "ready",
  "running",
  "suspended",
  "suspended",
  "receiving",
  "finished",
  "failed",
  "terminated",
];

/** Whether a task in `state` is in its own sleep or receive. */
function ownWait(state: number): boolean {
  return state === SLEEPING || state === RECEIVING;
}

// A `Waiter`'s kind: SLEEPING or RECEIVING for the task's own timed waits,
// K_OTHER for every primitive's.
const K_OTHER = 0;

// `Task.throw`'s error slot when no error is pending (any value can be thrown).
const NO_THROW: unique symbol = Symbol("denocos.noThrow");

interface SwapRequest {
  // deno-lint-ignore no-explicit-any
  fn: (...args: any[]) => unknown;
  args: unknown[];
  resolve: (accepted: boolean) => void;
  thrown: boolean;
}

// `Task`'s #flags.
const ATTENTION = 1, DAEMON = 2, SWAPPABLE = 4;

/**
 * What a task needs only once it is named, registered, monitored, waited
 * for, terminated, thrown at or swapped: kept apart so that the many tasks
 * that never are carry one field for all of it.
 */
class TaskRare {
  /** A name set by the application (else the function's name is used). */
  name: string | null = null;
  terminated: TaskTerminated | null = null;
  thrown: unknown = NO_THROW;
  swap: SwapRequest | null = null;
  monitors: Task[] | null = null;
  finishers: WaitQueue | null = null;
  controller: AbortController | null = null;
  registeredAs: string | null = null;
}

/** A task's queue of messages, with the bytes of its sized messages (`mailboxBytes`). */
class Mailbox extends RingBuffer<unknown> {
  bytes = 0;
}

/**
 * The size a mailbox charges for `message`: the bytes of an `ArrayBuffer`
 * (or shared one) or of a view on one, the length of a string; 0 for any
 * other value, whose size cannot be known without walking it.
 */
function sizeOf(message: unknown): number {
  if (typeof message === "string") return message.length;
  if (typeof message !== "object" || message === null) return 0;
  if (ArrayBuffer.isView(message)) return message.byteLength;
  if (message instanceof ArrayBuffer) return message.byteLength;
  if (typeof SharedArrayBuffer !== "undefined" && message instanceof SharedArrayBuffer) {
    return message.byteLength;
  }
  return 0;
}

/**
 * Set by `Scheduler.spawn` so `new Task` lands on that scheduler; otherwise
 * a task spawned inside a task joins its scheduler, else the default one.
 */
let spawningOn: Scheduler | undefined;
/** Set by `spawn` and `Scheduler.spawn`: the arguments array, handed over. */
let spawningArgs: unknown[] | undefined;

/**
 * Hooks of the task module for the scheduler and the layers above the core
 * (through `_internal.ts`). Set when the `Task` class is defined; used only
 * when called, never while the modules load (see scheduler.ts's import).
 *
 * @example
 * ```ts ignore
 * taskInternals.notify(watcher, new MonitorStatus(remoteTask, "unreachable", error));
 * ```
 */
export interface TaskInternals {
  /** Creates a task on `scheduler` (what `Scheduler.spawn` does). */
  spawnOn(scheduler: Scheduler, fn: TaskFunction, args: unknown[]): Task;
  /** Runs a ready task in its context frame (the scheduler's drain loop). */
  start(t: Task): void;
  /**
   * Queues a monitor status for `watcher` past its mailbox limit (as local
   * monitors are), or hands it over if it waits in `receive`; ignored when
   * the watcher has ended. For remote monitors ("unreachable" included).
   */
  notify(watcher: Task, status: MonitorStatus): void;
  /** The task's slot in its scheduler's live list (the scheduler's bookkeeping). */
  slot(t: Task): number;
  /** Sets that slot. */
  setSlot(t: Task, slot: number): void;
}

/**
 * See `TaskInternals`.
 *
 * @example
 * ```ts ignore
 * taskInternals.start(task);
 * ```
 */
export let taskInternals: TaskInternals;

let startTask: (t: Task) => void;

// `sleep(0)` yields through a microtask, which is cheap but lets no timer or
// I/O callback run. So that a task spinning on `sleep(0)` cannot starve them
// (pycos polls I/O every round), every 64th yield checks the clock and, if
// 10 ms passed since the last such pause, waits one macrotask turn.
let yields = 0;
let lastMacroTurn = 0;

function yieldTurn<T>(value: T): Promise<T> {
  if ((++yields & 63) !== 0) return Promise.resolve(value);
  const now = performance.now();
  if (now - lastMacroTurn < 10) return Promise.resolve(value);
  return new Promise((resolve) =>
    setTimeout(() => {
      lastMacroTurn = performance.now();
      resolve(value);
    }, 0)
  );
}

let runStart: (t: Task) => void;
let onTaskResult: (value: unknown) => void;
let onTaskError: (error: unknown) => void;

let takePending: (t: Task) => unknown;

// One shared promise executor for untimed self-waits instead of a closure each.
let capturing: Task;
let captureSelf: (resolve: (v: unknown) => void, reject: (e: unknown) => void) => void;

/**
 * A lightweight task: an async function plus a mailbox, scheduled
 * cooperatively. `new Task(fn, ...args)` and `spawn(fn, ...args)` both create
 * and schedule it; it starts at the next microtask.
 *
 * @example
 * ```ts
 * import { spawn } from "@denocos/denocos";
 *
 * const adder = spawn(async (task) => {
 *   let sum = 0;
 *   for (;;) {
 *     const n = await task.receive<number | null>();
 *     if (n === null) return sum;
 *     sum += n;
 *   }
 * });
 * adder.send(1);
 * adder.send(2);
 * adder.send(null);
 * console.log(await adder.finish()); // 3
 * ```
 */
export class Task<R = unknown> {
  /** Unique within its scheduler's incarnation; never reused. */
  readonly id: number;
  /** The scheduler that runs this task. */
  readonly scheduler: Scheduler;
  // Few fields, because every suspended task holds them (B1): what most
  // tasks never use lives in `#rare`, created on first need.
  // deno-lint-ignore no-explicit-any
  #fn: (...args: any[]) => unknown;
  /** The spawn arguments until the task starts; its result once it has ended. */
  #data: unknown;
  #state = READY;
  /** ATTENTION | DAEMON | SWAPPABLE. */
  #flags = 0;
  #mailbox: Mailbox | null = null;
  /**
   * The task's own sleep/receive wait: a `Waiter` when it has a timer or a
   * signal; for an untimed one (the common case) just the promise's resolve
   * function, which saves a `Waiter` and the reject function per suspended
   * task (failing it resolves it with a rejected promise).
   */
  #self: Waiter | ((value: unknown) => void) | null = null;
  /** Waits on other primitives (usually at most one). */
  #others: Waiter | Set<Waiter> | null = null;
  #rare: TaskRare | null = null;
  /** Where the scheduler keeps this task among its live ones. */
  #slot = -1;

  /**
   * Creates and schedules a task running `fn(task, ...args)`.
   *
   * @param fn the task's function; its first parameter is the task
   * @param args the remaining arguments
   */
  // deno-lint-ignore no-explicit-any
  constructor(fn: TaskFunction<R, any[]>, ...args: unknown[]) {
    // Taken first, so no failure below can leave it set for the next task.
    const on = spawningOn;
    const handed = spawningArgs;
    spawningOn = spawningArgs = undefined;
    if (typeof fn !== "function") {
      throw new TypeError(`spawn: 'fn' must be a function, got ${describe(fn)}`);
    }
    const scheduler = on ?? currentTask()?.scheduler ?? Scheduler.default();
    this.scheduler = scheduler;
    this.#fn = fn;
    // `spawn` hands its own rest array over instead of spreading it again.
    this.#data = handed ?? args;
    this.id = schedulerInternals.adopt(scheduler, this);
  }

  /** Defaults to the function's name (`task-<id>` for an anonymous one). */
  get name(): string {
    const given = this.#rare?.name;
    return given != null ? given : this.#fn.name || `task-${this.id}`;
  }

  set name(name: string) {
    this.#r().name = String(name);
  }

  /** The incarnation of the scheduler: with `id` and `location` it names this task uniquely. */
  get incarnation(): number {
    return this.scheduler.incarnation;
  }

  /** The peer this task runs on, or `null` before the network is started. */
  get location(): Location | null {
    return this.scheduler.location;
  }

  /** What the task is doing now. */
  get state(): TaskState {
    return STATE_NAMES[this.#state];
  }

  /** Whether the task has ended (finished, failed or terminated). */
  get done(): boolean {
    return this.#state >= FINISHED;
  }

  /** Whether the task is a daemon (not waited for by `join`). */
  get daemon(): boolean {
    return (this.#flags & DAEMON) !== 0;
  }

  /** How many messages wait in the mailbox. */
  get pending(): number {
    return this.#mailbox === null ? 0 : this.#mailbox.length;
  }

  /**
   * Aborts when the task is terminated, so `fetch` and other abortable
   * work the task started can stop too.
   */
  get signal(): AbortSignal {
    const rare = this.#r();
    if (rare.controller === null) {
      rare.controller = new AbortController();
      if (rare.terminated !== null) rare.controller.abort(rare.terminated);
    }
    return rare.controller.signal;
  }

  /**
   * Queues `message` in the mailbox; wakes the task only if it waits in
   * `receive`. Returns `false` (and drops the message) if the task has ended;
   * throws `MailboxFull` (and queues nothing) when the mailbox holds the
   * scheduler's `mailboxLimit` messages, or when a sized message (bytes,
   * string) would take its sized messages past `mailboxBytes`.
   */
  send(message: unknown): boolean {
    if (this.#state >= FINISHED) return false;
    if (this.#state === RECEIVING) this.#wake(message);
    else {
      const mb = this.#mailbox ??= new Mailbox();
      const scheduler = this.scheduler;
      if (mb.length >= scheduler.mailboxLimit) {
        throw new MailboxFull(this.name, scheduler.mailboxLimit);
      }
      // One typeof test for the common small values (numbers, plain objects
      // pay one more: the view check); only sized messages touch the count.
      const t = typeof message;
      if (t === "object" || t === "string") {
        const size = sizeOf(message);
        if (size > 0) {
          if (mb.length > 0 && mb.bytes + size > scheduler.mailboxBytes) {
            throw new MailboxFull(this.name, scheduler.mailboxBytes, "bytes");
          }
          mb.bytes += size;
        }
      }
      mb.push(message);
    }
    return true;
  }

  /**
   * Like `send`, but resolves with the number of recipients: `1` once the
   * message is in the mailbox, `0` if the task has ended (or, for a remote
   * task, when the time is up). Rejects with `MailboxFull` where `send`
   * throws it.
   */
  deliver(message: unknown, options?: WaitOptions): Promise<number> {
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    try {
      return Promise.resolve(this.send(message) ? 1 : 0);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The oldest queued message, or waits for one; an abort rejects with the
   * signal's reason. Without a timeout it resolves only with a message: `T`
   * (the type parameter only asserts what the caller expects to receive).
   */
  receive<T = unknown>(options?: ReceiveOptions & { timeout?: undefined }): Promise<T>;
  /**
   * With a timeout and an `alarmValue`, a timeout resolves `alarmValue`
   * (pycos semantics, never a `TimeoutError`): `T | A`. Give both type
   * arguments (`receive<number, null>(...)`); with `T` alone `A` is `unknown`.
   */
  receive<T = unknown, A = unknown>(
    options: ReceiveOptions<A> & { alarmValue: A },
  ): Promise<T | A>;
  /** With a timeout and no `alarmValue`, a timeout resolves `undefined`: `T | undefined`. */
  receive<T = unknown>(options: ReceiveOptions): Promise<T | undefined>;
  receive<T = unknown>(options?: ReceiveOptions): Promise<unknown> {
    if ((this.#flags & ATTENTION) !== 0) {
      const err = takePending(this);
      if (err !== undefined) return Promise.reject(err);
    }
    const mb = this.#mailbox;
    if (mb !== null && mb.length > 0) {
      if (options !== undefined) {
        const bad = waitOptionsError(options);
        if (bad !== undefined) return Promise.reject(bad);
      }
      const m = mb.shift();
      if (mb.bytes !== 0) mb.bytes -= sizeOf(m);
      return Promise.resolve(m);
    }
    if (ownWait(this.#state)) return Promise.reject(this.#busy());
    if (options === undefined || (options.timeout === undefined && options.signal === undefined)) {
      return this.#waitSelf(RECEIVING) as Promise<T>;
    }
    return park<unknown>(null, this, options, options.alarmValue, undefined, RECEIVING);
  }

  /**
   * Iterates received messages: `for await (const m of task.messages())`.
   * Each step is a `receive` with these options; a timeout ends the loop.
   */
  async *messages<T = unknown>(options?: WaitOptions): AsyncIterableIterator<T> {
    const timedOut = {};
    const opts = { ...options, alarmValue: timedOut };
    for (;;) {
      const m = await this.receive<T, typeof timedOut>(opts);
      if (m === timedOut) return;
      yield m as T;
    }
  }

  /**
   * Suspends the task until `resume(v)` (resolves `v`) or until `ms` have
   * passed (resolves `alarmValue`). Without `ms` only `resume` wakes it;
   * `sleep(0)` yields to other tasks (and, now and then, to timers and I/O).
   * Messages do **not** wake a sleeper. An abort of `options.signal` rejects
   * with its reason (at once if it has aborted already).
   */
  sleep<T = unknown>(ms?: number, alarmValue?: T, options?: { signal?: AbortSignal }): Promise<T> {
    if ((this.#flags & ATTENTION) !== 0) {
      const err = takePending(this);
      if (err !== undefined) return Promise.reject(err);
    }
    if (ms !== undefined) {
      const bad = timeoutError(ms, "sleep time");
      if (bad !== undefined) return Promise.reject(bad);
      if (ms === 0) {
        const signal = options?.signal;
        if (signal !== undefined && signal.aborted) return Promise.reject(signal.reason);
        return yieldTurn(alarmValue as T);
      }
    }
    if (ownWait(this.#state)) return Promise.reject(this.#busy());
    const signal = options?.signal;
    if (ms === undefined && signal === undefined) return this.#waitSelf(SLEEPING) as Promise<T>;
    return park<T>(
      null,
      this,
      ms === undefined ? { signal } : { timeout: ms, signal },
      alarmValue as T,
      undefined,
      SLEEPING,
    );
  }

  /** Same as `sleep` (pycos's name). */
  suspend<T = unknown>(
    ms?: number,
    alarmValue?: T,
    options?: { signal?: AbortSignal },
  ): Promise<T> {
    return this.sleep(ms, alarmValue, options);
  }

  /**
   * Wakes the task if it is suspended in `sleep`, which then resolves
   * `value`. Otherwise the call is ignored and returns `false` (lossy, as in
   * pycos: use messages or an `Event` for wake-ups that must not be lost).
   */
  resume(value?: unknown): boolean {
    if (this.#state !== SLEEPING) {
      logger.debug("ignoring resume for task {name}: {state}", {
        name: this.name,
        state: this.state,
      });
      return false;
    }
    this.#wake(value);
    return true;
  }

  /** Marks the task as a daemon (or not): `join` does not wait for daemons. */
  setDaemon(flag = true): void {
    if (this.#state >= FINISHED || this.daemon === flag) return;
    this.#flags = flag ? this.#flags | DAEMON : this.#flags & ~DAEMON;
    schedulerInternals.daemonChanged(this.scheduler, flag);
  }

  /**
   * Stops the task: its current (or next) wait on any denocos primitive
   * rejects with `TaskTerminated`, as does every later wait, so `finally`
   * blocks run on the way out; `signal` aborts. Returns `false` if the task
   * had already ended.
   */
  terminate(): boolean {
    if (this.#state >= FINISHED) return false;
    const rare = this.#r();
    if (rare.terminated !== null) return true;
    const err = new TaskTerminated(this.name);
    rare.terminated = err;
    this.#flags |= ATTENTION;
    rare.controller?.abort(err);
    this.#interrupt();
    return true;
  }

  /**
   * Makes the task's current (or next) wait reject with `error`. Returns
   * `false` if the task has ended.
   */
  throw(error: unknown): boolean {
    if (this.#state >= FINISHED) return false;
    this.#r().thrown = error;
    this.#flags |= ATTENTION;
    this.#interrupt();
    return true;
  }

  /**
   * Resolves with the task's return value once it ends; rejects with its
   * error (`TaskTerminated` if it was terminated), or with `TimeoutError`.
   */
  finish(options?: WaitOptions): Promise<R> {
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    if (this.#state >= FINISHED) {
      return this.#state === FINISHED
        ? Promise.resolve(this.#data as R)
        : Promise.reject(this.#data);
    }
    const caller = currentTask();
    const err = pendingError(caller);
    if (err !== undefined) return Promise.reject(err);
    return park<R>(this.#r().finishers ??= new WaitQueue(), caller, options, TIMEOUT_REJECTS);
  }

  /**
   * Makes this task a monitor of `other`: when `other` ends, this task
   * receives a `MonitorStatus` message (at once if it has ended already).
   * `other` may be a remote task reference (`RemoteReference`); if its peer
   * is lost, the status says `"unreachable"`.
   */
  monitor(other: Task | RemoteReference): void {
    if (other instanceof Task) {
      other.#addMonitor(this);
      return;
    }
    const remote = remoteEndpoint(other);
    if (remote === undefined) {
      throw new TypeError(`monitor: 'other' must be a Task, got ${describe(other)}`);
    }
    remote.addMonitor(this);
  }

  /**
   * Says whether the task accepts `hotSwap` at its waits. A pending swap is
   * delivered at the next wait once this is `true`.
   */
  hotSwappable(flag = true): void {
    if (!flag) {
      this.#flags &= ~SWAPPABLE;
      return;
    }
    this.#flags |= SWAPPABLE;
    if (this.#rare?.swap != null) {
      this.#flags |= ATTENTION;
      this.#interrupt();
    }
  }

  /**
   * Asks the task to restart with `fn(task, ...args)`, keeping its mailbox
   * and identity. At its next wait (at once if it waits now) a swappable task
   * gets `HotSwap`; letting it propagate accepts. Resolves `true` when the
   * task restarted, `false` when it swallowed the `HotSwap`, ended, or a
   * newer swap replaced this one.
   */
  // deno-lint-ignore no-explicit-any
  hotSwap(fn: TaskFunction<R, any[]>, ...args: unknown[]): Promise<boolean> {
    if (typeof fn !== "function") {
      return Promise.reject(new TypeError(`hotSwap: 'fn' must be a function, got ${describe(fn)}`));
    }
    if (this.#state >= FINISHED) return Promise.reject(new TaskEnded(this.name));
    const rare = this.#r();
    rare.swap?.resolve(false);
    return new Promise<boolean>((resolve) => {
      rare.swap = { fn, args, resolve, thrown: false };
      if ((this.#flags & SWAPPABLE) !== 0) {
        this.#flags |= ATTENTION;
        this.#interrupt();
      }
    });
  }

  /**
   * Registers the task under `name` (default: its name) in its scheduler, so
   * `locate` finds it. Returns `false` if another live task holds the name.
   */
  register(name: string = this.name): boolean {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`register: 'name' must be a non-empty string, got ${describe(name)}`);
    }
    if (this.#state >= FINISHED) return false;
    if (!schedulerInternals.registerTask(this.scheduler, name, this)) return false;
    const rare = this.#r();
    if (rare.registeredAs !== null && rare.registeredAs !== name) this.unregister();
    rare.registeredAs = name;
    return true;
  }

  /** Removes the task's registration; returns `false` if it had none. */
  unregister(): boolean {
    const rare = this.#rare;
    const name = rare === null ? null : rare.registeredAs;
    if (name === null) return false;
    rare!.registeredAs = null;
    schedulerInternals.unregisterTask(this.scheduler, name, this);
    return true;
  }

  /**
   * Finds a registered task by name: in `options.scheduler` (default: the
   * default scheduler), then on its peers once the network layer runs.
   */
  static locate(name: string, options?: LocateOptions): Promise<Task | undefined> {
    return (options?.scheduler ?? Scheduler.default()).locate(name, options);
  }

  /** A short description for logs. */
  toString(): string {
    return `Task(${this.name}#${this.id}, ${this.state})`;
  }

  /** The rare state, created on first need. */
  #r(): TaskRare {
    return this.#rare ??= new TaskRare();
  }

  #busy(): Error {
    return new Error(`task '${this.name}' is already waiting in sleep or receive`);
  }

  /** Starts an untimed sleep or receive: no `Waiter`, no closure of its own. */
  #waitSelf(state: typeof SLEEPING | typeof RECEIVING): Promise<unknown> {
    this.#state = state;
    capturing = this;
    return new Promise(captureSelf);
  }

  /** Ends the task's own wait with `value`. */
  #wake(value: unknown): void {
    const w = this.#self!;
    if (typeof w !== "function") {
      w.settle(value);
      return;
    }
    this.#leaveSelf();
    w(value);
  }

  /** Ends the task's own wait with `error`. */
  #fail(error: unknown): void {
    const w = this.#self!;
    if (typeof w !== "function") {
      w.fail(error);
      return;
    }
    this.#leaveSelf();
    // Resolving with a rejected promise rejects the wait with `error`.
    w(Promise.reject(error));
  }

  /** The task's own wait is over, whichever way it was kept. */
  #leaveSelf(): void {
    this.#self = null;
    this.#state = this.#others === null ? RUNNING : SUSPENDED;
  }

  /**
   * Abandons every wait (the task's function has returned: it restarts or
   * has ended). Waits it started and never awaited (a timed sleep, a lock
   * acquire) are dropped, so no timer outlives the function and no lock or
   * permit is handed to code that can no longer release it. The state is the
   * caller's to set.
   */
  #clearWaits(): void {
    const self = this.#self;
    const others = this.#others;
    this.#self = this.#others = null;
    if (self !== null && typeof self !== "function") self.drop();
    if (others instanceof Set) { for (const w of others) w.drop(); }
    else others?.drop();
  }

  /**
   * Queues a monitor status past the mailbox limit: a lost death notice
   * could never be noticed, and it must not stop the watched task's ending.
   */
  #notify(status: MonitorStatus): void {
    if (this.#state >= FINISHED) return;
    if (this.#state === RECEIVING) this.#wake(status);
    else (this.#mailbox ??= new Mailbox()).push(status);
  }

  /** Rejects the current waits if terminate/throw/swap asks for it. */
  #interrupt(): void {
    const others = this.#others;
    const self = ownWait(this.#state);
    if (!self && others === null) return;
    const err = takePending(this);
    if (err === undefined) return;
    if (self) this.#fail(err);
    if (others instanceof Set) { for (const w of [...others]) w.fail(err); }
    else if (others !== null) others.fail(err);
  }

  #addMonitor(watcher: Task): void {
    if (this.#state >= FINISHED) {
      watcher.#notify(this.#status());
      return;
    }
    (this.#r().monitors ??= []).push(watcher);
  }

  #status(): MonitorStatus {
    const type: MonitorStatusType = this.#state === FINISHED
      ? "finished"
      : this.#state === FAILED
      ? "failed"
      : "terminated";
    return new MonitorStatus(this, type, this.#data);
  }

  #start(): void {
    const terminated = this.#rare?.terminated;
    if (terminated != null) {
      this.#end(TERMINATED, terminated);
      return;
    }
    this.#state = RUNNING;
    const args = this.#data as unknown[];
    this.#data = undefined;
    let r: unknown;
    try {
      r = this.#fn(this, ...args);
    } catch (e) {
      this.#failed(e);
      return;
    }
    if (r instanceof Promise) {
      // The reaction runs inside this task's context frame, so shared
      // handlers find the task there: no closure pair per task.
      r.then(onTaskResult, onTaskError);
    } else this.#ok(r);
  }

  #ok(value: unknown): void {
    const terminated = this.#rare?.terminated;
    if (terminated != null) this.#end(TERMINATED, terminated);
    else this.#end(FINISHED, value);
  }

  #failed(error: unknown): void {
    const rare = this.#rare;
    if (rare !== null) {
      const swap = rare.swap;
      if (
        swap !== null && swap.thrown && error instanceof HotSwap && error.fn === swap.fn &&
        rare.terminated === null
      ) {
        // The task let the swap through: restart it, mailbox and identity kept.
        rare.swap = null;
        if (rare.name === null && !swap.fn.name) rare.name = this.name;
        this.#fn = swap.fn;
        this.#data = swap.args;
        this.#clearWaits();
        this.#flags = rare.thrown !== NO_THROW ? this.#flags | ATTENTION : this.#flags & ~ATTENTION;
        this.#state = READY;
        schedulerInternals.schedule(this.scheduler, this);
        swap.resolve(true);
        return;
      }
      if (rare.terminated !== null) {
        this.#end(TERMINATED, rare.terminated);
        return;
      }
    }
    logger.error("uncaught error in task {name}: {error}", { name: this.name, error });
    // Observed = someone gets this error now: a monitor or a finish() caller.
    const observed = rare !== null && (rare.monitors !== null || rare.finishers !== null);
    this.#end(FAILED, error);
    if (!observed) reportUncaught(this.scheduler.onUncaughtError, error, this);
  }

  #end(state: number, result: unknown): void {
    this.#state = state;
    this.#data = result;
    this.#mailbox = null;
    if (this.#self !== null || this.#others !== null) this.#clearWaits();
    this.#flags &= ~ATTENTION;
    schedulerInternals.ended(this.scheduler, this);
    const rare = this.#rare;
    if (rare === null) return;
    rare.swap?.resolve(false);
    rare.swap = null;
    if (rare.registeredAs !== null) this.unregister();
    const monitors = rare.monitors;
    if (monitors !== null) {
      rare.monitors = null;
      const status = this.#status();
      for (const m of monitors) m.#notify(status);
    }
    const finishers = rare.finishers;
    if (finishers !== null) {
      rare.finishers = null;
      if (state === FINISHED) finishers.settleAll(result);
      else finishers.failAll(result);
    }
  }

  static {
    // Only resolve is kept: the reject function is left to the collector.
    captureSelf = (resolve) => {
      capturing.#self = resolve;
    };
    startTask = (t) => taskStorage.run(t, runStart, t);
    runStart = (t) => t.#start();
    onTaskResult = (v) => taskStorage.getStore()!.#ok(v);
    onTaskError = (e) => taskStorage.getStore()!.#failed(e);
    takePending = (t) => {
      if ((t.#flags & ATTENTION) === 0) return undefined;
      // ATTENTION is only ever set along with rare state.
      const rare = t.#rare!;
      if (rare.terminated !== null) return rare.terminated;
      const swap = rare.swap;
      if (swap !== null && swap.thrown) {
        // The task caught the HotSwap and went on waiting: swap refused.
        rare.swap = null;
        swap.resolve(false);
      }
      const swappable = (t.#flags & SWAPPABLE) !== 0;
      let err: unknown = undefined;
      if (rare.thrown !== NO_THROW) {
        err = rare.thrown;
        rare.thrown = NO_THROW;
      } else if (rare.swap !== null && swappable) {
        rare.swap.thrown = true;
        err = new HotSwap(rare.swap.fn, rare.swap.args);
      }
      // A throw is consumed above; only a swap can still need the next wait.
      const again = rare.swap !== null && (swappable || rare.swap.thrown);
      t.#flags = again ? t.#flags | ATTENTION : t.#flags & ~ATTENTION;
      return err;
    };
    installTaskWaitHooks({
      enter(t, w) {
        if (w.kind !== K_OTHER) {
          t.#self = w;
          t.#state = w.kind;
          return;
        }
        const others = t.#others;
        if (others === null) t.#others = w;
        else if (others instanceof Set) others.add(w);
        else t.#others = new Set([others, w]);
        if (!ownWait(t.#state)) t.#state = SUSPENDED;
      },
      leave(t, w) {
        if (t.#state >= FINISHED) return;
        if (t.#self === w) {
          t.#leaveSelf();
          return;
        }
        const others = t.#others;
        if (others === w) t.#others = null;
        else if (others instanceof Set) {
          others.delete(w);
          if (others.size === 0) t.#others = null;
        }
        if (!ownWait(t.#state)) t.#state = t.#others === null ? RUNNING : SUSPENDED;
      },
      pending: (t) => takePending(t),
    });
    taskInternals = {
      spawnOn(scheduler, fn, args) {
        spawningOn = scheduler;
        spawningArgs = args;
        return new Task(fn);
      },
      start: startTask,
      notify: (watcher, status) => watcher.#notify(status),
      slot: (t) => t.#slot,
      setSlot(t, slot) {
        t.#slot = slot;
      },
    };
  }
}

/**
 * Creates and schedules a task running `fn(task, ...args)` on the current
 * task's scheduler (or the default one).
 *
 * @example
 * ```ts
 * import { spawn } from "@denocos/denocos";
 *
 * const t = spawn(async (task, a: number, b: number) => {
 *   await task.sleep(1);
 *   return a + b;
 * }, 2, 3);
 * console.log(await t.finish()); // 5
 * ```
 */
export function spawn<R, A extends unknown[]>(
  fn: (task: Task<NoInfer<R>>, ...args: A) => R | Promise<R>,
  ...args: A
): Task<R> {
  spawningArgs = args;
  return new Task<R>(fn as TaskFunction<R>);
}

/**
 * Describes a bad argument for an error message.
 *
 * @example
 * ```ts ignore
 * describe(null); // "null"
 * describe(42); // "number 42"
 * ```
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "object") return `an object (${value.constructor?.name ?? "Object"})`;
  return `${typeof value} ${String(value)}`;
}
