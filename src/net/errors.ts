/**
 * The errors the network layer raises. Each one is its own class so callers
 * can tell them apart with `instanceof` instead of parsing messages.
 *
 * @module
 */

/**
 * A peer could not be reached: the connection was refused, timed out, was
 * aborted, or the name did not resolve. `cause` holds the transport's error.
 *
 * @example
 * ```ts
 * import { PeerUnreachable } from "@denocos/denocos/net";
 *
 * const e = new PeerUnreachable("127.0.0.1:9705 refused the connection");
 * console.log(e instanceof PeerUnreachable, e.name); // true PeerUnreachable
 * ```
 */
export class PeerUnreachable extends Error {
  /**
   * Creates a `PeerUnreachable`.
   *
   * @param message which peer and why
   * @param options `cause`: the transport's error, if any
   */
  constructor(message = "peer unreachable", options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerUnreachable";
  }
}

/**
 * The handshake with a peer failed: it does not know the cluster's secret,
 * belongs to another cluster, or did not speak the protocol.
 *
 * @example
 * ```ts
 * import { AuthenticationFailed } from "@denocos/denocos/net";
 *
 * const e = new AuthenticationFailed("127.0.0.1:9705: wrong secret or cluster");
 * console.log(e instanceof AuthenticationFailed); // true
 * ```
 */
export class AuthenticationFailed extends Error {
  /**
   * Creates an `AuthenticationFailed`.
   *
   * @param message which peer and what failed
   * @param options `cause`: the underlying error, if any
   */
  constructor(message = "authentication failed", options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationFailed";
  }
}

/**
 * The peer an operation depended on was declared offline (silent for
 * `peerTimeout`, or gone) before the operation completed: for example
 * `finish` on a task that ran there.
 *
 * @example
 * ```ts
 * import { PeerLost } from "@denocos/denocos/net";
 *
 * const e = new PeerLost("peer 'worker-1' at 127.0.0.1:9705 was lost");
 * console.log(e instanceof PeerLost); // true
 * ```
 */
export class PeerLost extends Error {
  /**
   * Creates a `PeerLost`.
   *
   * @param message which peer was lost
   * @param options `cause`: the underlying error, if any
   */
  constructor(message = "peer lost", options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerLost";
  }
}

/**
 * An error thrown on another peer whose class this process does not know. It
 * keeps the remote error's `name` as `remoteName` (and as `name`, so it
 * prints as the original would), its `message`, and its stack as
 * `remoteStack`.
 *
 * @example
 * ```ts
 * import { RemoteError } from "@denocos/denocos/net";
 *
 * const e = new RemoteError("RangeError", "index out of range", "RangeError: index out of range\n    at f");
 * console.log(e instanceof RemoteError, e.name, e.message); // true RangeError index out of range
 * ```
 */
export class RemoteError extends Error {
  /** The error's `name` on the peer that threw it. */
  readonly remoteName: string;
  /** The error's stack on the peer that threw it (empty if it sent none). */
  readonly remoteStack: string;
  /**
   * Creates a `RemoteError`.
   *
   * @param name the remote error's `name`
   * @param message the remote error's `message`
   * @param remoteStack the remote error's stack, if it sent one
   */
  constructor(name: string, message: string, remoteStack = "") {
    super(message);
    this.name = name;
    this.remoteName = name;
    this.remoteStack = remoteStack;
  }
}

/**
 * A peer broke the wire protocol: a frame over the size limit, an unknown
 * frame kind, a message past the decoder's limits, bytes that are not a
 * frame. The link it came on is closed; nothing else is disturbed.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "@denocos/denocos/net";
 *
 * const e = new ProtocolError("frame of 16777216 bytes exceeds the limit of 65552");
 * console.log(e instanceof ProtocolError); // true
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Creates a `ProtocolError`.
   *
   * @param message what was wrong with the input
   * @param options `cause`: the underlying error, if any
   */
  constructor(message = "protocol error", options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}
