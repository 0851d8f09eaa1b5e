/**
 * A link's outbox: every application message it sent and the peer has not
 * yet acknowledged, numbered 1, 2, 3, … in the order sent, kept as bytes
 * so that a replacement connection can resend them.
 *
 * Small messages are copied, each behind a `u32` length, into 64 KiB
 * chunks (no object per message); a message over 64 KiB keeps the one copy
 * it needs in a chunk of its own, which the frame writer may fragment
 * without copying again. An acknowledgement releases whole messages from
 * the front; a chunk emptied that way is dropped, or kept as the one spare
 * when it is of the standard size.
 *
 * @module
 */

import { FRAGMENT_SIZE } from "./_frames.ts";

/** Length prefix of a small message inside a chunk. */
const PREFIX = 4;
/** Bytes of a standard chunk: room for the largest small message. */
const CHUNK = FRAGMENT_SIZE + PREFIX;
/** Framed size of a small message: `u32` length + kind. */
const FRAME_HEADER = 5;
/** Framed overhead of one fragment: `u32` length + kind + stream id + flags. */
const FRAG_HEADER = 10;

interface Chunk {
  buf: Uint8Array;
  /** Where the next message goes. */
  end: number;
  /** Where the oldest unreleased message starts. */
  read: number;
  /** One message over 64 KiB, the whole of `buf`, no prefix. */
  large: boolean;
}

/**
 * The bytes a message takes on the wire, framed as `FrameWriter` frames it:
 * the measure `maxQueuedBytes` bounds.
 *
 * @example
 * ```ts ignore
 * framedSize(10); // 15
 * ```
 */
export function framedSize(n: number): number {
  return n <= FRAGMENT_SIZE ? FRAME_HEADER + n : n + FRAG_HEADER * Math.ceil(n / FRAGMENT_SIZE);
}

/**
 * Sent-but-unacknowledged messages in sequence order.
 *
 * @example
 * ```ts ignore
 * const out = new Outbox();
 * out.append(new Uint8Array([1])); // seq 1
 * out.append(new Uint8Array([2])); // seq 2
 * out.release(1); // the peer has seq 1
 * out.each(2, (body) => writer.writeMessage(body)); // resend seq 2
 * ```
 */
export class Outbox {
  #chunks: Chunk[] = [];
  #head = 0;
  /** The newest chunk, where small messages go. */
  #tail: Chunk | undefined;
  #spare: Uint8Array | undefined;
  /** Seq of the oldest retained message (`last + 1` when empty). */
  #first = 1;
  /** Seq of the newest message appended. */
  #last = 0;
  #bytes = 0;

  /** Seq of the newest message appended (0 before the first). */
  get last(): number {
    return this.#last;
  }

  /** Seq of the newest message released (acknowledged). */
  get released(): number {
    return this.#first - 1;
  }

  /** Framed bytes retained. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Retains one message (copied) as seq `last + 1`.
   *
   * @returns the retained copy, when it is a large message (a view to pass
   * on uncopied: it stays untouched until released); else `undefined`
   */
  append(body: Uint8Array): Uint8Array | undefined {
    const n = body.length;
    this.#last++;
    if (n > FRAGMENT_SIZE) {
      this.#bytes += framedSize(n);
      const buf = body.slice();
      this.#push({ buf, end: n, read: 0, large: true });
      return buf;
    }
    this.#bytes += FRAME_HEADER + n;
    let tail = this.#tail;
    if (tail === undefined || tail.large || tail.buf.length - tail.end < PREFIX + n) {
      const buf = this.#spare ?? new Uint8Array(CHUNK);
      this.#spare = undefined;
      this.#push(tail = { buf, end: 0, read: 0, large: false });
    }
    const buf = tail.buf;
    let at = tail.end;
    buf[at] = n >>> 24;
    buf[at + 1] = n >>> 16;
    buf[at + 2] = n >>> 8;
    buf[at + 3] = n;
    at += PREFIX;
    if (n < 64) { for (let i = 0; i < n; i++) buf[at + i] = body[i]; }
    else buf.set(body, at);
    tail.end = at + n;
    return undefined;
  }

  /** Lets go of every message up to seq `upTo` (the peer has them). */
  release(upTo: number): void {
    const chunks = this.#chunks;
    let first = this.#first;
    let bytes = this.#bytes;
    while (first <= upTo && this.#head < chunks.length) {
      const c = chunks[this.#head];
      if (c.large) {
        bytes -= framedSize(c.end);
        first++;
        c.read = c.end;
      } else {
        const b = c.buf;
        const end = c.end;
        let at = c.read;
        while (first <= upTo && at < end) {
          const n = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
          at += PREFIX + n;
          bytes -= FRAME_HEADER + n;
          first++;
        }
        c.read = at;
      }
      if (c.read !== c.end) break;
      this.#dropHead();
    }
    this.#first = first;
    this.#bytes = bytes;
  }

  /** Calls `fn` with each retained message from seq `from` on, in order (views, valid during the call). */
  each(from: number, fn: (body: Uint8Array, large: boolean) => void): void {
    let seq = this.#first;
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const c = this.#chunks[i];
      if (c.large) {
        if (seq++ >= from) fn(c.buf, true);
        continue;
      }
      const b = c.buf;
      for (let at = c.read; at < c.end;) {
        const n = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
        at += PREFIX;
        if (seq++ >= from) fn(b.subarray(at, at + n), false);
        at += n;
      }
    }
  }

  /** Drops everything and numbers from 1 again. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#tail = undefined;
    this.#first = 1;
    this.#last = 0;
    this.#bytes = 0;
  }

  #push(c: Chunk): void {
    this.#chunks.push(c);
    this.#tail = c;
  }

  #dropHead(): void {
    const chunks = this.#chunks;
    const c = chunks[this.#head];
    if (this.#head === chunks.length - 1) {
      // The tail, emptied: reuse it in place (small) or forget it (large).
      if (!c.large) {
        c.read = c.end = 0;
        return;
      }
      chunks.length = 0;
      this.#head = 0;
      this.#tail = undefined;
      return;
    }
    if (!c.large && c.buf.length === CHUNK) this.#spare = c.buf;
    chunks[this.#head++] = EMPTY_CHUNK;
    if (this.#head >= 64 && this.#head * 2 >= chunks.length) {
      chunks.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

const EMPTY_CHUNK: Chunk = { buf: new Uint8Array(0), end: 0, read: 0, large: true };
