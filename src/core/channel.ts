/**
 * `Channel`: one-to-many broadcast. Subscribers are tasks or other channels,
 * so channels form hierarchies; a subscription that would close a cycle is
 * refused.
 *
 * @module
 */
import { currentTask } from "./context.ts";
import { ChannelClosed, MailboxFull } from "./errors.ts";
import type { Location } from "./location.ts";
import { type WaitOptions, waitOptionsError } from "./options.ts";
import { Scheduler, schedulerInternals } from "./scheduler.ts";
import { describe, type LocateOptions, Task } from "./task.ts";
import { park, waitError, WaitQueue } from "./wait.ts";
import {
  REMOTE_REF,
  type RemoteEndpoint,
  remoteEndpoint,
  type RemoteReference,
} from "./remote_ref.ts";
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["denocos", "channel"]);

/**
 * Rewrites or filters each message: return the message to send, or
 * `undefined` to drop it.
 *
 * @example
 * ```ts
 * import { Channel, type Transform } from "@denocos/denocos";
 *
 * const evenOnly: Transform = (_name, m) => (m as number) % 2 === 0 ? m : undefined;
 * const ch = new Channel("numbers", { transform: evenOnly });
 * console.log(ch.send(3)); // 0: dropped
 * ```
 */
export type Transform = (channelName: string, message: unknown) => unknown;

/**
 * Options for `new Channel`.
 *
 * @example
 * ```ts
 * import { Channel, Scheduler } from "@denocos/denocos";
 *
 * const ch = new Channel("news", { scheduler: new Scheduler(), transform: (_n, m) => m });
 * console.log(ch.name); // "news"
 * ```
 */
export interface ChannelOptions {
  /** Applied to every message before it is sent. */
  transform?: Transform;
  /** The scheduler whose registry `register` uses (default: current or default). */
  scheduler?: Scheduler;
}

/**
 * Options for `Channel.deliver`.
 *
 * @example
 * ```ts
 * import { Channel } from "@denocos/denocos";
 *
 * const ch = new Channel("quiet");
 * console.log(await ch.deliver("hi", { n: 1, timeout: 10 })); // 0: nobody subscribed in time
 * ```
 */
export interface DeliverOptions extends WaitOptions {
  /** Wait until at least this many subscribers exist before sending (default 0). */
  n?: number;
}

/**
 * Any kind of subscriber: a task, a channel, or a reference to either on
 * another peer.
 *
 * @example
 * ```ts
 * import { Channel, spawn, type Subscriber } from "@denocos/denocos";
 *
 * const subscribers: Subscriber[] = [spawn((task) => task.receive()), new Channel("sub")];
 * const ch = new Channel("top");
 * for (const s of subscribers) await ch.subscribe(s);
 * console.log(ch.send("hi")); // 1: the task; the sub-channel has no subscriber
 * ```
 */
export type Subscriber = Task | Channel | RemoteReference;

/**
 * A broadcast channel. `send` reaches every current subscriber in the order
 * the messages were sent; a subscribed channel passes messages on to its own
 * subscribers (but never back up).
 *
 * @example
 * ```ts
 * import { Channel, spawn } from "@denocos/denocos";
 *
 * const ch = new Channel("ticks");
 * const listener = spawn(async (task) => await task.receive());
 * await ch.subscribe(listener);
 * console.log(ch.send("tick")); // 1
 * console.log(await listener.finish()); // "tick"
 * ```
 */
export class Channel implements Disposable {
  /** The channel's name (unique among registered channels of a scheduler). */
  readonly name: string;
  /** Unique within its scheduler's incarnation. */
  readonly id: number;
  /** The scheduler the channel belongs to. */
  readonly scheduler: Scheduler;
  #transform: Transform | undefined;
  // Copy-on-write: send iterates a snapshot while (un)subscribe replaces it.
  #tasks: Task[] = [];
  #channels: Channel[] = [];
  // Remote tasks and channels (the network layer's references), by endpoint.
  #remotes: RemoteReference[] = [];
  #subscribeWaiters: WaitQueue | null = null;
  #closed = false;
  #registered = false;

  /**
   * Creates a `Channel`.
   *
   * @param name the channel's name
   * @param options transform and scheduler
   */
  constructor(name: string, options?: ChannelOptions) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`Channel: 'name' must be a non-empty string, got ${describe(name)}`);
    }
    const transform = options?.transform;
    if (transform !== undefined && typeof transform !== "function") {
      throw new TypeError(`Channel: 'transform' must be a function, got ${describe(transform)}`);
    }
    this.name = name;
    this.scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.id = schedulerInternals.nextId(this.scheduler);
    this.#transform = transform;
  }

  /** The incarnation of the channel's scheduler. */
  get incarnation(): number {
    return this.scheduler.incarnation;
  }

  /** The peer this channel lives on, or `null` before the network is started. */
  get location(): Location | null {
    return this.scheduler.location;
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The current subscribers (tasks first, then channels, then remote references). */
  subscribers(): Subscriber[] {
    return [...this.#tasks, ...this.#channels, ...this.#remotes];
  }

  /** Replaces (or with `undefined` removes) the transform. */
  setTransform(transform: Transform | undefined): void {
    if (transform !== undefined && typeof transform !== "function") {
      throw new TypeError(`setTransform: expected a function, got ${describe(transform)}`);
    }
    this.#transform = transform;
  }

  /**
   * Adds a task or a channel as subscriber (again is a no-op). Rejects with
   * `TypeError` for anything else, with `ChannelClosed` on a closed channel,
   * and with an `Error` naming the channels when a channel subscription would
   * create a cycle.
   */
  subscribe(subscriber: Subscriber, options?: WaitOptions): Promise<void> {
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    if (this.#closed) return Promise.reject(new ChannelClosed(this.name));
    if (subscriber instanceof Task) {
      if (subscriber.done || this.#tasks.includes(subscriber)) return Promise.resolve();
      this.#tasks = [...this.#tasks, subscriber];
    } else if (subscriber instanceof Channel) {
      if (this.#channels.includes(subscriber)) return Promise.resolve();
      const path = subscriber.#pathTo(this);
      if (path !== null) {
        const cycle = [this.name, ...path.map((c) => c.name)].map((n) => `'${n}'`).join(" -> ");
        return Promise.reject(
          new Error(
            `subscribing channel '${subscriber.name}' to '${this.name}' would create a cycle: ${cycle}`,
          ),
        );
      }
      this.#channels = [...this.#channels, subscriber];
    } else if (remoteEndpoint(subscriber) !== undefined) {
      // No cycle check across peers: forwarded messages carry a hop count.
      if (this.#remoteIndex(subscriber) >= 0) return Promise.resolve();
      this.#remotes = [...this.#remotes, subscriber];
    } else {
      return Promise.reject(
        new TypeError(
          `subscribe: 'subscriber' must be a Task or a Channel, got ${describe(subscriber)}`,
        ),
      );
    }
    this.#subscribeWaiters?.settleAll(undefined);
    return Promise.resolve();
  }

  /** Removes a subscriber; resolves `false` if it was not subscribed. */
  unsubscribe(subscriber: Subscriber, options?: WaitOptions): Promise<boolean> {
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    if (subscriber instanceof Task) {
      const i = this.#tasks.indexOf(subscriber);
      if (i < 0) return Promise.resolve(false);
      this.#tasks = this.#tasks.toSpliced(i, 1);
      return Promise.resolve(true);
    }
    if (subscriber instanceof Channel) {
      const i = this.#channels.indexOf(subscriber);
      if (i < 0) return Promise.resolve(false);
      this.#channels = this.#channels.toSpliced(i, 1);
      return Promise.resolve(true);
    }
    if (remoteEndpoint(subscriber) !== undefined) {
      const i = this.#remoteIndex(subscriber);
      if (i < 0) return Promise.resolve(false);
      this.#remotes = this.#remotes.toSpliced(i, 1);
      return Promise.resolve(true);
    }
    return Promise.reject(
      new TypeError(
        `unsubscribe: 'subscriber' must be a Task or a Channel, got ${describe(subscriber)}`,
      ),
    );
  }

  /**
   * Sends `message` to every subscriber and returns how many end-point tasks
   * it reached, counted through sub-channels. Subscribed tasks that have
   * ended are dropped. Throws `ChannelClosed` on a closed channel.
   */
  send(message: unknown): number {
    if (this.#closed) throw new ChannelClosed(this.name);
    return this.#send(message);
  }

  /**
   * Waits until at least `n` subscribers exist (default 0), then sends and
   * resolves with the number of end-point tasks that got the message,
   * counted through sub-channels. Resolves `0` if the timeout passes while
   * waiting for subscribers.
   */
  async deliver(message: unknown, options?: DeliverOptions): Promise<number> {
    if (this.#closed) throw new ChannelClosed(this.name);
    const n = options?.n ?? 0;
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`deliver: 'n' must be a non-negative integer, got ${n}`);
    }
    const caller = currentTask();
    const err = waitError(caller, options);
    if (err !== undefined) throw err;
    if (n > 0) {
      const deadline = options?.timeout === undefined ? Infinity : Date.now() + options.timeout;
      while (this.#tasks.length + this.#channels.length + this.#remotes.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) return 0;
        const woke = await park(
          this.#subscribeWaiters ??= new WaitQueue(),
          caller,
          { timeout: left, signal: options?.signal },
          false as boolean | undefined,
        );
        if (woke === false) return 0;
        if (this.#closed) throw new ChannelClosed(this.name);
      }
    }
    // Sub-channels are not waited for (their `n` is 0), so the rest is `send`.
    return this.#send(message);
  }

  /**
   * Registers the channel in its scheduler under its name, so
   * `Channel.locate` finds it. Returns `false` if the name is taken.
   */
  register(): boolean {
    if (this.#closed) return false;
    this.#registered = schedulerInternals.registerChannel(this.scheduler, this.name, this);
    return this.#registered;
  }

  /** Removes the registration. */
  unregister(): void {
    if (!this.#registered) return;
    this.#registered = false;
    schedulerInternals.unregisterChannel(this.scheduler, this.name, this);
  }

  /**
   * Closes the channel: unregisters it, drops every subscriber, and rejects
   * pending `deliver`s with `ChannelClosed`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.unregister();
    this.#tasks = [];
    this.#channels = [];
    this.#remotes = [];
    this.#subscribeWaiters?.failAll(new ChannelClosed(this.name));
  }

  /** `using ch = new Channel(...)` closes it on scope exit. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Finds a registered channel by name (see `Task.locate` for options). */
  static locate(name: string, options?: LocateOptions): Promise<Channel | undefined> {
    return (options?.scheduler ?? Scheduler.default()).locateChannel(name, options);
  }

  /** A short description for logs. */
  toString(): string {
    return `Channel(${this.name}#${this.id})`;
  }

  #apply(message: unknown): unknown {
    try {
      return this.#transform!(this.name, message);
    } catch (error) {
      logger.warn("transform of channel {name} threw; message dropped: {error}", {
        name: this.name,
        error,
      });
      return undefined;
    }
  }

  #send(message: unknown): number {
    const msg = this.#transform === undefined ? message : this.#apply(message);
    if (msg === undefined) return 0;
    let count = this.#sendTasks(msg);
    const channels = this.#channels;
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i];
      if (!c.#closed) count += c.#send(msg);
    }
    if (this.#remotes.length > 0) count += this.#sendRemotes(msg);
    return count;
  }

  /**
   * Each remote subscriber counts as one recipient when its `send` takes the
   * message (its own subscribers are counted on its peer); one that says
   * `false` has ended or lost its peer and is dropped, as an ended task is.
   */
  #sendRemotes(msg: unknown): number {
    const remotes = this.#remotes;
    let count = 0;
    let gone: RemoteReference[] | null = null;
    for (let i = 0; i < remotes.length; i++) {
      const r = remotes[i];
      try {
        if (r[REMOTE_REF].send(msg)) count++;
        else (gone ??= []).push(r);
      } catch (error) {
        if (!(error instanceof MailboxFull)) throw error;
        logger.warn("channel {name}: message not queued for {remote}: {error}", {
          name: this.name,
          remote: r[REMOTE_REF].key,
          error,
        });
      }
    }
    if (gone !== null) this.#remotes = this.#remotes.filter((r) => !gone.includes(r));
    return count;
  }

  /** Where a remote reference with the same endpoint key is subscribed, or -1. */
  #remoteIndex(subscriber: RemoteReference): number {
    const key = (subscriber[REMOTE_REF] as RemoteEndpoint).key;
    return this.#remotes.findIndex((r) => r === subscriber || r[REMOTE_REF].key === key);
  }

  #sendTasks(msg: unknown): number {
    const tasks = this.#tasks;
    let count = 0;
    let ended = false;
    for (let i = 0; i < tasks.length; i++) {
      try {
        if (tasks[i].send(msg)) count++;
        else ended = true;
      } catch (error) {
        // One full mailbox must not cost the other subscribers the message.
        if (!(error instanceof MailboxFull)) throw error;
        logger.warn("channel {name}: message not queued for {task}: {error}", {
          name: this.name,
          task: tasks[i].name,
          error,
        });
      }
    }
    // Only an ended task refuses a message (a full mailbox throws instead).
    if (ended) this.#tasks = this.#tasks.filter((t) => !t.done);
    return count;
  }

  /** The chain of channels from this one down to `target`, or `null`. */
  #pathTo(target: Channel): Channel[] | null {
    if (this === target) return [this];
    for (const c of this.#channels) {
      const rest = c.#pathTo(target);
      if (rest !== null) return [this, ...rest];
    }
    return null;
  }
}
