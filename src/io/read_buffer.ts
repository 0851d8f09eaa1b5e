/**
 * `ReadBuffer`: the bytes a stream reader has received but nobody has taken
 * yet. Readers take from it synchronously, so a frame is either taken whole
 * or not at all, and a reader that gives up waiting loses nothing.
 *
 * @module
 */

import { grownCapacity } from "./_chunks.ts";
import { MessageTooLarge } from "./errors.ts";

const EMPTY = new Uint8Array(0);
const NEWLINE = 10;
const CR = 13;
/** A read is offered at least this much room (a quarter chunk at most). */
const MIN_READ = 1024;
/** Chunks of a busy stream grow up to this size. */
const MAX_CHUNK = 256 * 1024;
/** Takes up to this many bytes are copied into the shared block. */
const SMALL = 512;
/** The size of a shared block. */
const BLOCK = 16 * 1024;
const decoder = new TextDecoder();

// Small takes are copied into one block shared by every buffer of this
// thread, filled from the front and never written twice. A new Uint8Array
// costs Deno about half a microsecond (an ArrayBuffer of its own), while a
// view of the chunk pins it, so the next read would land in fresh, cold
// memory: copying a small frame next to the previous one keeps both the
// chunk and the block in cache.
let block: ArrayBufferLike = EMPTY.buffer;
let blockAt = BLOCK;

/**
 * A byte buffer made of chunks. `space` hands out free room of the current
 * chunk for a read to fill, `commit` records what it filled, and bytes leave
 * from the front in two ways:
 *
 * - `takeUpTo` / `takeExactly` return them as arrays that stay valid: views
 *   of memory that is never written again. Up to 512 bytes are copied, side
 *   by side, into a 16 KiB block shared by all buffers; more are views of
 *   the chunk itself, **not copied** (the chunk is append-only from then on,
 *   and unread bytes move to a fresh chunk when its tail runs short). A
 *   taken array keeps its block or chunk alive, so `slice()` what you keep
 *   for long;
 * - `copyTo` copies them into the caller's memory; a chunk whose bytes all
 *   left this way is reused from the start, so a reader that brings its own
 *   memory causes no allocation at all.
 *
 * A chunk has the default size (doubling up to 256 KiB for a stream that
 * keeps filling them), or the size a waiting reader needs when that is
 * larger, so a big read is done straight into memory of its own. A size
 * announced by the peer (`space(need, true)`, a frame's length) is not
 * trusted: the chunk grows toward it only with what has arrived, at most
 * doubling what is buffered, so a header announcing megabytes reserves
 * nothing. Bytes that pile up while a reader waits for more (a long line)
 * make the chunk double too, so they move a bounded number of times, and a
 * line's end is searched for only in the bytes not searched yet: both cost
 * time linear in the bytes received.
 *
 * @example
 * ```ts
 * import { ReadBuffer } from "@denocos/denocos/io";
 *
 * const rb = new ReadBuffer(1024);
 * const room = rb.space();
 * room.set([1, 2, 3]);
 * rb.commit(3);
 * console.log(rb.takeUpTo(2)); // Uint8Array(2) [ 1, 2 ]
 * console.log(rb.length); // 1
 * ```
 */
export class ReadBuffer {
  #size: number;
  #minRead: number;
  #next: number;
  #buf: Uint8Array = EMPTY;
  #ab: ArrayBufferLike = EMPTY.buffer;
  #start = 0;
  #end = 0;
  /** Memory below this offset may be referenced by views handed out. */
  #floor = 0;
  /** The last view `space` made, and its offset (-1: none), reused while both hold. */
  #room: Uint8Array = EMPTY;
  #roomAt = -1;
  /** The bytes from `#start` up to this offset hold no `\n` (searched already). */
  #scanned = 0;

  /**
   * Makes an empty buffer; its first chunk is allocated by the first `space`.
   *
   * @param size the default chunk size in bytes (at least 64)
   */
  constructor(size = 16384) {
    if (!Number.isInteger(size) || size < 64) {
      throw new RangeError(`buffer size must be an integer ≥ 64, got ${size}`);
    }
    this.#size = size;
    this.#next = size;
    this.#minRead = Math.min(MIN_READ, size >> 2);
  }

  /** How many bytes are buffered. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** The default chunk size. */
  get size(): number {
    return this.#size;
  }

  /**
   * How many bytes of memory the current chunk holds, buffered bytes
   * included (arrays taken earlier may keep older chunks alive as well).
   */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * The free room for a read to fill, after making sure that at least `need`
   * bytes counted from the first buffered one fit (`0`: any amount). With
   * `bounded`, `need` is a length announced by the peer: the room grows
   * toward it only as bytes arrive (the chunk at most doubles what is
   * buffered, or grows by the default size), never past it.
   */
  space(need = 0, bounded = false): Uint8Array {
    let end = this.#end;
    if (this.#start === end && end !== this.#floor) {
      // Empty: the memory above the floor was only ever copied out, reuse it.
      this.#start = this.#end = end = this.#floor;
      this.#scanned = end;
    }
    const buf = this.#buf;
    const room = buf.length - end;
    const avail = end - this.#start;
    let most = Infinity;
    if (bounded) {
      most = need;
      need = grownCapacity(avail, 0, this.#size, most);
    }
    // A big frame wants all of its remainder; anything else wants a useful
    // amount of room.
    let want = need > avail ? need - avail : 0;
    if (want < this.#minRead && need <= this.#size) want = this.#minRead;
    if (room >= want) {
      if (this.#roomAt === end) return this.#room;
      this.#roomAt = end;
      // Views come from the constructor: cheaper than subarray().
      return this.#room = new Uint8Array(this.#ab, end, room);
    }
    // A stream that fills chunk after chunk gets bigger ones (fewer, costly,
    // buffer allocations); a quiet one keeps the default size.
    const next = this.#next;
    if (buf.length >= next && next < MAX_CHUNK) this.#next = next * 2;
    // At least doubling what is buffered: bytes kept waiting (a long line,
    // a big frame) move a bounded number of times. An announced frame grows
    // by the default size at least, not by the busy stream's chunk size, so
    // its memory stays within twice what arrived plus one default chunk.
    const cap = grownCapacity(avail, need, bounded ? this.#size : next, most);
    const fresh = new Uint8Array(cap);
    const s = this.#start;
    if (avail > 0) fresh.set(new Uint8Array(this.#ab, s, avail));
    this.#scanned = this.#scanned > s ? this.#scanned - s : 0;
    this.#buf = fresh;
    this.#ab = fresh.buffer;
    this.#start = this.#floor = 0;
    this.#end = this.#roomAt = avail;
    return this.#room = new Uint8Array(this.#ab, avail, cap - avail);
  }

  /** Records that the last `space` got `n` bytes. */
  commit(n: number): void {
    this.#end += n;
  }

  /** Removes and returns up to `max` bytes (a view), or `null` when empty. */
  takeUpTo(max: number): Uint8Array | null {
    const avail = this.#end - this.#start;
    if (avail === 0) return null;
    return this.#take(avail < max ? avail : max);
  }

  /** Removes and returns exactly `n` bytes (a view), or `null` when fewer are buffered. */
  takeExactly(n: number): Uint8Array | null {
    if (this.#end - this.#start < n) return null;
    return this.#take(n);
  }

  /**
   * Copies up to `dst.length` bytes into `dst` and removes them; returns how
   * many (0 when empty).
   */
  copyTo(dst: Uint8Array): number {
    const s = this.#start;
    const avail = this.#end - s;
    const n = avail < dst.length ? avail : dst.length;
    if (n === 0) return 0;
    const buf = this.#buf;
    if (n <= 32) {
      // A loop beats set() and its temporary view for a few bytes.
      for (let i = 0; i < n; i++) dst[i] = buf[s + i];
    } else {
      dst.set(new Uint8Array(this.#ab, s, n));
    }
    this.#start = s + n;
    return n;
  }

  /**
   * Removes the first line and returns it decoded as UTF-8, without its
   * `\n` or `\r\n` unless `keepEnd`. At the end of the stream (`ended`),
   * what is left without a `\n` is the last line, returned as it is.
   * Returns `undefined` while no whole line is buffered, and at the end when
   * nothing is left. Throws `MessageTooLarge`, removing nothing, when the
   * line (or what is buffered without a `\n`) is longer than `limit` bytes.
   *
   * @example
   * ```ts
   * import { ReadBuffer } from "@denocos/denocos/io";
   *
   * const rb = new ReadBuffer(1024);
   * const text = new TextEncoder().encode("one\r\ntwo");
   * rb.space().set(text);
   * rb.commit(text.length);
   * console.log(rb.takeLine(100, false, false)); // "one"
   * console.log(rb.takeLine(100, false, false)); // undefined
   * console.log(rb.takeLine(100, false, true)); // "two"
   * ```
   */
  takeLine(limit: number, keepEnd: boolean, ended: boolean): string | undefined {
    const s = this.#start;
    const avail = this.#end - s;
    const ab = this.#ab;
    let n = this.lineLength();
    let end = n;
    if (n > 0) {
      if (n - 1 > limit) throw new MessageTooLarge(n - 1, limit, "line");
      if (!keepEnd) {
        end--;
        if (end > 0 && this.#buf[s + end - 1] === CR) end--;
      }
    } else {
      if (avail > limit) throw new MessageTooLarge(avail, limit, "line");
      if (!ended || avail === 0) return undefined;
      n = end = avail;
    }
    // Decoded from the chunk without handing out a view, so the memory can
    // be read into again.
    const line = decoder.decode(new Uint8Array(ab, s, end));
    this.#start = s + n;
    return line;
  }

  /**
   * A view of the first `n` buffered bytes (at most what is buffered),
   * without removing them, for a caller that reads it at once and keeps
   * nothing (say, to parse a header of its own protocol before `skip`): the
   * memory may be read into again once those bytes are taken.
   */
  peek(n: number): Uint8Array {
    const avail = this.#end - this.#start;
    return new Uint8Array(this.#ab, this.#start, n < avail ? n : avail);
  }

  /** Drops `n` buffered bytes (at most what is buffered). */
  skip(n: number): void {
    const avail = this.#end - this.#start;
    this.#start += n < avail ? n : avail;
  }

  /** The big-endian 32-bit unsigned number at the front, or -1 when fewer than 4 bytes are buffered. */
  peekUint32(): number {
    const s = this.#start;
    if (this.#end - s < 4) return -1;
    const b = this.#buf;
    return (b[s] * 0x1000000) + ((b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]);
  }

  /**
   * The length of the first line including its `\n`, or -1 when no `\n` is
   * buffered.
   */
  lineLength(): number {
    const s = this.#start;
    const e = this.#end;
    // Only the bytes not searched yet: a long line arriving in pieces is
    // searched once, not once per piece.
    const from = this.#scanned > s ? this.#scanned : s;
    const i = from < e ? new Uint8Array(this.#ab, from, e - from).indexOf(NEWLINE) : -1;
    // The bytes before the `\n` hold none either (whether the line is taken
    // or refused as too long, it is not searched again).
    this.#scanned = i < 0 ? e : from + i;
    return i < 0 ? -1 : from - s + i + 1;
  }

  /** Empties the buffer and drops its memory. */
  clear(): void {
    this.#buf = this.#room = EMPTY;
    this.#ab = EMPTY.buffer;
    this.#start = this.#end = this.#floor = 0;
    this.#scanned = 0;
    this.#roomAt = -1;
  }

  #take(n: number): Uint8Array {
    const s = this.#start;
    this.#start = s + n;
    if (n > SMALL) {
      this.#floor = s + n;
      return new Uint8Array(this.#ab, s, n);
    }
    let at = blockAt;
    if (at + n > block.byteLength) {
      block = new ArrayBuffer(BLOCK);
      at = 0;
    }
    blockAt = at + n;
    const out = new Uint8Array(block, at, n);
    if (n <= 32) {
      const buf = this.#buf;
      for (let i = 0; i < n; i++) out[i] = buf[s + i];
    } else {
      out.set(new Uint8Array(this.#ab, s, n));
    }
    return out;
  }
}
