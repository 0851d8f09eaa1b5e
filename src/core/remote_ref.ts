/**
 * The one seam between the core and the network layer: a task or channel
 * reference may be remote. The core does not know what a peer is; it knows
 * only that an object carrying `REMOTE_REF` stands for a task or channel
 * elsewhere, and what it can ask of it: to send, to deliver, to be
 * monitored. `task.monitor`, `channel.subscribe` / `unsubscribe` and channel
 * sends accept such a reference wherever they accept a local `Task` or
 * `Channel`.
 *
 * @module
 */
import type { WaitOptions } from "./options.ts";
import type { Task } from "./task.ts";

/**
 * The key under which a remote reference keeps its `RemoteEndpoint`.
 * Registered (`Symbol.for`), so two copies of the module agree on it.
 *
 * @example
 * ```ts
 * import { REMOTE_REF } from "@denocos/denocos/core";
 *
 * console.log(REMOTE_REF.description); // "denocos.remoteRef"
 * ```
 */
export const REMOTE_REF: unique symbol = Symbol.for("denocos.remoteRef");

/**
 * What the core asks of a remote task or channel. Implemented by the network
 * layer's `RemoteTask` and `RemoteChannel`.
 *
 * @example
 * ```ts
 * import type { RemoteEndpoint } from "@denocos/denocos/core";
 *
 * const endpoint: RemoteEndpoint = {
 *   key: "peer-1/7/42",
 *   send: (_message) => true,
 *   deliver: (_message) => Promise.resolve(1),
 *   addMonitor: (_watcher) => {},
 * };
 * console.log(endpoint.send("hi")); // true
 * ```
 */
export interface RemoteEndpoint {
  /**
   * Names the remote task or channel (peer, incarnation, id): two references
   * with the same key are the same subscriber for `subscribe` / `unsubscribe`.
   */
  readonly key: string;
  /**
   * Queues `message` for the remote end; `false` once it is known to have
   * ended or its peer is gone (a channel then drops the subscriber). May
   * throw `MailboxFull` when the link's send queue is full (a channel logs it
   * and goes on with its other subscribers) or a `TypeError` for a value the
   * wire cannot carry.
   */
  send(message: unknown): boolean;
  /** Resolves `1` once the remote mailbox has `message`, `0` on timeout, ended task or lost peer. */
  deliver(message: unknown, options?: WaitOptions): Promise<number>;
  /**
   * Makes the local `watcher` receive a `MonitorStatus` when the remote task
   * ends, or `"unreachable"` when its peer is lost (through
   * `taskInternals.notify`, as local monitors are notified).
   */
  addMonitor(watcher: Task): void;
}

/**
 * A reference to a task or channel on another peer: any object whose
 * `[REMOTE_REF]` is its `RemoteEndpoint`.
 *
 * @example
 * ```ts
 * import { REMOTE_REF, type RemoteReference } from "@denocos/denocos/core";
 *
 * class FakeRemote implements RemoteReference {
 *   readonly [REMOTE_REF] = {
 *     key: "fake",
 *     send: (_m: unknown) => true,
 *     deliver: (_m: unknown) => Promise.resolve(1),
 *     addMonitor: () => {},
 *   };
 * }
 * console.log(new FakeRemote()[REMOTE_REF].key); // "fake"
 * ```
 */
export interface RemoteReference {
  /** The remote end's operations. */
  readonly [REMOTE_REF]: RemoteEndpoint;
}

/**
 * The endpoint of `value` when it is a remote reference, else `undefined`.
 *
 * @example
 * ```ts
 * import { remoteEndpoint } from "@denocos/denocos/core";
 *
 * console.log(remoteEndpoint({})); // undefined
 * ```
 */
export function remoteEndpoint(value: unknown): RemoteEndpoint | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const endpoint = (value as Partial<RemoteReference>)[REMOTE_REF];
  return typeof endpoint === "object" && endpoint !== null ? endpoint : undefined;
}
