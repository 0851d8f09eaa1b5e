/**
 * One authenticated transport connection inside a link: its frame reader,
 * the writer it is fed from, its heartbeats. The link decides what happens
 * to it; the connection only reports what it saw.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { FRAME_GOODBYE, FRAME_MSG, FrameReader, type FrameWriter } from "./_frames.ts";
import type { PeerIdentity } from "./_handshake.ts";
import { Heartbeats, type HeartbeatTarget } from "./_heartbeats.ts";
import type { TransportConn } from "./transport.ts";

const logger = getLogger(["denocos", "net"]);

/** What a connection reports to the link that owns it. */
export interface ConnectionEvents {
  /** One whole message; `body` is valid only during the call. */
  message(conn: Connection, body: Uint8Array): void;
  /** The peer sent GOODBYE: it is leaving. */
  goodbye(conn: Connection): void;
  /** The peer gave this connection up for another one: nothing more of its own comes on it. */
  drained(conn: Connection): void;
  /** The connection ended: closed, reset, broke the protocol, or (`silent`) timed out. */
  ended(conn: Connection, reason: string, silent: boolean): void;
}

const IGNORE: ConnectionEvents = {
  message() {},
  goodbye() {},
  drained() {},
  ended() {},
};

/**
 * The DRAIN marker: an empty `MSG`. No encoded message is empty, so it
 * cannot be confused with one; it says "this connection carries nothing
 * more of mine" when two connections were resolved into one.
 */
export const DRAIN: Uint8Array = new Uint8Array(0);

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
  /** The writer that feeds it (the link's, or a private one while it drains). */
  writer: FrameWriter | undefined;
  readonly #reader: FrameReader;
  #heartbeats: Heartbeats | undefined;
  #ended = false;
  #started = false;
  #paused: Promise<void> | undefined;
  #resume: (() => void) | undefined;
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
    this.writer?.heartbeat();
  }

  dead(silence: number): void {
    this.#end(`silent for ${Math.round(silence)} ms`, true);
  }

  /** A write failed: the connection is as good as gone. */
  fail(error: unknown): void {
    this.#end(`write failed: ${(error as Error)?.message ?? error}`, false);
  }

  /** Holds delivery of messages (the reader waits, nothing is lost) until `resume`. */
  pause(): void {
    this.#paused ??= new Promise<void>((resolve) => this.#resume = resolve);
  }

  /** Delivers again. */
  resume(): void {
    const r = this.#resume;
    this.#paused = this.#resume = undefined;
    r?.();
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

  onFrame(kind: number, body: Uint8Array): void | Promise<void> {
    if (kind === FRAME_MSG) {
      if (body.length === 0) return this.events.drained(this);
      if (this.#paused !== undefined) return this.#paused.then(() => this.#deliver(body));
      this.#deliver(body);
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

  #deliver(body: Uint8Array): void {
    if (this.#ended) return;
    try {
      this.events.message(this, body);
    } catch (e) {
      // The handler's bug, not the peer's: keep the link.
      logger.error("message handler threw: {error}", { error: e });
    }
  }

  #stop(): void {
    this.#heartbeats?.stop();
    this.#reader.stop();
    this.transport.close();
    this.resume();
  }

  #end(reason: string, silent: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop();
    this.events.ended(this, reason, silent);
  }
}
