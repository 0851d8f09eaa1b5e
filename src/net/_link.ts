/**
 * One link per remote peer: the state machine that alone owns that peer's
 * connection, heartbeats, redials, status and outbox.
 *
 * A link is **online** from its first authenticated connection until it is
 * declared **offline** (the peer said GOODBYE, was silent for `peerTimeout`,
 * or could not be reached again within `peerTimeout` of losing the
 * connection) or **closed** here. A connection that drops while the peer
 * still answers is replaced without the link going offline: a side that
 * dialled the peer (after crossed dials, both) redials with backoff, even
 * when the connection lost was the peer's dial. So `online` / `offline`
 * fire once per change, never for a transparent reconnection. `close`
 * while a connection is being replaced waits (at most 2 s) for the
 * replacement to say GOODBYE on, so the peer neither waits out its
 * `peerTimeout` nor redials into a new link.
 *
 * **Nothing is lost or duplicated across a reconnection.** Each side numbers
 * the messages it sends (1, 2, 3, …; heartbeats and control frames are not
 * numbered) and keeps each one in its {@linkcode Outbox} until the peer
 * acknowledges it. The numbers are implicit: the n-th message on a
 * connection after a `RESUME` announcing seq `s` is seq `s + n`. The
 * receiver acknowledges cumulatively (`ACK` = the last seq it delivered in
 * order) once 64 messages or 16 KiB have come since the last, at the end of
 * the read that brought them, and with its heartbeat when idle: never one
 * frame per message. Unacknowledged bytes count against
 * `maxQueuedBytes`, so a peer that stops reading (or acknowledging) makes
 * `send` throw `MailboxFull`.
 *
 * Every connection begins, on both sides, with `RESUME`: this side's
 * session id (random, chosen when the link comes online), the id of the
 * peer's session it knows (0: none), and the last seq of the peer's it
 * delivered. Messages go out only after the peer's `RESUME`: from the
 * seq after the one it delivered, whole (a fragmented message starts over;
 * the half-received fragments died with the old connection's reader), in
 * order, before anything new. A message whose seq is not above the last
 * delivered is a duplicate and dropped. Since every connection's messages
 * are consecutive seqs starting at or below the next one expected, each is
 * either a duplicate or the next: delivery is once and in order whatever
 * connections carried it, so two dials that crossed are resolved by keeping
 * one (the one dialled by the peer whose id sorts lower; between two dialled
 * by the same peer, the newer) and closing the other at once.
 *
 * A session id changes only when its link goes offline. So a `RESUME`
 * carrying a peer session other than the one this side knows means the peer
 * declared the link offline and came back (same incarnation): this side
 * drops what it held for the old session and reports `offline` then
 * `online`, so that its pending requests settle, and both number from 1. A
 * `RESUME` naming a session of ours other than the current one (the peer
 * never got our `RESUME`, or we started afresh) means the peer has none of
 * our messages: we send from seq 1. A new incarnation of the peer gets a
 * new link. An `ACK` for a seq never sent or going backwards, a `RESUME` at
 * a seq out of range, or one that forgets acknowledged messages, is a
 * `ProtocolError` that ends that connection.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { MailboxFull } from "../core/errors.ts";
import { MessageTooLarge } from "../io/errors.ts";
import { ACK_BODY, FRAME_ACK, FRAME_RESUME, FrameWriter, RESUME_BODY } from "./_frames.ts";
import type { PeerIdentity } from "./_handshake.ts";
import type { DialTarget } from "./_hub.ts";
import { type Connection, type ConnectionEvents, writeSeq } from "./_connection.ts";
import { framedSize, Outbox } from "./_outbox.ts";
import { ProtocolError } from "./errors.ts";

const logger = getLogger(["denocos", "net"]);

/** The first redial waits this long; each next one twice as long. */
const REDIAL_FIRST = 25;
/** The longest wait between redials. */
const REDIAL_MAX = 1000;
/** An ACK goes out after this many messages delivered since the last… */
const ACK_EVERY = 64;
/** …or this many bytes, whichever first (and with the heartbeat when idle). */
const ACK_BYTES = 16 * 1024;
/** How long `close` waits for the peer's RESUME before it gives up on sending. */
const CLOSE_WAIT = 2000;
/** A writer's own bound: the link bounds the outbox instead. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

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
   * Queues one message (copied: the caller may reuse `body` at once). It is
   * kept until the peer acknowledges it, and resent on a replacement
   * connection. An empty message is refused (no encoded message is empty).
   *
   * @returns `true` once queued, `false` when the link is offline or closed
   * @throws MailboxFull when `maxQueuedBytes` are already unacknowledged; nothing is queued then
   * @throws MessageTooLarge when `body` is over `maxMessageSize` (the peer would drop the link)
   */
  send(body: Uint8Array): boolean;
  /**
   * Sends GOODBYE, closes the connection and declares the peer offline here.
   * A connection being replaced is waited for (at most 2 s) to say it on.
   */
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
  #active: Connection | null = null;
  /** Whether the active connection has the peer's RESUME: sends go straight to its writer. */
  #live = false;
  /** Where to redial when the active connection drops (set once we dialled the peer). */
  #redialTo: DialTarget | null = null;
  #lostTimer: ReturnType<typeof setTimeout> | undefined;
  #redialTimer: ReturnType<typeof setTimeout> | undefined;
  #lostAt = 0;
  #closing: Promise<void> | undefined;
  /** `close` waiting for the active connection to go live. */
  #whenLive: (() => void) | undefined;
  readonly #outbox = new Outbox();
  /** Our session: numbers the messages we send. */
  #session: number;
  /** The peer's session we receive (0: none yet). */
  #peerSession = 0;
  /** Seq of the peer's last message delivered here, in order. */
  #delivered = 0;
  /** What the last ACK (or RESUME) we sent said. */
  #ackSent = 0;
  /** Bytes delivered since then. */
  #unackedBytes = 0;
  readonly #scratch = new Uint8Array(RESUME_BODY);
  /** An ACK is scheduled for the end of the current read. */
  #ackDue = false;
  readonly #ackLater = () => {
    this.#ackDue = false;
    const conn = this.#active;
    if (conn !== null && this.#delivered !== this.#ackSent) this.#ack(conn);
  };

  /**
   * Makes an offline link; the hub attaches its first connection.
   *
   * @param peer the peer's identity from its INFO
   * @param ctx the hub's side of the link
   */
  constructor(peer: PeerIdentity, ctx: LinkContext) {
    this.#peer = peer;
    this.#ctx = ctx;
    this.#session = newSession(0);
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

  /** Framed bytes sent (or waiting to be) and not yet acknowledged. */
  get queuedBytes(): number {
    return this.#outbox.bytes;
  }

  send(body: Uint8Array): boolean {
    if (this.#status !== "online") return false;
    const n = body.length;
    if (n === 0) throw new RangeError("link.send: empty message");
    const max = this.#ctx.maxMessageSize;
    if (n > max) throw new MessageTooLarge(n, max);
    const outbox = this.#outbox;
    const limit = this.#ctx.maxQueuedBytes;
    if (outbox.bytes + framedSize(n) > limit) throw this.#full(limit);
    const kept = outbox.append(body);
    if (this.#live) this.#active!.writer!.writeMessage(kept ?? body, kept !== undefined);
    return true;
  }

  close(): Promise<void> {
    return this.#closing ??= this.#close(true);
  }

  /** Closes it as `close` does, for a hub that closes: no new connection can come then. */
  shutdown(): Promise<void> {
    return this.#closing ??= this.#close(false);
  }

  /** Whether `close` is waiting for a connection: the hub still brings it the peer's. */
  get accepting(): boolean {
    return this.#whenLive !== undefined;
  }

  async #close(replaceable: boolean): Promise<void> {
    const wasOnline = this.#status === "online";
    this.#status = "closed";
    this.#stopTimers();
    const to = this.#redialTo;
    if (wasOnline && !this.#live && (this.#active !== null || replaceable)) {
      // What was sent just before closing, and the GOODBYE, go out once the
      // peer answers: on this connection, or on the one replacing a dropped
      // one (redialled here at once if it was ours to redial). Else the peer
      // would wait out its peerTimeout, or redial into a new link.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#whenLive = resolve;
        timer = setTimeout(resolve, CLOSE_WAIT);
        if (this.#active === null && to !== null) {
          this.#ctx.redial(this, to, CLOSE_WAIT).catch(resolve);
        }
      });
      clearTimeout(timer);
      this.#whenLive = undefined;
    }
    const active = this.#active;
    if (active !== null) {
      active.writer!.goodbye();
      // Ends early if the connection does (its writer is closed then).
      await active.flushed();
      this.#drop(active);
    }
    this.#forget();
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
    if (this.#status === "closed" && this.#whenLive === undefined) {
      conn.abort();
      return;
    }
    conn.events = this;
    const active = this.#active;
    if (active !== null) {
      // The same side dialled again, so it gave the old connection up (here
      // it just has not noticed yet): the new one replaces it, or a half-open
      // old one would hold the link for a peerTimeout. Two dials crossed:
      // both ends keep the same one. Either way the connection given up is
      // closed at once: what it carried is resent on the one kept.
      if (conn.dialledByUs !== active.dialledByUs && !this.#wins(conn)) {
        conn.abort();
        return;
      }
      this.#drop(active);
    }
    this.#use(conn, dialTo);
    conn.start(this.#ctx.heartbeatInterval, this.#ctx.peerTimeout);
    if (this.#status === "offline") {
      this.#status = "online";
      this.#ctx.online(this);
    }
  }

  /** The identity this link answers to, refreshed by a reconnection. */
  refresh(peer: PeerIdentity): void {
    this.#peer = peer;
  }

  /** Makes `conn` the active connection and opens it with our RESUME. */
  #use(conn: Connection, dialTo: DialTarget | null): void {
    this.#active = conn;
    this.#live = false;
    // Kept when the peer dialled this one: if it wins a cross here yet its
    // dialler never finished the handshake, the peer will not redial it.
    if (dialTo !== null) this.#redialTo = dialTo;
    this.#stopTimers();
    const writer = new FrameWriter(conn.transport, {
      maxQueuedBytes: UNBOUNDED,
      maxMessageSize: this.#ctx.maxMessageSize,
      peerName: this.#peer.name || this.#peer.id,
      onError: (e) => conn.fail(e),
    });
    conn.writer = writer;
    conn.rxSeq = this.#delivered;
    const b = this.#scratch;
    writeU32(b, 0, this.#session);
    writeU32(b, 4, this.#peerSession);
    writeSeq(b, 8, this.#delivered);
    writer.writeFrame(FRAME_RESUME, b);
    this.#ackSent = this.#delivered;
    this.#unackedBytes = 0;
  }

  /** Closes a connection given up for another; nothing of it is reported. */
  #drop(conn: Connection): void {
    if (conn === this.#active) {
      this.#active = null;
      this.#live = false;
    }
    conn.abort();
    conn.writer?.close();
  }

  /** Whether `conn` beats the other connection (dialled by the other side): the lower id's dial wins. */
  #wins(conn: Connection): boolean {
    const selfLower = this.#ctx.selfId < this.#peer.id;
    return conn.dialledByUs === selfLower;
  }

  #full(limit: number): MailboxFull {
    const name = this.#peer.name || this.#peer.id;
    const e = new MailboxFull(name, limit);
    e.message = `send queue to '${name}' is full ` +
      `(${this.#outbox.bytes} of ${limit} bytes unacknowledged); message not queued`;
    return e;
  }

  /** Back to no session: nothing retained, numbering from 1, the peer's session unknown. */
  #forget(): void {
    this.#redialTo = null;
    this.#outbox.clear();
    this.#session = newSession(this.#session);
    this.#peerSession = 0;
    this.#delivered = this.#ackSent = this.#unackedBytes = 0;
  }

  // --- ConnectionEvents: called by the connections this link owns.

  message(conn: Connection, body: Uint8Array): void {
    const seq = conn.rxSeq;
    const delivered = this.#delivered;
    if (seq <= delivered) return; // a duplicate: an earlier connection delivered it
    if (seq !== delivered + 1) throw new ProtocolError(`message seq ${seq} after ${delivered}`);
    this.#delivered = seq;
    if (
      !this.#ackDue &&
      (seq - this.#ackSent >= ACK_EVERY || (this.#unackedBytes += body.length) >= ACK_BYTES)
    ) {
      // After the rest of this read: one ACK covers every message it held.
      this.#ackDue = true;
      queueMicrotask(this.#ackLater);
    }
    try {
      this.#ctx.message(this, body);
    } catch (e) {
      // The handler's bug, not the peer's: keep the link.
      logger.error("message handler threw: {error}", { error: e });
    }
  }

  resume(conn: Connection, session: number, known: number, delivered: number): void {
    if (conn !== this.#active) return;
    const outbox = this.#outbox;
    if (this.#peerSession !== 0 && session !== this.#peerSession) {
      // A new session: the peer declared us offline and forgot the link
      // (its session changes only then). What we hold for the old one is
      // lost: report the peer lost and back, so that pending requests settle.
      outbox.clear();
      this.#peerSession = 0;
      this.#delivered = this.#ackSent = this.#unackedBytes = 0;
      if (this.#status === "online") {
        logger.info("peer {peer} forgot the link; starting afresh", { peer: this.#describe() });
        this.#ctx.offline(this, `${this.#describe()} started a new session`);
        if (this.#active !== conn) return;
        this.#ctx.online(this);
        if (this.#active !== conn) return;
      }
    }
    if (this.#peerSession === 0) {
      // Its first connection to us (or the first since it forgot): it numbers from 1.
      this.#peerSession = session;
      conn.rxSeq = this.#delivered = this.#ackSent = 0;
    }
    let from = 1;
    if (known === this.#session) {
      // It has our session: carry on after the last it delivered.
      if (delivered < outbox.released || delivered > outbox.last) {
        throw new ProtocolError(
          `RESUME at seq ${delivered}, outside ${outbox.released}..${outbox.last}`,
        );
      }
      outbox.release(delivered);
      from = delivered + 1;
    } else if (outbox.released > 0) {
      // It never had our session (its RESUME crossed the end of the last
      // connection), yet it acknowledged messages of it: it cannot be both.
      throw new ProtocolError(`RESUME without our session after ACK ${outbox.released}`);
    }
    const writer = conn.writer!;
    outbox.each(from, (body, large) => writer.writeMessage(body, large));
    this.#live = true;
    this.#whenLive?.();
  }

  ack(conn: Connection, seq: number): void {
    if (conn !== this.#active) return;
    const outbox = this.#outbox;
    if (seq < outbox.released) {
      throw new ProtocolError(`ACK going back to seq ${seq} from ${outbox.released}`);
    }
    if (seq > outbox.last) throw new ProtocolError(`ACK for seq ${seq}, never sent`);
    outbox.release(seq);
  }

  heartbeat(conn: Connection): void {
    if (this.#delivered !== this.#ackSent && conn === this.#active) this.#ack(conn);
    else conn.writer?.heartbeat();
  }

  #ack(conn: Connection): void {
    const b = this.#scratch;
    writeSeq(b, 0, this.#delivered);
    conn.writer!.writeFrame(FRAME_ACK, b.subarray(0, ACK_BODY));
    this.#ackSent = this.#delivered;
    this.#unackedBytes = 0;
  }

  goodbye(conn: Connection): void {
    if (conn !== this.#active) return;
    this.#whenLive?.(); // closing: the peer is leaving too, nothing to wait for
    this.#offline(`${this.#describe()} said goodbye`);
  }

  ended(conn: Connection, reason: string, silent: boolean): void {
    if (conn !== this.#active) return;
    this.#active = null;
    this.#live = false;
    conn.writer?.close();
    if (this.#status !== "online") {
      this.#whenLive?.(); // closing: nothing more will go out
      return;
    }
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
    if (active !== null) this.#drop(active);
    this.#forget();
    logger.info("peer {peer} offline: {reason}", { peer: this.#describe(), reason });
    this.#ctx.offline(this, reason);
  }

  #stopTimers(): void {
    clearTimeout(this.#lostTimer);
    clearTimeout(this.#redialTimer);
    this.#lostTimer = this.#redialTimer = undefined;
  }

  #describe(): string {
    const p = this.#peer;
    return `${p.name || p.id} (${p.location.hostname}:${p.location.port})`;
  }
}

/** A random session id, non-zero and not `old`. */
function newSession(old: number): number {
  const b = new Uint32Array(1);
  do crypto.getRandomValues(b); while (b[0] === 0 || b[0] === old);
  return b[0];
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}
