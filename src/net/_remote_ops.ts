/**
 * What remote references ask of the network they came from. Kept as an
 * interface so the reference classes do not import the network module.
 *
 * @module
 */
import type { WaitOptions } from "../core/_internal.ts";
import type { Task } from "../core/_internal.ts";
import type { Subscriber } from "../core/_internal.ts";
import type { RemoteTask } from "./remote_task.ts";
import type { RemoteChannel } from "./remote_channel.ts";

/**
 * The operations behind `RemoteTask`, `RemoteChannel` and `Service`.
 *
 * @example
 * ```ts ignore
 * remoteTask.ops.sendTask(remoteTask, "hi");
 * ```
 */
export interface RemoteOps {
  isOnline(peer: string): boolean;
  sendTask(t: RemoteTask, message: unknown): boolean;
  deliverTask(t: RemoteTask, message: unknown, options: WaitOptions | undefined): Promise<number>;
  terminateTask(t: RemoteTask): boolean;
  throwTask(t: RemoteTask, error: unknown): boolean;
  finishTask(t: RemoteTask, options: WaitOptions | undefined): Promise<unknown>;
  monitorTask(t: RemoteTask, watcher: Task): void;
  sendChannel(c: RemoteChannel, message: unknown): boolean;
  deliverChannel(
    c: RemoteChannel,
    message: unknown,
    options: { n?: number; timeout?: number; signal?: AbortSignal } | undefined,
  ): Promise<number>;
  subscribeChannel(
    c: RemoteChannel,
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options: WaitOptions | undefined,
  ): Promise<void>;
  unsubscribeChannel(
    c: RemoteChannel,
    subscriber: Subscriber | RemoteTask | RemoteChannel,
    options: WaitOptions | undefined,
  ): Promise<boolean>;
  runService(
    peer: string,
    name: string,
    args: unknown[],
    options: WaitOptions | undefined,
  ): Promise<RemoteTask>;
}
