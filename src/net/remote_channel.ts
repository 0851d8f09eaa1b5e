/**
 * `RemoteChannel`: a reference to a channel on another peer.
 *
 * @module
 */
import {
  type Location,
  REMOTE_REF,
  type RemoteEndpoint,
  type Subscriber,
  type Task,
  type WaitOptions,
} from "../core/_internal.ts";
import type { RemoteOps } from "./_remote_ops.ts";
import type { RemoteTask } from "./remote_task.ts";

/**
 * A channel on another peer, from `Channel.locate` or a received message.
 * `send` reaches its subscribers there (and, through channels subscribed
 * across peers, further on: a forwarded message is dropped after 16 hops);
 * a local task or channel can `subscribe` to it. When the peer is lost the
 * subscriptions made through it are dropped.
 *
 * @example
 * ```ts ignore
 * import { Channel, spawn } from "@denocos/denocos";
 *
 * const news = await Channel.locate("news", { timeout: 5000 }); // a RemoteChannel
 * const reader = spawn(async (task) => console.log(await task.receive()));
 * await news!.subscribe(reader);
 * news!.send("hello, subscribers");
 * ```
 */
export class RemoteChannel implements RemoteEndpoint {
  /** The channel's name on its peer. */
  readonly name: string;
  /** Where the channel's peer listens. */
  readonly location: Location;
  /** The id of the channel's peer. */
  readonly peer: string;
  /** @internal */
  readonly ops: RemoteOps;

  /** @internal made by the network layer only */
  /**
   * What names the channel on the wire: its name for a registered channel,
   * the name plus a unique suffix for one handed out in a message, so that
   * namesakes on one peer stay apart.
   */
  readonly wireName: string;

  /** @internal made by the network layer only */
  constructor(ops: RemoteOps, peer: string, name: string, location: Location) {
    this.ops = ops;
    this.peer = peer;
    this.wireName = name;
    const cut = name.indexOf("\0");
    this.name = cut < 0 ? name : name.slice(0, cut);
    this.location = location;
  }

  /** Names the channel across peers: `peer/name`. */
  get key(): string {
    return `${this.peer}/#${this.wireName}`;
  }

  /** The core's seam: a `RemoteChannel` is its own endpoint. */
  get [REMOTE_REF](): RemoteEndpoint {
    return this;
  }

  /** @internal channels have no end to monitor: refused. */
  addMonitor(_watcher: Task): void {
    throw new TypeError("monitor: a channel cannot be monitored");
  }

  /** Whether the channel's peer is gone. */
  get done(): boolean {
    return !this.ops.isOnline(this.peer);
  }

  /**
   * Sends `message` to the channel's subscribers; returns `false` when its
   * peer is gone. Throws `MailboxFull` when the link's queue is full.
   */
  send(message: unknown): boolean {
    if (this.done) return false;
    return this.ops.sendChannel(this, message);
  }

  /**
   * Waits (on the channel's peer) until at least `n` subscribers exist, then
   * sends; resolves the number of end-point recipients, `0` on timeout or
   * when the peer is lost.
   */
  deliver(
    message: unknown,
    options?: { n?: number; timeout?: number; signal?: AbortSignal },
  ): Promise<number> {
    return this.ops.deliverChannel(this, message, options);
  }

  /** Subscribes a task or channel (local or remote) to this channel. */
  subscribe(
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options?: WaitOptions,
  ): Promise<void> {
    return this.ops.subscribeChannel(this, subscriber, options);
  }

  /** Removes a subscription; resolves `false` if it was not subscribed. */
  unsubscribe(
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options?: WaitOptions,
  ): Promise<boolean> {
    return this.ops.unsubscribeChannel(this, subscriber, options);
  }

  /** A short description for logs. */
  toString(): string {
    return `RemoteChannel(${this.name}@${this.location.hostname}:${this.location.port})`;
  }
}
