/**
 * `TaskRef` and `ChannelRef`: a task or channel, wherever it lives.
 *
 * @module
 */
import type { Channel } from "../core/_internal.ts";
import type { Task } from "../core/_internal.ts";
import type { RemoteChannel } from "./remote_channel.ts";
import type { RemoteTask } from "./remote_task.ts";

/**
 * A local `Task` or a `RemoteTask`: what `Task.locate` finds, what travels
 * in messages, what `monitor` and `subscribe` take.
 *
 * @example
 * ```ts
 * import { spawn, type TaskRef } from "@denocos/denocos";
 *
 * const ref: TaskRef = spawn((task) => task.receive());
 * ref.send("hello");
 * ```
 */
export type TaskRef = Task | RemoteTask;

/**
 * A local `Channel` or a `RemoteChannel`.
 *
 * @example
 * ```ts
 * import { Channel, type ChannelRef } from "@denocos/denocos";
 *
 * const ref: ChannelRef = new Channel("news");
 * console.log(ref.send("hello")); // 0 subscribers
 * ```
 */
export type ChannelRef = Channel | RemoteChannel;
