/**
 * `Scheduler`: owns a set of tasks, their name registry and the resources
 * they opened, and knows when they are all done.
 *
 * @module
 */
import type { Channel } from "./channel.ts";
import type { Location } from "./location.ts";
import { timeoutError, type WaitOptions, waitOptionsError } from "./options.ts";
import { RingBuffer } from "./ring_buffer.ts";
// A value import in a cycle (task.ts imports this module too): safe because
// neither module touches the other's bindings while it loads, only when
// called. So whichever of the two a program imports first, both are loaded
// before anything runs, and `spawn` here always finds the task module.
import { type LocateOptions, type Task, type TaskFunction, taskInternals } from "./task.ts";
import { currentTask } from "./context.ts";
import { park, pendingError, WaitQueue } from "./wait.ts";
import { printUncaughtError, type UncaughtErrorHandler } from "./uncaught.ts";

/**
 * Anything a scheduler can close when it finishes: servers, peer links…
 *
 * @example
 * ```ts
 * import { Scheduler } from "@denocos/denocos";
 *
 * const s = new Scheduler();
 * s.adopt({ close: () => console.log("closed") });
 * await s.finish(); // prints "closed"
 * ```
 */
export type SchedulerResource =
  | { close(): void | Promise<void> }
  | { [Symbol.asyncDispose](): Promise<void> }
  | { [Symbol.dispose](): void };

/**
 * Internal: used by the task and channel modules only.
 *
 * @example
 * ```ts ignore
 * schedulerInternals.registerChannel(this.scheduler, this.name, this);
 * ```
 */
export let schedulerInternals: SchedulerInternals;

// What `Scheduler.default()` creates: the network layer makes it a
// scheduler that can listen; the core alone makes a plain one.
let makeDefault: () => Scheduler = () => new Scheduler();

/**
 * Options for `new Scheduler`.
 *
 * @example
 * ```ts
 * import { Scheduler, type SchedulerOptions } from "@denocos/denocos";
 *
 * const options: SchedulerOptions = { mailboxLimit: 10_000 };
 * await new Scheduler(options).finish();
 * ```
 */
export interface SchedulerOptions {
  /**
   * The most messages a task's mailbox holds; `send` past it throws
   * `MailboxFull` (default `DEFAULT_MAILBOX_LIMIT`, 4,194,304).
   */
  mailboxLimit?: number;
  /**
   * The most bytes of sized messages a task's mailbox holds (default
   * `DEFAULT_MAILBOX_BYTES`, 64 MiB; `Infinity` = no byte bound). Sized
   * messages are the ones whose size is known without looking inside:
   * `ArrayBuffer`s and their views (`byteLength`) and strings (`length`);
   * every other value counts towards `mailboxLimit` only. A send that would
   * pass the budget throws `MailboxFull`, except into an empty mailbox (one
   * message is always taken, whatever its size).
   */
  mailboxBytes?: number;
  /**
   * Receives the error of a task that fails unobserved; `null` drops such
   * errors (default `printUncaughtError`). See `Scheduler.onUncaughtError`.
   */
  onUncaughtError?: UncaughtErrorHandler | null;
}

/**
 * The default `mailboxLimit`: large enough for any burst a program means to
 * make, small enough that a runaway sender fails instead of eating the heap.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAILBOX_LIMIT, Scheduler } from "@denocos/denocos";
 *
 * console.log(Scheduler.default().mailboxLimit === DEFAULT_MAILBOX_LIMIT); // true
 * ```
 */
export const DEFAULT_MAILBOX_LIMIT = 4_194_304;

/**
 * The default `mailboxBytes`, 64 MiB: a task that lets that much binary or
 * text data pile up unread is not keeping up, and its sender should learn
 * it (`MailboxFull`) before the heap runs out. The network layer's per-link
 * send queue has the same default.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAILBOX_BYTES, Scheduler } from "@denocos/denocos";
 *
 * console.log(Scheduler.default().mailboxBytes === DEFAULT_MAILBOX_BYTES); // true
 * ```
 */
export const DEFAULT_MAILBOX_BYTES = 64 * 1024 * 1024;

/**
 * Runs tasks. `Scheduler.default()` is created on first use; `new
 * Scheduler()` makes an isolated one (tests, several peers in one process).
 *
 * @example
 * ```ts
 * import { Scheduler } from "@denocos/denocos";
 *
 * const scheduler = new Scheduler();
 * scheduler.spawn(async (task) => {
 *   await task.sleep(5);
 *   console.log("done");
 * });
 * await scheduler.finish();
 * ```
 */
export class Scheduler implements AsyncDisposable {
  static #default: Scheduler | null = null;

  /** A random number that, with a task's id, names it uniquely across restarts. */
  readonly incarnation: number;
  /** The most messages a task's mailbox holds (see `SchedulerOptions`). */
  readonly mailboxLimit: number;
  /** The most bytes of sized messages a task's mailbox holds (see `SchedulerOptions`). */
  readonly mailboxBytes: number;
  /** This scheduler's peer address once the network is started; `null` until then. */
  location: Location | null = null;
  /**
   * Called with the error of a task that fails while nobody observes it: no
   * task monitors it and no `finish()` call waits for it at that moment (a
   * `finish()` called later still gets the error). The default,
   * `printUncaughtError`, prints the task's name and the error's stack on
   * stderr unless LogTape is configured with a sink for `["denocos",
   * "task"]`, which logs every task error at level `"error"`. Set a function
   * to route these errors elsewhere, `null` to drop them; the task is failed
   * either way and the program goes on (as pycos does).
   */
  onUncaughtError: UncaughtErrorHandler | null;
  #nextId = 1;
  // The live tasks, unordered: a task knows its slot, and an ending one is
  // replaced by the last (O(1), no allocation per task). The id index is
  // built on the first `task(id)` and kept from then on, so only schedulers
  // whose tasks are looked up by id (the network layer's) pay for it.
  #live: Task[] = [];
  #byId: Map<number, Task> | null = null;
  #nonDaemon = 0;
  #joiners = new WaitQueue();
  #ready = new RingBuffer<Task>();
  #drainQueued = false;
  #names = new Map<string, Task>();
  #channels = new Map<string, Channel>();
  #resources = new Set<SchedulerResource>();
  #finished = false;

  /**
   * Creates a `Scheduler`.
   *
   * @param options limits for this scheduler's tasks
   */
  constructor(options?: SchedulerOptions) {
    const limit = options?.mailboxLimit ?? DEFAULT_MAILBOX_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Scheduler: 'mailboxLimit' must be an integer >= 1, got ${limit}`);
    }
    this.mailboxLimit = limit;
    const bytes = options?.mailboxBytes ?? DEFAULT_MAILBOX_BYTES;
    if (!(bytes === Infinity || (Number.isInteger(bytes) && bytes >= 1))) {
      throw new RangeError(
        `Scheduler: 'mailboxBytes' must be an integer >= 1 or Infinity, got ${bytes}`,
      );
    }
    this.mailboxBytes = bytes;
    const onUncaught = options?.onUncaughtError;
    if (onUncaught !== undefined && onUncaught !== null && typeof onUncaught !== "function") {
      throw new TypeError(`Scheduler: 'onUncaughtError' must be a function or null`);
    }
    this.onUncaughtError = onUncaught === undefined ? printUncaughtError : onUncaught;
    this.incarnation = (Math.random() * 0x7fffffff | 0) + 1;
  }

  /** The process-wide scheduler, created on first use (again after it finished). */
  static default(): Scheduler {
    return Scheduler.#default ??= makeDefault();
  }

  /** Whether `finish` has run. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Creates and schedules a task on this scheduler. */
  spawn<R, A extends unknown[]>(
    fn: (task: Task<NoInfer<R>>, ...args: A) => R | Promise<R>,
    ...args: A
  ): Task<R> {
    return taskInternals.spawnOn(this, fn as TaskFunction, args) as Task<R>;
  }

  /** The tasks that have not ended yet. */
  tasks(): Task[] {
    return this.#live.toSorted(byId);
  }

  /** The live task with this id, if any (ids are never reused). */
  task(id: number): Task | undefined {
    if (this.#byId === null) this.#byId = new Map(this.#live.map((t) => [t.id, t]));
    return this.#byId.get(id);
  }

  /**
   * Resolves `true` once every non-daemon task has ended, or `false` when the
   * timeout passes first.
   */
  join(options?: WaitOptions): Promise<boolean> {
    if (this.#nonDaemon === 0) {
      const bad = waitOptionsError(options);
      return bad !== undefined ? Promise.reject(bad) : Promise.resolve(true);
    }
    const caller = currentTask();
    const err = pendingError(caller);
    if (err !== undefined) return Promise.reject(err);
    return park(this.#joiners, caller, options, false);
  }

  /**
   * Waits for the non-daemon tasks (`join`), then terminates the daemons and
   * closes every resource the scheduler owns. Resolves `false` if the
   * timeout passed before the non-daemon tasks ended (they are terminated
   * too then).
   */
  async finish(options?: WaitOptions): Promise<boolean> {
    const joined = await this.join(options);
    await this.terminate();
    this.#finished = true;
    if (Scheduler.#default === this) Scheduler.#default = null;
    const resources = [...this.#resources];
    this.#resources.clear();
    await Promise.allSettled(resources.map(closeResource));
    return joined;
  }

  /**
   * Terminates every task now and resolves once they have ended (a task
   * blocked outside denocos ends when that await settles).
   */
  async terminate(): Promise<void> {
    const tasks = this.#live.toSorted(byId);
    for (const t of tasks) t.terminate();
    await Promise.allSettled(tasks.map((t) => t.finish()));
  }

  /**
   * Finds a task registered under `name` here; with the network layer, also
   * on peers (the first positive answer wins).
   */
  locate(name: string, options?: Omit<LocateOptions, "scheduler">): Promise<Task | undefined> {
    const bad = this.#locateError(options);
    return bad !== undefined ? Promise.reject(bad) : Promise.resolve(this.#names.get(name));
  }

  /** Finds a channel registered under `name` on this scheduler. */
  locateChannel(
    name: string,
    options?: Omit<LocateOptions, "scheduler">,
  ): Promise<Channel | undefined> {
    const bad = this.#locateError(options);
    return bad !== undefined ? Promise.reject(bad) : Promise.resolve(this.#channels.get(name));
  }

  /** Makes `finish` close `resource`; returns it. */
  adopt<T extends SchedulerResource>(resource: T): T {
    this.#resources.add(resource);
    return resource;
  }

  /** Stops owning `resource` (it was closed by its user). */
  disown(resource: SchedulerResource): void {
    this.#resources.delete(resource);
  }

  /** `await using scheduler = new Scheduler()` finishes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.finish().then(() => {});
  }

  /** Why a `locate` cannot search, or `undefined`. */
  #locateError(options: Omit<LocateOptions, "scheduler"> | undefined): Error | undefined {
    const bad = timeoutError(options?.timeout);
    if (bad !== undefined) return bad;
    if (options?.location != null && !sameLocation(options.location, this.location)) {
      return new Error("locating on a remote peer needs the network layer");
    }
    return undefined;
  }

  #drain = (): void => {
    this.#drainQueued = false;
    const ready = this.#ready;
    const start = taskInternals.start;
    for (let t = ready.shift(); t !== undefined; t = ready.shift()) start(t);
  };

  #schedule(task: Task): void {
    this.#ready.push(task);
    if (!this.#drainQueued) {
      this.#drainQueued = true;
      queueMicrotask(this.#drain);
    }
  }

  static {
    schedulerInternals = {
      adopt(s, task) {
        if (s.#finished && s !== Scheduler.#default) {
          throw new Error("cannot spawn on a scheduler that has finished");
        }
        const id = s.#nextId++;
        taskInternals.setSlot(task, s.#live.length);
        s.#live.push(task);
        s.#byId?.set(id, task);
        s.#nonDaemon++;
        s.#schedule(task);
        return id;
      },
      nextId: (s) => s.#nextId++,
      schedule: (s, t) => s.#schedule(t),
      daemonChanged(s, daemon) {
        s.#nonDaemon += daemon ? -1 : 1;
        if (s.#nonDaemon === 0) s.#joiners.settleAll(true);
      },
      ended(s, t) {
        const live = s.#live;
        const slot = taskInternals.slot(t);
        const last = live.pop()!;
        if (last !== t) {
          live[slot] = last;
          taskInternals.setSlot(last, slot);
        }
        s.#byId?.delete(t.id);
        if (!t.daemon && --s.#nonDaemon === 0) s.#joiners.settleAll(true);
      },
      registerTask: (s, name, t) => claimName(s.#names, name, t),
      unregisterTask: (s, name, t) => releaseName(s.#names, name, t),
      registerChannel: (s, name, c) => claimName(s.#channels, name, c),
      unregisterChannel: (s, name, c) => releaseName(s.#channels, name, c),
      lookupTask: (s, name) => s.#names.get(name),
      lookupChannel: (s, name) => s.#channels.get(name),
      setDefaultFactory(make) {
        makeDefault = make;
      },
    };
  }
}

/**
 * Hooks between the scheduler and the task and channel modules.
 *
 * @example
 * ```ts ignore
 * this.id = schedulerInternals.nextId(this.scheduler);
 * ```
 */
export interface SchedulerInternals {
  /** Takes a new task in, schedules its start and returns its id. */
  adopt(s: Scheduler, task: Task): number;
  /** A fresh id (channels share the tasks' id space). */
  nextId(s: Scheduler): number;
  /** Queues a task to (re)start at the next drain. */
  schedule(s: Scheduler, task: Task): void;
  /** A live task became a daemon (`true`) or stopped being one. */
  daemonChanged(s: Scheduler, daemon: boolean): void;
  /** A task ended: forget it, and wake `join` when it was the last non-daemon. */
  ended(s: Scheduler, task: Task): void;
  /** Claims `name` for `task`; `false` if another live task holds it. */
  registerTask(s: Scheduler, name: string, task: Task): boolean;
  /** Releases `name` if `task` holds it. */
  unregisterTask(s: Scheduler, name: string, task: Task): void;
  /** Claims `name` for `channel`; `false` if another channel holds it. */
  registerChannel(s: Scheduler, name: string, channel: Channel): boolean;
  /** Releases `name` if `channel` holds it. */
  unregisterChannel(s: Scheduler, name: string, channel: Channel): void;
  lookupTask(s: Scheduler, name: string): Task | undefined;
  lookupChannel(s: Scheduler, name: string): Channel | undefined;
  setDefaultFactory(make: () => Scheduler): void;
}

function byId(a: Task, b: Task): number {
  return a.id - b.id;
}

/** Registers `holder` under `name` unless another holds it; `true` if it holds it now. */
function claimName<T>(registry: Map<string, T>, name: string, holder: T): boolean {
  const current = registry.get(name);
  if (current !== undefined && current !== holder) return false;
  registry.set(name, holder);
  return true;
}

/** Removes `name` if `holder` holds it. */
function releaseName<T>(registry: Map<string, T>, name: string, holder: T): void {
  if (registry.get(name) === holder) registry.delete(name);
}

function sameLocation(a: Location, b: Location | null): boolean {
  return b !== null && a.hostname === b.hostname && a.port === b.port;
}

async function closeResource(r: SchedulerResource): Promise<void> {
  if (Symbol.asyncDispose in r) await r[Symbol.asyncDispose]();
  else if ("close" in r) await r.close();
  else if (Symbol.dispose in r) r[Symbol.dispose]();
}
