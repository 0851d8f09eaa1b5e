/**
 * Framing of a link's byte stream. Every frame is a `u32` big-endian length
 * `L`, then `L` bytes of body whose first byte is the frame's kind:
 *
 * - `MSG` (0x01) + one encoded message;
 * - `FRAG` (0x02) + `u32` stream id + `u8` flags (1 = last) + a chunk: a
 *   message over 64 KiB travels as 64 KiB fragments, between heartbeats;
 * - `HEARTBEAT` (0x03) and `GOODBYE` (0x04), empty;
 * - `ACK` (0x05) + `u64` seq: every message up to that one was delivered;
 * - `RESUME` (0x06) + `u32` session + `u32` peer session + `u64` seq: the
 *   first frame on a link's connection (see `_link.ts`);
 * - 0x10–0x1f: handshake frames, only before authentication, 4 KiB at most.
 *
 * `FrameReader` parses whatever one read brought (no read per frame) and
 * never trusts an announced length: a frame over the limit is refused as
 * soon as its header arrives, and fragments are kept only as they arrive.
 * `FrameWriter` copies frames into one growing buffer and keeps a single
 * write in flight, so everything queued meanwhile goes out in the next write.
 *
 * @module
 */
import { MailboxFull } from "../core/errors.ts";
import { MessageTooLarge } from "../io/errors.ts";
import { ProtocolError } from "./errors.ts";
import type { TransportConn } from "./transport.ts";

/** A whole message (codec bytes). */
export const FRAME_MSG = 0x01;
/** The stream id of a small message waiting in the large-message queue. */
const SMALL = -1;
/** The stream id of a GOODBYE waiting in the large-message queue. */
const BYE = -2;

/** A fragment of a message over `FRAGMENT_SIZE`. */
export const FRAME_FRAG = 0x02;
/** Nothing but a sign of life. */
export const FRAME_HEARTBEAT = 0x03;
/** The sender is closing the link on purpose. */
export const FRAME_GOODBYE = 0x04;
/** Cumulative acknowledgement: `u64` seq, the last message delivered in order. */
export const FRAME_ACK = 0x05;
/** The first frame after authentication: sessions and the last seq delivered. */
export const FRAME_RESUME = 0x06;
/** Body bytes (after the kind) of an `ACK`. */
export const ACK_BODY = 8;
/** Body bytes (after the kind) of a `RESUME`. */
export const RESUME_BODY = 16;
/** The first handshake frame kind. */
export const FRAME_HANDSHAKE_FIRST = 0x10;
/** The last handshake frame kind. */
export const FRAME_HANDSHAKE_LAST = 0x1f;

/** Messages longer than this travel in fragments of this size. */
export const FRAGMENT_SIZE = 65536;
/** The largest frame body (`L`) after authentication. */
export const MAX_FRAME = FRAGMENT_SIZE + 16;
/** The largest frame body (`L`) before authentication. */
export const MAX_HANDSHAKE_FRAME = 4096;
/** Default `maxMessageSize`: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** Default `maxQueuedBytes`: 64 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Length prefix + kind. */
const FRAME_HEADER = 5;
/** Length prefix + kind + stream id + flags. */
const FRAG_HEADER = 10;
const FLAG_LAST = 1;
/** The read buffer before authentication: one largest handshake frame. */
const SMALL_BUFFER = 4 + MAX_HANDSHAKE_FRAME;
/** The read buffer after authentication: 64 KiB, and room for the largest frame. */
const BIG_BUFFER = 4 + MAX_FRAME + 44;
/** Compact the read buffer when less than this is free at its end. */
const MIN_FREE = 4096;
const WRITE_BUFFER = 64 * 1024;
/** A write buffer grown past this is let go once drained. */
const KEEP_WRITE_BUFFER = 1024 * 1024;

/**
 * Receives a `FrameReader`'s frames and its end. Called as methods, so a
 * link object can implement it directly.
 */
export interface FrameHandler {
  /**
   * One frame: `kind` and its body after the kind byte. A reassembled
   * message arrives as `FRAME_MSG`. `body` is a view into the reader's
   * buffer, valid only during the call: copy what must outlive it. Return a
   * promise to make the reader wait for it before the next frame (for the
   * handshake, where checking a frame is asynchronous); a rejection ends
   * the reader like an error.
   */
  onFrame(kind: number, body: Uint8Array): void | PromiseLike<unknown>;
  /** The reader stopped on an error: a `ProtocolError`, or the connection's own. */
  onError(error: unknown): void;
  /** The stream ended cleanly between frames; the reader stopped. */
  onEnd(): void;
}

/** Options for `FrameReader`. */
export interface FrameReaderOptions {
  /** Largest message, whole or reassembled (default 64 MiB). */
  maxMessageSize?: number;
  /** Fragmented messages being reassembled at once (default 16). */
  maxStreams?: number;
}

interface Stream {
  parts: Uint8Array[];
  size: number;
}

/**
 * Reads frames from a connection and hands them to a `FrameHandler`.
 * Until `authenticated()` only handshake frames of up to 4 KiB are legal;
 * after it, `MSG`, `FRAG`, `HEARTBEAT`, `GOODBYE`, `ACK` and `RESUME` of up
 * to 64 KiB + 16 (the last two of their exact sizes).
 * Anything else is a `ProtocolError`: `onError`, then the reader stops (it
 * never closes the connection: its owner does).
 */
export class FrameReader {
  readonly #conn: TransportConn;
  readonly #handler: FrameHandler;
  readonly #maxMessage: number;
  readonly #maxStreams: number;
  #buf = new Uint8Array(SMALL_BUFFER);
  #start = 0;
  #end = 0;
  #limit = MAX_HANDSHAKE_FRAME;
  #authenticated = false;
  #stopped = false;
  #running: Promise<void> | undefined;
  readonly #streams = new Map<number, Stream>();
  #reassembling = 0;
  #frames = 0;
  #bytes = 0;

  /**
   * Makes a reader; nothing is read before `start()`.
   *
   * @param conn the connection to read
   * @param handler receives frames, the error or the end
   * @param options limits
   */
  constructor(conn: TransportConn, handler: FrameHandler, options: FrameReaderOptions = {}) {
    this.#conn = conn;
    this.#handler = handler;
    this.#maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#maxStreams = options.maxStreams ?? 16;
    if (!(this.#maxMessage >= 0)) throw new TypeError("FrameReader: bad maxMessageSize");
    if (!(this.#maxStreams >= 1)) throw new TypeError("FrameReader: bad maxStreams");
  }

  /** Starts reading (once); resolves when the reader has stopped. Never rejects. */
  start(): Promise<void> {
    return this.#running ??= this.#run();
  }

  /** The peer proved who it is: data frames become legal, the frame limit 64 KiB + 16. */
  authenticated(): void {
    this.#authenticated = true;
    this.#limit = MAX_FRAME;
  }

  /** Stops: no handler call after this one (a pending read is left to the connection's close). */
  stop(): void {
    this.#stopped = true;
    this.#drop();
  }

  /** Frames read so far, fragments included: any increase is a sign of life. */
  get framesRead(): number {
    return this.#frames;
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.#bytes;
  }

  /** Bytes this reader holds now: its buffer plus fragments awaiting reassembly. */
  get memory(): number {
    return this.#buf.length + this.#reassembling;
  }

  async #run(): Promise<void> {
    const handler = this.#handler;
    try {
      while (!this.#stopped) {
        this.#makeRoom();
        const n = await this.#conn.read(this.#buf.subarray(this.#end));
        if (this.#stopped) return;
        if (n === null) {
          if (this.#end > this.#start || this.#streams.size > 0) {
            throw new ProtocolError("connection ended inside a frame or a fragmented message");
          }
          this.#stopped = true;
          this.#drop();
          handler.onEnd();
          return;
        }
        this.#end += n;
        this.#bytes += n;
        // Every whole frame in the buffer, without another read.
        while (!this.#stopped) {
          const buf = this.#buf;
          const start = this.#start;
          const avail = this.#end - start;
          if (avail < 4) break;
          const len = ((buf[start] << 24) | (buf[start + 1] << 16) | (buf[start + 2] << 8) |
            buf[start + 3]) >>> 0;
          if (len > this.#limit) {
            throw new ProtocolError(
              `frame of ${len} bytes exceeds the limit of ${this.#limit}` +
                (this.#authenticated ? "" : " before authentication"),
            );
          }
          if (len === 0) throw new ProtocolError("empty frame");
          if (avail < 4 + len) break;
          this.#start = start + 4 + len;
          this.#frames++;
          const r = this.#dispatch(buf[start + 4], buf.subarray(start + 5, start + 4 + len));
          if (r !== undefined) await r;
        }
      }
    } catch (e) {
      // After stop() nobody listens: the read failing on close is expected.
      if (this.#stopped) return;
      this.#stopped = true;
      this.#drop();
      handler.onError(e);
    }
  }

  /**
   * Makes room for the next read: grows to the authenticated size once, and
   * moves a partial frame to the front when it could not fit where it is or
   * little room is left (so reads stay large and nothing is copied twice).
   */
  #makeRoom(): void {
    const buf = this.#buf;
    const start = this.#start;
    const left = this.#end - start;
    if (this.#authenticated && buf.length < BIG_BUFFER) {
      const big = new Uint8Array(BIG_BUFFER);
      big.set(buf.subarray(start, this.#end));
      this.#buf = big;
      this.#start = 0;
      this.#end = left;
      return;
    }
    if (left === 0) {
      this.#start = this.#end = 0;
      return;
    }
    // The parse loop already checked a complete header against the limit.
    const need = left < 4 ? 4 : 4 +
      (((buf[start] << 24) | (buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3]) >>>
        0);
    if (start + need > buf.length || buf.length - this.#end < MIN_FREE) {
      buf.copyWithin(0, start, this.#end);
      this.#start = 0;
      this.#end = left;
    }
  }

  #dispatch(kind: number, body: Uint8Array): PromiseLike<unknown> | undefined {
    const handler = this.#handler;
    if (!this.#authenticated) {
      if (kind < FRAME_HANDSHAKE_FIRST || kind > FRAME_HANDSHAKE_LAST) {
        throw new ProtocolError(`frame kind 0x${hex(kind)} before authentication`);
      }
      return pausing(handler.onFrame(kind, body));
    }
    switch (kind) {
      case FRAME_MSG:
        if (body.length > this.#maxMessage) {
          throw new ProtocolError(
            `message of ${body.length} bytes exceeds maxMessageSize ${this.#maxMessage}`,
          );
        }
        return pausing(handler.onFrame(kind, body));
      case FRAME_FRAG:
        return this.#fragment(body);
      case FRAME_HEARTBEAT:
      case FRAME_GOODBYE:
        if (body.length !== 0) throw new ProtocolError(`frame kind 0x${hex(kind)} with a body`);
        return pausing(handler.onFrame(kind, body));
      case FRAME_ACK:
      case FRAME_RESUME:
        if (body.length !== (kind === FRAME_ACK ? ACK_BODY : RESUME_BODY)) {
          throw new ProtocolError(`frame kind 0x${hex(kind)} of ${body.length} bytes`);
        }
        return pausing(handler.onFrame(kind, body));
      default:
        throw new ProtocolError(`unexpected frame kind 0x${hex(kind)}`);
    }
  }

  #fragment(body: Uint8Array): PromiseLike<unknown> | undefined {
    if (body.length < 5) throw new ProtocolError("FRAG frame shorter than its header");
    const id = ((body[0] << 24) | (body[1] << 16) | (body[2] << 8) | body[3]) >>> 0;
    const flags = body[4];
    if ((flags & ~FLAG_LAST) !== 0) throw new ProtocolError(`FRAG frame with flags ${flags}`);
    const chunk = body.subarray(5);
    let stream = this.#streams.get(id);
    const size = (stream?.size ?? 0) + chunk.length;
    if (size > this.#maxMessage) {
      throw new ProtocolError(
        `fragmented message over maxMessageSize ${this.#maxMessage} (stream ${id})`,
      );
    }
    // One bound for every stream together: a peer cannot make us hold more
    // than one largest message, however it spreads its fragments.
    if (this.#reassembling + chunk.length > this.#maxMessage) {
      throw new ProtocolError(
        `fragments awaiting reassembly exceed maxMessageSize ${this.#maxMessage}`,
      );
    }
    if ((flags & FLAG_LAST) !== 0) {
      let whole: Uint8Array;
      if (stream === undefined) {
        whole = chunk;
      } else {
        this.#streams.delete(id);
        this.#reassembling -= stream.size;
        whole = new Uint8Array(size);
        let at = 0;
        for (const part of stream.parts) {
          whole.set(part, at);
          at += part.length;
        }
        whole.set(chunk, at);
      }
      return pausing(this.#handler.onFrame(FRAME_MSG, whole));
    }
    if (stream === undefined) {
      if (this.#streams.size >= this.#maxStreams) {
        throw new ProtocolError(`more than ${this.#maxStreams} fragmented messages at once`);
      }
      stream = { parts: [], size: 0 };
      this.#streams.set(id, stream);
    }
    stream.parts.push(chunk.slice());
    stream.size = size;
    this.#reassembling += chunk.length;
    return undefined;
  }

  #drop(): void {
    this.#streams.clear();
    this.#reassembling = 0;
  }
}

/** The handler's result if it is something to wait for, else `undefined` (the fast path). */
function pausing(r: void | PromiseLike<unknown>): PromiseLike<unknown> | undefined {
  if (r === undefined || r === null) return undefined;
  return typeof (r as PromiseLike<unknown>).then === "function" ? r : undefined;
}

function hex(kind: number): string {
  return kind.toString(16).padStart(2, "0");
}

/** Options for `FrameWriter`. */
export interface FrameWriterOptions {
  /** Unsent bytes allowed before `writeMessage` throws `MailboxFull` (default 64 MiB). */
  maxQueuedBytes?: number;
  /**
   * Largest message accepted (default 64 MiB): a larger one throws
   * `MessageTooLarge` here rather than make the receiver drop the link.
   */
  maxMessageSize?: number;
  /** Who the frames go to, for `MailboxFull`'s message. */
  peerName?: string;
  /**
   * A write failed: the writer has detached itself from that connection
   * (whole frames not yet handed to it stay queued for `attach`).
   */
  onError?: (error: unknown) => void;
}

interface Large {
  data: Uint8Array;
  offset: number;
  id: number;
}

/**
 * Writes frames to a connection, coalesced: each frame is copied into a
 * pending buffer, at most one `conn.write` is in flight, and whenever it
 * finishes everything pending goes out in the next one (short writes are
 * continued). Messages over 64 KiB are copied once and sent as `FRAG`
 * frames, one fragment per write; messages queued behind one wait for it
 * (order is kept), while heartbeats and control frames get ahead of the
 * fragments that remain. Large messages go one after another, so a
 * reader reassembles one stream at a time.
 *
 * The queue outlives a connection: `detach()` when it drops and `attach()`
 * a new one (after its handshake): frames not yet handed to the old
 * connection go out on the new one, a fragmented message starts over, and
 * what was in flight on the old one is forgotten.
 */
export class FrameWriter {
  readonly #maxQueued: number;
  readonly #maxMessage: number;
  readonly #peerName: string;
  readonly #onError: ((error: unknown) => void) | undefined;
  #conn: TransportConn | undefined;
  /** Bumped by attach/detach/close so a write loop of an old connection stops. */
  #gen = 0;
  #running = false;
  #closed = false;
  #pending = new Uint8Array(WRITE_BUFFER);
  #pendingLen = 0;
  #spare = new Uint8Array(WRITE_BUFFER);
  /** Unsent bytes of the buffer being written. */
  #inflightLeft = 0;
  #large: Large[] = [];
  #largeHead = 0;
  #nextStream = 1;
  /** Every unsent byte, framed: pending + in flight + large messages' fragments to come. */
  #queued = 0;
  #frames = 0;
  #writes = 0;
  /** Loop starts scheduled and not yet run. */
  #scheduled = 0;
  #idle: (() => void)[] = [];
  readonly #runBound = () => this.#run();

  /**
   * Makes a writer, attached to `conn` if given (else frames wait for `attach`).
   *
   * @param conn the connection to write to
   * @param options bound, peer name, error callback
   */
  constructor(conn?: TransportConn, options: FrameWriterOptions = {}) {
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (!(this.#maxQueued >= 0)) throw new TypeError("FrameWriter: bad maxQueuedBytes");
    this.#maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(this.#maxMessage >= 0)) throw new TypeError("FrameWriter: bad maxMessageSize");
    this.#peerName = options.peerName ?? "peer";
    this.#onError = options.onError;
    this.#conn = conn;
  }

  /** Unsent bytes (framed), the measure `maxQueuedBytes` bounds. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Frames queued so far (each fragment counts): unchanged since the last look means idle. */
  get framesQueued(): number {
    return this.#frames;
  }

  /** `conn.write` calls made so far. */
  get writes(): number {
    return this.#writes;
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues one message (copied: `body` may be reused at once, unless
   * `owned` says a large one may be kept as it is until sent). Throws
   * `MailboxFull`, queuing nothing, when it would take the unsent bytes past
   * `maxQueuedBytes`, and `MessageTooLarge` past `maxMessageSize`. Returns
   * `false` (queuing nothing) once closed.
   */
  writeMessage(body: Uint8Array, owned = false): boolean {
    if (this.#closed) return false;
    const n = body.length;
    if (n > this.#maxMessage) throw new MessageTooLarge(n, this.#maxMessage);
    if (n <= FRAGMENT_SIZE && this.#largeHead === this.#large.length) {
      this.#check(FRAME_HEADER + n);
      this.#append(FRAME_MSG, body);
    } else if (n <= FRAGMENT_SIZE) {
      // Behind a large message: it waits its turn, so that messages keep
      // the order they were sent in (only heartbeats overtake fragments).
      this.#check(FRAME_HEADER + n);
      this.#large.push({ data: body.slice(), offset: 0, id: SMALL });
      this.#queued += FRAME_HEADER + n;
    } else {
      const framed = n + FRAG_HEADER * Math.ceil(n / FRAGMENT_SIZE);
      this.#check(framed);
      this.#large.push({ data: owned ? body : body.slice(), offset: 0, id: this.#stream() });
      this.#queued += framed;
    }
    this.#kick();
    return true;
  }

  /**
   * Queues one frame of `kind` with `body` (copied), up to `MAX_FRAME`: for
   * handshake frames. Same bound and result as `writeMessage`.
   */
  writeFrame(kind: number, body: Uint8Array = EMPTY): boolean {
    if (this.#closed) return false;
    if (body.length + 1 > MAX_FRAME) {
      throw new RangeError(`frame body of ${body.length} bytes exceeds ${MAX_FRAME - 1}`);
    }
    this.#check(FRAME_HEADER + body.length);
    this.#append(kind, body);
    this.#kick();
    return true;
  }

  /** Queues a `HEARTBEAT` frame (not bounded: five bytes, and the peer must hear them). */
  heartbeat(): void {
    if (this.#closed) return;
    this.#append(FRAME_HEARTBEAT, EMPTY);
    this.#kick();
  }

  /**
   * Queues a `GOODBYE` frame behind every message queued (the peer stops
   * reading at it, so unlike a heartbeat it must not overtake the fragments
   * of a large message); `flushed()` tells when it has gone.
   */
  goodbye(): void {
    if (this.#closed) return;
    if (this.#largeHead === this.#large.length) this.#append(FRAME_GOODBYE, EMPTY);
    else {
      this.#large.push({ data: EMPTY, offset: 0, id: BYE });
      this.#queued += FRAME_HEADER;
    }
    this.#kick();
  }

  /**
   * Resolves once nothing is left unsent (at once if so already), or the
   * writer is closed. While detached it waits for `attach`.
   */
  flushed(): Promise<void> {
    if (this.#queued === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Starts writing the queue to `conn` (a new connection, after its handshake). */
  attach(conn: TransportConn): void {
    if (this.#closed) return;
    if (this.#conn !== undefined) this.detach();
    this.#conn = conn;
    this.#kick();
  }

  /**
   * Stops writing to the current connection: what was in flight is
   * forgotten, the rest stays queued, and a message being fragmented will
   * start over on the next connection.
   */
  detach(): void {
    this.#gen++;
    this.#conn = undefined;
    this.#running = false;
    this.#queued -= this.#inflightLeft;
    this.#inflightLeft = 0;
    // The old write may still read its buffer: never reuse it.
    this.#spare = new Uint8Array(WRITE_BUFFER);
    if (this.#largeHead < this.#large.length) {
      const head = this.#large[this.#largeHead];
      if (head.offset > 0) {
        this.#queued += head.offset + FRAG_HEADER * Math.ceil(head.offset / FRAGMENT_SIZE);
        head.offset = 0;
        head.id = this.#stream();
      }
    }
  }

  /** Drops everything queued and stops; the connection stays open (its owner closes it). */
  close(): void {
    if (this.#closed) return;
    this.detach();
    this.#closed = true;
    this.#pending = this.#spare = EMPTY;
    this.#pendingLen = 0;
    this.#large = [];
    this.#largeHead = 0;
    this.#queued = 0;
    this.#wake();
  }

  #check(bytes: number): void {
    if (this.#queued + bytes <= this.#maxQueued) return;
    const e = new MailboxFull(this.#peerName, this.#maxQueued);
    e.message = `send queue to '${this.#peerName}' is full ` +
      `(${this.#queued} of ${this.#maxQueued} bytes); message not queued`;
    throw e;
  }

  #stream(): number {
    const id = this.#nextStream;
    this.#nextStream = id === 0xffffffff ? 1 : id + 1;
    return id;
  }

  /** Makes room for `n` more pending bytes. */
  #reserve(n: number): Uint8Array {
    const need = this.#pendingLen + n;
    let buf = this.#pending;
    if (need > buf.length) {
      const grown = new Uint8Array(Math.max(need, buf.length * 2));
      grown.set(buf.subarray(0, this.#pendingLen));
      this.#pending = buf = grown;
    }
    return buf;
  }

  #append(kind: number, body: Uint8Array): void {
    const n = body.length;
    const buf = this.#reserve(FRAME_HEADER + n);
    let at = this.#pendingLen;
    const len = n + 1;
    buf[at] = len >>> 24;
    buf[at + 1] = len >>> 16;
    buf[at + 2] = len >>> 8;
    buf[at + 3] = len;
    buf[at + 4] = kind;
    at += FRAME_HEADER;
    if (n > 0) {
      if (n < 64) { for (let i = 0; i < n; i++) buf[at + i] = body[i]; // cheaper than set() for tiny bodies
       } else buf.set(body, at);
    }
    this.#pendingLen = at + n;
    this.#queued += FRAME_HEADER + n;
    this.#frames++;
  }

  /** Moves the next fragment of the oldest large message into the pending buffer. */
  #feed(): void {
    // Small messages queued behind a large one go out whole, in order.
    while (this.#largeHead < this.#large.length && this.#large[this.#largeHead].id < 0) {
      const small = this.#large[this.#largeHead];
      this.#large[this.#largeHead++] = DONE;
      this.#queued -= FRAME_HEADER + small.data.length; // counted when queued; #append counts again
      this.#append(small.id === SMALL ? FRAME_MSG : FRAME_GOODBYE, small.data);
    }
    if (this.#largeHead === this.#large.length) {
      this.#large.length = 0;
      this.#largeHead = 0;
      return;
    }
    const m = this.#large[this.#largeHead];
    const n = Math.min(FRAGMENT_SIZE, m.data.length - m.offset);
    const last = m.offset + n === m.data.length;
    const buf = this.#reserve(FRAG_HEADER + n);
    const at = this.#pendingLen;
    const len = n + FRAG_HEADER - 4;
    buf[at] = len >>> 24;
    buf[at + 1] = len >>> 16;
    buf[at + 2] = len >>> 8;
    buf[at + 3] = len;
    buf[at + 4] = FRAME_FRAG;
    buf[at + 5] = m.id >>> 24;
    buf[at + 6] = m.id >>> 16;
    buf[at + 7] = m.id >>> 8;
    buf[at + 8] = m.id;
    buf[at + 9] = last ? FLAG_LAST : 0;
    buf.set(m.data.subarray(m.offset, m.offset + n), at + FRAG_HEADER);
    this.#pendingLen = at + FRAG_HEADER + n;
    this.#frames++;
    m.offset += n;
    if (last) {
      this.#large[this.#largeHead++] = DONE;
      if (this.#largeHead === this.#large.length) {
        this.#large.length = 0;
        this.#largeHead = 0;
      }
    }
  }

  /** Starts the write loop on the next microtask, so a burst of sends shares one write. */
  #kick(): void {
    if (this.#running || this.#conn === undefined) return;
    this.#running = true;
    this.#scheduled++;
    queueMicrotask(this.#runBound);
  }

  async #run(): Promise<void> {
    // Only the latest scheduled start runs: one scheduled before a
    // detach/attach must not start a second loop on the new connection.
    if (--this.#scheduled > 0) return;
    const gen = this.#gen;
    const conn = this.#conn;
    if (conn === undefined) return;
    try {
      for (;;) {
        this.#feed();
        const len = this.#pendingLen;
        if (len === 0) break;
        const out = this.#pending;
        this.#pending = this.#spare;
        this.#pendingLen = 0;
        this.#spare = out;
        this.#inflightLeft = len;
        let off = 0;
        while (off < len) {
          this.#writes++;
          const n = await conn.write(off === 0 ? out.subarray(0, len) : out.subarray(off, len));
          if (gen !== this.#gen) return; // detached or closed meanwhile
          if (!(n > 0)) throw new Deno.errors.WriteZero("write took no bytes");
          off += n;
          this.#inflightLeft -= n;
          this.#queued -= n;
        }
        if (out.length > KEEP_WRITE_BUFFER) this.#spare = new Uint8Array(WRITE_BUFFER);
      }
    } catch (e) {
      if (gen !== this.#gen) return;
      this.detach();
      this.#onError?.(e);
      return;
    }
    this.#running = false;
    if (this.#pending.length > KEEP_WRITE_BUFFER) this.#pending = new Uint8Array(WRITE_BUFFER);
    this.#wake();
  }

  #wake(): void {
    if (this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

const EMPTY = new Uint8Array(0);
const DONE: Large = { data: EMPTY, offset: 0, id: 0 };
