/**
 * One link per remote peer: the state machine that alone owns that peer's
 * connections, heartbeats, redials, status and send queue.
 *
 * A link is **online** from its first authenticated connection until it is
 * declared **offline** (the peer said GOODBYE, was silent for `peerTimeout`,
 * or could not be reached again within `peerTimeout` of losing the
 * connection) or **closed** here. A connection that drops while the peer
 * still answers is replaced without the link going offline: the side that
 * dialled it redials with backoff, and what is sent meanwhile waits in the
 * link's queue and goes out on the new connection, in order. So `online` /
 * `offline` fire once per change, never for a transparent reconnection.
 *
 * A link holds at most two connections: the **active** one, which carries
 * everything it sends, and, right after two dials crossed (or a redial
 * reached a peer that had not yet noticed the old connection die), a
 * **draining** one that is being given up. Both ends pick the same winner
 * (the connection dialled by the peer whose id sorts lower; between two
 * dialled by the same peer, the newer), send GOODBYE on the loser after
 * whatever they already wrote to it, and deliver nothing from the winner
 * until the loser's GOODBYE (or its end) has come in. So a message written
 * on either connection is delivered once, in the order it was sent.
 *
 * The send queue is the link's `FrameWriter`, which outlives connections:
 * what a dying connection had not yet been handed is written to the next
 * one; bytes already handed to the dead connection may or may not have
 * reached the peer (at most once, as with any stream).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { FrameWriter } from "./_frames.ts";
import type { PeerIdentity } from "./_handshake.ts";
import type { DialTarget } from "./_hub.ts";
import { type Connection, type ConnectionEvents, DRAIN } from "./_connection.ts";

const logger = getLogger(["denocos", "net"]);

/** The first redial waits this long; each next one twice as long. */
const REDIAL_FIRST = 25;
/** The longest wait between redials. */
const REDIAL_MAX = 1000;

/** A peer's status as its link sees it. */
export type LinkStatus = "online" | "offline" | "closed";

/**
 * The hub's view of one remote peer, as the API layer uses it.
 *
 * @example
 * ```ts ignore
 * const link = await hub.connect({ hostname: "127.0.0.1", port: 9705 });
 * link.send(new Uint8Array([1, 2, 3]));
 * await link.close();
 * ```
 */
export interface Link {
  /** Who the peer is. */
  readonly peer: PeerIdentity;
  /** Whether the peer is online (also while a dropped connection is being replaced). */
  readonly online: boolean;
  /** `online`, `offline` or `closed` (closed here). */
  readonly status: LinkStatus;
  /**
   * Queues one message (copied: the caller may reuse `body` at once). An
   * empty message is refused: no encoded message is empty, and the wire
   * uses one as a marker.
   *
   * @returns `true` once queued, `false` when the link is offline or closed
   * @throws MailboxFull when `maxQueuedBytes` are already waiting; nothing is queued then
   * @throws MessageTooLarge when `body` is over `maxMessageSize` (the peer would drop the link)
   */
  send(body: Uint8Array): boolean;
  /** Sends GOODBYE, closes the connection and declares the peer offline here. */
  close(): Promise<void>;
}

/** What a link needs from its hub. */
export interface LinkContext {
  readonly selfId: string;
  readonly heartbeatInterval: number;
  readonly peerTimeout: number;
  readonly maxQueuedBytes: number;
  readonly maxMessageSize: number;
  /** Dials and authenticates a new connection to the peer; rejects on failure. */
  redial(link: PeerLink, to: DialTarget, timeout: number): Promise<void>;
  online(link: PeerLink): void;
  offline(link: PeerLink, reason: string): void;
  message(link: PeerLink, body: Uint8Array): void;
}

/**
 * The link state machine (internal; the API layer sees it as {@linkcode Link}).
 *
 * @example
 * ```ts ignore
 * // Inside the hub: one per peer id, fed every authenticated connection.
 * const link = new PeerLink(peer, ctx);
 * link.attach(new Connection(conn, peer, true, maxMessageSize), { hostname, port });
 * ```
 */
export class PeerLink implements Link, ConnectionEvents {
  #peer: PeerIdentity;
  readonly #ctx: LinkContext;
  #status: LinkStatus = "offline";
  #writer: FrameWriter;
  #active: Connection | null = null;
  #draining: Connection | null = null;
  /** Where to redial when the active connection drops (set when we dialled it). */
  #redialTo: DialTarget | null = null;
  #lostTimer: ReturnType<typeof setTimeout> | undefined;
  #redialTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #lostAt = 0;
  #closing: Promise<void> | undefined;

  /**
   * Makes an offline link; the hub attaches its first connection.
   *
   * @param peer the peer's identity from its INFO
   * @param ctx the hub's side of the link
   */
  constructor(peer: PeerIdentity, ctx: LinkContext) {
    this.#peer = peer;
    this.#ctx = ctx;
    this.#writer = this.#newWriter();
  }

  get peer(): PeerIdentity {
    return this.#peer;
  }

  get online(): boolean {
    return this.#status === "online";
  }

  get status(): LinkStatus {
    return this.#status;
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.#writer.queuedBytes;
  }

  send(body: Uint8Array): boolean {
    if (this.#status !== "online") return false;
    if (body.length === 0) throw new RangeError("link.send: empty message");
    return this.#writer.writeMessage(body);
  }

  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    const wasOnline = this.#status === "online";
    this.#status = "closed";
    this.#stopTimers();
    const active = this.#active;
    const draining = this.#draining;
    this.#active = this.#draining = null;
    if (active !== null) {
      active.writer!.goodbye();
      await active.flushed();
      active.abort();
    }
    draining?.abort();
    draining?.writer?.close();
    this.#writer.close();
    if (wasOnline) this.#ctx.offline(this, "closed");
  }

  /**
   * Takes a freshly authenticated connection to this peer (dialled by us or
   * by it) and makes it the active one, or resolves a duplicate.
   *
   * @param conn the connection, not yet started
   * @param dialTo where we dialled it (`null`: the peer dialled us)
   */
  attach(conn: Connection, dialTo: DialTarget | null): void {
    if (this.#status === "closed") {
      conn.abort();
      return;
    }
    conn.events = this;
    const { heartbeatInterval, peerTimeout } = this.#ctx;
    const active = this.#active;
    if (active === null) {
      if (this.#writer.closed) this.#writer = this.#newWriter();
      this.#use(conn, dialTo);
      conn.start(heartbeatInterval, peerTimeout);
      if (this.#status !== "online") {
        this.#status = "online";
        this.#ctx.online(this);
      }
      return;
    }
    if (this.#draining !== null) this.#dropDraining();
    if (conn.dialledByUs === active.dialledByUs) {
      // The same side dialled again, so it gave the old connection up
      // (here it just has not noticed yet): the new one replaces it. A
      // half-open old one would otherwise hold the new one for a peerTimeout.
      active.abort();
      this.#use(conn, dialTo);
      conn.start(heartbeatInterval, peerTimeout);
      return;
    }
    // Two dials crossed: keep one, drain the other. Both ends pick the same.
    let loser: Connection;
    if (this.#wins(conn)) {
      // The loser keeps the writer it has (what it holds goes out on it,
      // then DRAIN); new messages go to the winner through a fresh one.
      loser = active;
      this.#writer = this.#newWriter();
      this.#use(conn, dialTo);
    } else {
      loser = conn;
      loser.writer = this.#newWriter();
      loser.writer.attach(loser.transport);
    }
    this.#draining = loser;
    try {
      loser.writer!.writeMessage(DRAIN);
    } catch {
      // Its queue is full: ending it tells the peer as much as a DRAIN
      // would (what that queue held is lost with it).
      this.#dropDraining();
      conn.start(heartbeatInterval, peerTimeout);
      return;
    }
    // Nothing from the winner is delivered before the loser's last message;
    // a loser that never says so is given up after half a peerTimeout, well
    // before the paused winner could look silent.
    this.#active!.pause();
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = undefined;
      if (this.#draining === loser) this.#dropDraining();
    }, peerTimeout / 2);
    conn.start(heartbeatInterval, peerTimeout);
  }

  /** The identity this link answers to, refreshed by a reconnection. */
  refresh(peer: PeerIdentity): void {
    this.#peer = peer;
  }

  #use(conn: Connection, dialTo: DialTarget | null): void {
    this.#active = conn;
    this.#redialTo = dialTo;
    this.#stopTimers();
    conn.writer = this.#writer;
    this.#writer.attach(conn.transport);
  }

  /** Whether `conn` beats the other connection (dialled by the other side): the lower id's dial wins. */
  #wins(conn: Connection): boolean {
    const selfLower = this.#ctx.selfId < this.#peer.id;
    return conn.dialledByUs === selfLower;
  }

  #newWriter(): FrameWriter {
    const writer: FrameWriter = new FrameWriter(undefined, {
      maxQueuedBytes: this.#ctx.maxQueuedBytes,
      maxMessageSize: this.#ctx.maxMessageSize,
      peerName: this.#peer.name || this.#peer.id,
      onError: (e) => {
        for (const c of [this.#active, this.#draining]) if (c?.writer === writer) c.fail(e);
      },
    });
    return writer;
  }

  // --- ConnectionEvents: called by the connections this link owns.

  message(_conn: Connection, body: Uint8Array): void {
    this.#ctx.message(this, body);
  }

  goodbye(conn: Connection): void {
    if (conn === this.#draining) return this.#finishDraining();
    if (conn === this.#active) this.#offline(`${this.#describe()} said goodbye`);
  }

  drained(conn: Connection): void {
    if (conn === this.#draining) this.#finishDraining();
  }

  ended(conn: Connection, reason: string, silent: boolean): void {
    if (conn === this.#draining) return this.#dropDraining();
    if (conn !== this.#active || this.#status !== "online") return;
    this.#active = null;
    this.#writer.detach();
    if (silent) {
      // Silent for peerTimeout already: nothing left to wait for.
      return this.#offline(`${this.#describe()} ${reason}`);
    }
    logger.debug("connection to {peer} lost ({reason}); waiting {timeout} ms for it to return", {
      peer: this.#describe(),
      reason,
      timeout: this.#ctx.peerTimeout,
    });
    this.#lostAt = performance.now();
    this.#lostTimer = setTimeout(() => {
      this.#lostTimer = undefined;
      this.#offline(
        `${this.#describe()} lost (${reason}) and not back within ${this.#ctx.peerTimeout} ms`,
      );
    }, this.#ctx.peerTimeout);
    if (this.#redialTo !== null) this.#scheduleRedial(REDIAL_FIRST);
  }

  /** The peer's DRAIN came in on the loser: flush ours, close it, deliver from the winner. */
  #finishDraining(): void {
    const d = this.#draining!;
    this.#draining = null;
    clearTimeout(this.#drainTimer);
    this.#active?.resume();
    void d.flushed().then(() => {
      d.abort();
      if (d.writer !== this.#writer) d.writer?.close();
    });
  }

  /** The loser ended before its DRAIN came: what it still held is lost with it. */
  #dropDraining(): void {
    const d = this.#draining!;
    this.#draining = null;
    clearTimeout(this.#drainTimer);
    d.abort();
    if (d.writer !== this.#writer) d.writer?.close();
    this.#active?.resume();
  }

  #scheduleRedial(delay: number): void {
    const remaining = this.#lostAt + this.#ctx.peerTimeout - performance.now();
    if (remaining <= 0 || this.#status !== "online" || this.#active !== null) return;
    this.#redialTimer = setTimeout(() => {
      this.#redialTimer = undefined;
      void this.#redial(Math.min(delay * 2, REDIAL_MAX));
    }, Math.min(delay, remaining));
  }

  async #redial(nextDelay: number): Promise<void> {
    const to = this.#redialTo;
    const remaining = this.#lostAt + this.#ctx.peerTimeout - performance.now();
    if (to === null || remaining <= 0 || this.#active !== null || this.#status !== "online") return;
    logger.debug("redialing {peer} at {host}:{port} ({remaining} ms left)", {
      peer: this.#describe(),
      host: to.hostname,
      port: to.port,
      remaining: Math.round(remaining),
    });
    try {
      await this.#ctx.redial(this, to, remaining);
    } catch (e) {
      logger.debug("redial of {peer} at {host}:{port} failed: {error}", {
        peer: this.#describe(),
        host: to.hostname,
        port: to.port,
        error: (e as Error)?.message ?? String(e),
      });
      this.#scheduleRedial(nextDelay);
    }
  }

  #offline(reason: string): void {
    if (this.#status !== "online") return;
    this.#status = "offline";
    this.#stopTimers();
    const active = this.#active;
    this.#active = null;
    active?.abort();
    if (this.#draining !== null) this.#dropDraining();
    this.#writer.close();
    logger.info("peer {peer} offline: {reason}", { peer: this.#describe(), reason });
    this.#ctx.offline(this, reason);
  }

  #stopTimers(): void {
    clearTimeout(this.#lostTimer);
    clearTimeout(this.#redialTimer);
    clearTimeout(this.#drainTimer);
    this.#lostTimer = this.#redialTimer = this.#drainTimer = undefined;
  }

  #describe(): string {
    const p = this.#peer;
    return `${p.name || p.id} (${p.location.hostname}:${p.location.port})`;
  }
}
