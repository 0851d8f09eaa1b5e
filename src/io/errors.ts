/**
 * The errors the I/O layer raises. Each is its own class so callers can tell
 * them apart with `instanceof` instead of parsing messages.
 *
 * @module
 */

/**
 * The connection ended before an operation could complete: the peer closed it
 * (or reset it) before `recvAll` got all its bytes or in the middle of a
 * `recvMsg` frame, or the socket was closed locally while the operation
 * waited or before it started. `cause` holds the underlying error, if any.
 *
 * @example
 * ```ts
 * import { AsyncSocket, ConnectionClosed } from "@denocos/denocos/io";
 *
 * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await AsyncSocket.connect({ hostname: "127.0.0.1", port: server.localAddr.port });
 * const conn = await server.accept();
 * await client.sendAll(new Uint8Array([1, 2]));
 * client.close();
 * try {
 *   await conn.recvAll(4);
 * } catch (e) {
 *   console.log(e instanceof ConnectionClosed); // true: only 2 of 4 bytes came
 * }
 * conn.close();
 * ```
 */
export class ConnectionClosed extends Error {
  /**
   * Makes the error; the I/O layer throws it, user code rarely needs to.
   *
   * @param message what ended and where
   * @param options `cause`: the underlying error, if any
   */
  constructor(message = "connection closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosed";
  }
}

/**
 * A message, frame or line (or the output `AsyncPipe.communicate`
 * collects) is longer than the limit set for it. On the sending side
 * nothing was sent and the socket is unharmed; on the receiving side of
 * `recvMsg` the stream can no longer be trusted, so that connection is
 * closed (and nothing else is disturbed); a line that is too long stays
 * buffered.
 *
 * @example
 * ```ts
 * import { AsyncSocket, MessageTooLarge } from "@denocos/denocos/io";
 *
 * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
 * await using client = await AsyncSocket.connect({
 *   hostname: "127.0.0.1",
 *   port: server.localAddr.port,
 *   maxMessageSize: 16,
 * });
 * try {
 *   await client.sendMsg(new Uint8Array(17));
 * } catch (e) {
 *   if (e instanceof MessageTooLarge) console.log(e.size, e.limit); // 17 16
 * }
 * ```
 */
export class MessageTooLarge extends Error {
  /** The size that was refused, in bytes. */
  readonly size: number;
  /** The limit it exceeded, in bytes. */
  readonly limit: number;
  /**
   * Makes the error for `size` bytes against a limit of `limit`.
   *
   * @param size the refused size in bytes
   * @param limit the limit in bytes
   * @param what what was too large, for the message
   */
  constructor(size: number, limit: number, what = "message") {
    super(`${what} of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = "MessageTooLarge";
    this.size = size;
    this.limit = limit;
  }
}
