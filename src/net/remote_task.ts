/**
 * `RemoteTask`: a reference to a task on another peer.
 *
 * @module
 */
import {
  type Location,
  REMOTE_REF,
  type RemoteEndpoint,
  type Task,
  type WaitOptions,
} from "../core/_internal.ts";
import type { RemoteOps } from "./_remote_ops.ts";

/**
 * A task on another peer, as `Task.locate`, `Service.run` or a received
 * message hands it out. It names `(peer, incarnation, id)`: a reference to a
 * task that has ended, or to an earlier incarnation of a restarted peer, is
 * refused by that peer and never reaches a newer task.
 *
 * `send` is fire-and-forget (in order per peer); `deliver` resolves once the
 * remote mailbox has the message. The watcher of a remote task is always
 * local: `task.monitor(remoteTask)`, which throws `MailboxFull` (watching
 * nothing) when the link's send queue is full, as `send` does.
 *
 * @example
 * ```ts ignore
 * import { Scheduler, Task } from "@denocos/denocos";
 *
 * await Scheduler.default().listen({ port: 0, secret: "s3cret" });
 * await Scheduler.default().peer({ hostname: "127.0.0.1", port: 9705 });
 * const server = await Task.locate("server_task", { timeout: 5000 }); // a RemoteTask
 * server?.send("hello");
 * await Scheduler.default().finish();
 * ```
 */
export class RemoteTask implements RemoteEndpoint {
  /** The task's id on its peer. */
  readonly id: number;
  /** The task's name when the reference was made. */
  readonly name: string;
  /** Where the task's peer listens. */
  readonly location: Location;
  /** The id of the task's peer (see `PeerInfo.id`). */
  readonly peer: string;
  /** The incarnation of the task's scheduler. */
  readonly incarnation: number;
  /** @internal */
  readonly ops: RemoteOps;
  #ended = false;

  /** @internal made by the network layer only */
  constructor(
    ops: RemoteOps,
    peer: string,
    incarnation: number,
    id: number,
    name: string,
    location: Location,
  ) {
    this.ops = ops;
    this.peer = peer;
    this.incarnation = incarnation;
    this.id = id;
    this.name = name;
    this.location = location;
  }

  /** Names the task across peers: `peer/incarnation/id`. */
  get key(): string {
    return `${this.peer}/${this.incarnation}/${this.id}`;
  }

  /** The core's seam: a `RemoteTask` is its own endpoint. */
  get [REMOTE_REF](): RemoteEndpoint {
    return this;
  }

  /** Whether the task is known to have ended or its peer to be gone. */
  get done(): boolean {
    return this.#ended || !this.ops.isOnline(this.peer);
  }

  /**
   * Queues `message` for the remote task (in order with everything else sent
   * to that peer). Returns `false`, sending nothing, once the task is known
   * to have ended or its peer is gone; throws `MailboxFull` when the link's
   * send queue is full and `TypeError` for a value the codec cannot carry.
   */
  send(message: unknown): boolean {
    if (this.done) return false;
    return this.ops.sendTask(this, message);
  }

  /**
   * Resolves `1` once the remote mailbox holds `message`, `0` on timeout, if
   * the task has ended or its peer is lost.
   */
  deliver(message: unknown, options?: WaitOptions): Promise<number> {
    return this.ops.deliverTask(this, message, options);
  }

  /** Asks the remote task to terminate; `false` if it is known to be gone. */
  terminate(): boolean {
    if (this.done) return false;
    return this.ops.terminateTask(this);
  }

  /** Makes the remote task's current (or next) wait reject with `error`. */
  throw(error: unknown): boolean {
    if (this.done) return false;
    return this.ops.throwTask(this, error);
  }

  /**
   * Resolves with the remote task's return value once it ends; rejects with
   * its error, with `PeerLost` if its peer is lost first, with `TaskEnded`
   * if it ended before the request reached it, or with `TimeoutError`.
   */
  finish(options?: WaitOptions): Promise<unknown> {
    return this.ops.finishTask(this, options);
  }

  /**
   * @internal the monitor seam: `watcher.monitor(this)` lands here. Throws
   * `MailboxFull`, registering nothing, when the link's queue is full.
   */
  addMonitor(watcher: Task): void {
    this.ops.monitorTask(this, watcher);
  }

  /** @internal the peer said the task has ended. */
  markEnded(): void {
    this.#ended = true;
  }

  /** A short description for logs. */
  toString(): string {
    return `RemoteTask(${this.name}#${this.id}@${this.location.hostname}:${this.location.port})`;
  }
}
