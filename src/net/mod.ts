/**
 * The denocos network: peers that find each other (multicast discovery or
 * explicit seeds), authenticate with a cluster secret, and pass messages
 * between tasks and channels wherever they live. `Scheduler` here is the
 * core scheduler plus `listen`, `peer`, `peers`, `peerStatus`, `closePeer`,
 * services and files; `Task.locate` and `Channel.locate` search the peers.
 *
 * @example
 * ```ts ignore
 * import { Scheduler, spawn, Task } from "@denocos/denocos";
 *
 * await Scheduler.default().listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
 * await Scheduler.default().peer({ hostname: "127.0.0.1", port: 9705 });
 * const server = await Task.locate("server_task", { timeout: 5000 });
 * for (let i = 0; i < 3; i++) server!.send(`hello ${i}`);
 * await Scheduler.default().finish();
 * ```
 *
 * @module
 */
export { DEFAULT_PORT, type PeerListenOptions, type PeerOptions, Scheduler } from "./scheduler.ts";
export { RemoteTask } from "./remote_task.ts";
export { RemoteChannel } from "./remote_channel.ts";
export { Service, type ServiceLocateOptions } from "./service.ts";
export type { PeerInfo } from "./peer_info.ts";
export { PeerStatus } from "./peer_status.ts";
export type { ChannelRef, TaskRef } from "./refs.ts";
export type { SendFileOptions } from "./_files.ts";
export {
  AuthenticationFailed,
  PeerLost,
  PeerUnreachable,
  ProtocolError,
  RemoteError,
} from "./errors.ts";
export {
  type ChannelRefRecord,
  Codec,
  type CodecContext,
  type CodecLimits,
  DEFAULT_CODEC_LIMITS,
  type MessageClassHandlers,
  registerErrorClass,
  registerMessageClass,
  type TaskRefRecord,
} from "./codec.ts";
export {
  type DialSpec,
  type ListenSpec,
  tcpTransport,
  type Transport,
  type TransportConn,
  type TransportListener,
} from "./transport.ts";
