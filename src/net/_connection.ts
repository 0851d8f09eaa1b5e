/**
 * One authenticated transport connection inside a link: its frame reader,
 * the writer it is fed from, its heartbeats. The link decides what happens
 * to it; the connection only reports what it saw, after checking that the
 * peer keeps to the order of a link's connection: its `RESUME` first, then
 * messages, acknowledgements and heartbeats.
 *
 * @module
 */

import {
  FRAME_ACK,
  FRAME_GOODBYE,
  FRAME_MSG,
  FRAME_RESUME,
  FrameReader,
  type FrameWriter,
} from "./_frames.ts";
import { ProtocolError } from "./errors.ts";
import type { PeerIdentity } from "./_handshake.ts";
import { Heartbeats, type HeartbeatTarget } from "./_heartbeats.ts";
import type { TransportConn } from "./transport.ts";

/**
 * What a connection reports to the link that owns it. A handler that
 * throws (a `ProtocolError` for what the peer said) ends the connection.
 */
export interface ConnectionEvents {
  /** One whole message, the connection's `rxSeq`-th; `body` is valid only during the call. */
  message(conn: Connection, body: Uint8Array): void;
  /** The peer's `RESUME`: its session, the session of ours it knows, the last seq it delivered. */
  resume(conn: Connection, session: number, known: number, delivered: number): void;
  /** The peer's cumulative acknowledgement. */
  ack(conn: Connection, seq: number): void;
  /** A heartbeat is due: the link writes one (or an acknowledgement). */
  heartbeat(conn: Connection): void;
  /** The peer sent GOODBYE: it is leaving. */
  goodbye(conn: Connection): void;
  /** The connection ended: closed, reset, broke the protocol, or (`silent`) timed out. */
  ended(conn: Connection, reason: string, silent: boolean): void;
}

const IGNORE: ConnectionEvents = {
  message() {},
  resume() {},
  ack() {},
  heartbeat() {},
  goodbye() {},
  ended() {},
};

/** Reads a `u64` seq (big-endian) at `at`, refusing one past 2^53. */
export function readSeq(body: Uint8Array, at: number): number {
  const hi = ((body[at] << 24) | (body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]) >>> 0;
  const lo = ((body[at + 4] << 24) | (body[at + 5] << 16) | (body[at + 6] << 8) | body[at + 7]) >>>
    0;
  if (hi >= 0x200000) throw new ProtocolError(`sequence number over 2^53`);
  return hi * 0x100000000 + lo;
}

/** Writes `seq` as a `u64` (big-endian) at `at`. */
export function writeSeq(out: Uint8Array, at: number, seq: number): void {
  const hi = Math.floor(seq / 0x100000000);
  const lo = seq >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = hi >>> 16;
  out[at + 2] = hi >>> 8;
  out[at + 3] = hi;
  out[at + 4] = lo >>> 24;
  out[at + 5] = lo >>> 16;
  out[at + 6] = lo >>> 8;
  out[at + 7] = lo;
}

function readU32(body: Uint8Array, at: number): number {
  return ((body[at] << 24) | (body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]) >>> 0;
}

/**
 * One authenticated connection.
 *
 * @example
 * ```ts ignore
 * const conn = new Connection(transportConn, peer, true, 64 << 20);
 * conn.events = link; // the link owns it from now on
 * conn.writer = writer; // attached to conn.transport by the link
 * conn.start(500, 2500);
 * ```
 */
export class Connection implements HeartbeatTarget {
  /** Who is on the other end, as its INFO said. */
  readonly peer: PeerIdentity;
  /** Whether this side dialled it. */
  readonly dialledByUs: boolean;
  /** The transport connection. */
  readonly transport: TransportConn;
  /** Where the owner hears about it; set by the link that attaches it. */
  events: ConnectionEvents = IGNORE;
  /** The writer that feeds it, its own (set by the link). */
  writer: FrameWriter | undefined;
  /**
   * Seq of the last message received on it: the link sets it to the seq
   * its `RESUME` announced, and each message adds one.
   */
  rxSeq = 0;
  /** Whether the peer's `RESUME` came (and was taken). */
  resumed = false;
  readonly #reader: FrameReader;
  #heartbeats: Heartbeats | undefined;
  #ended = false;
  #started = false;
  #reading: Promise<void> | undefined;

  /**
   * Wraps an authenticated transport connection; nothing is read until `start`.
   *
   * @param transport the transport connection, handshake done, nothing buffered
   * @param peer the peer's identity
   * @param dialledByUs whether this side dialled
   * @param maxMessageSize the largest message accepted
   */
  constructor(
    transport: TransportConn,
    peer: PeerIdentity,
    dialledByUs: boolean,
    maxMessageSize: number,
  ) {
    this.transport = transport;
    this.peer = peer;
    this.dialledByUs = dialledByUs;
    this.#reader = new FrameReader(transport, this, { maxMessageSize });
    this.#reader.authenticated();
  }

  get framesWritten(): number {
    return this.writer?.framesQueued ?? 0;
  }

  get framesReceived(): number {
    return this.#reader.framesRead;
  }

  /** Whether it ended (or was closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Resolves once the read loop has stopped. */
  get done(): Promise<void> {
    return this.#reading ?? Promise.resolve();
  }

  /** Starts reading and the heartbeats. */
  start(heartbeatInterval: number, peerTimeout: number): void {
    if (this.#started || this.#ended) return;
    this.#started = true;
    this.#heartbeats = new Heartbeats(this, { interval: heartbeatInterval, timeout: peerTimeout });
    this.#heartbeats.start();
    this.#reading = this.#reader.start();
  }

  sendHeartbeat(): void {
    this.events.heartbeat(this);
  }

  dead(silence: number): void {
    this.#end(`silent for ${Math.round(silence)} ms`, true);
  }

  /** A write failed: the connection is as good as gone. */
  fail(error: unknown): void {
    this.#end(`write failed: ${(error as Error)?.message ?? error}`, false);
  }

  /** Waits (at most `limit` ms) until its writer has written everything queued. */
  async flushed(limit = 2000): Promise<void> {
    const writer = this.writer;
    if (writer === undefined || this.#ended) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        writer.flushed(),
        new Promise<void>((resolve) => timer = setTimeout(resolve, limit)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes now, reporting nothing; the writer is left to its owner. */
  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop();
  }

  // --- FrameHandler

  onFrame(kind: number, body: Uint8Array): void {
    if (this.#ended) return;
    if (kind === FRAME_MSG) {
      if (!this.resumed) throw new ProtocolError("a message before RESUME");
      if (body.length === 0) throw new ProtocolError("an empty message");
      this.rxSeq++;
      this.events.message(this, body);
    } else if (kind === FRAME_ACK) {
      if (!this.resumed) throw new ProtocolError("an ACK before RESUME");
      this.events.ack(this, readSeq(body, 0));
    } else if (kind === FRAME_RESUME) {
      if (this.resumed) throw new ProtocolError("a second RESUME");
      const session = readU32(body, 0);
      if (session === 0) throw new ProtocolError("RESUME with session 0");
      const delivered = readSeq(body, 8);
      this.resumed = true;
      this.events.resume(this, session, readU32(body, 4), delivered);
    } else if (kind === FRAME_GOODBYE) {
      this.#reader.stop();
      this.events.goodbye(this);
    }
    // HEARTBEAT: life, counted by the reader.
  }

  onError(error: unknown): void {
    this.#end((error as Error)?.message ?? String(error), false);
  }

  onEnd(): void {
    this.#end("connection closed by the peer", false);
  }

  #stop(): void {
    this.#heartbeats?.stop();
    this.#reader.stop();
    this.transport.close();
  }

  #end(reason: string, silent: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop();
    this.events.ended(this, reason, silent);
  }
}
