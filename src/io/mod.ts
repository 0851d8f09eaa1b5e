/**
 * Asynchronous I/O for tasks: sockets, datagrams, pipes, files and a pool of
 * Workers for blocking work. Each facility asks only for its own permission.
 *
 * @module
 */
export {
  AsyncSocket,
  type ConnectOptions,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_MESSAGE_SIZE,
  type ReadLineOptions,
  type RecvIntoOptions,
  type RecvMsgOptions,
  type Sendable,
  type SocketOptions,
  type StartTlsOptions,
  type TcpConnectOptions,
  type TlsClientOptions,
  type UnixConnectOptions,
} from "./async_socket.ts";
export {
  AsyncServer,
  type ListenOptions,
  type TcpListenOptions,
  type TlsServerOptions,
  type UnixListenOptions,
} from "./async_server.ts";
export { ConnectionClosed, MessageTooLarge } from "./errors.ts";
export { ReadBuffer } from "./read_buffer.ts";
export {
  AsyncDatagram,
  type Datagram,
  type DatagramAddr,
  type DatagramOptions,
} from "./async_datagram.ts";
export {
  AsyncPipe,
  type CommunicateOptions,
  type PipeInput,
  type PipeOptions,
  type PipeOutput,
} from "./async_pipe.ts";
export { AsyncFile, type FileOptions } from "./async_file.ts";
export { AsyncThreadPool, type JobOptions, type ThreadPoolOptions } from "./async_thread_pool.ts";
export { PoolClosed, WorkerCrashed, WorkerJobError } from "./pool_errors.ts";
