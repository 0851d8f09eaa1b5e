/**
 * `ReadBuffer`: the bytes a stream reader has received but nobody has taken
 * yet. Readers take from it synchronously, so a frame is either taken whole
 * or not at all, and a reader that gives up waiting loses nothing.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);
const NEWLINE = 10;
/** A read is offered at least this much room (a quarter chunk at most). */
const MIN_READ = 1024;
/** Chunks of a busy stream grow up to this size. */
const MAX_CHUNK = 256 * 1024;

/**
 * An append-only byte buffer made of chunks. `space` hands out the free tail
 * of the current chunk for a read to fill, `commit` records what it filled,
 * and the `take*` methods remove bytes from the front **as views of the
 * chunk, without copying**. Memory handed out is never written again: when a
 * chunk's tail runs short, the unread bytes move to a fresh chunk. A taken
 * array therefore keeps its chunk alive; `slice()` what you keep for long.
 *
 * A chunk has the default size (doubling up to 256 KiB for a stream that
 * keeps filling them), or exactly the size a waiting reader needs when that
 * is larger, so a big frame is read straight into its own memory.
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

  /** @param size the default chunk size in bytes */
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
   * The free tail for a read to fill, after making sure that at least `need`
   * bytes counted from the first buffered one fit (`0`: any amount).
   */
  space(need = 0): Uint8Array {
    const buf = this.#buf;
    const end = this.#end;
    const room = buf.length - end;
    if (need === 0 && room >= this.#minRead) return new Uint8Array(this.#ab, end, room);
    const start = this.#start;
    const avail = end - start;
    const size = this.#size;
    // A big frame wants exactly its remainder (read straight into a chunk of
    // its own size); anything else wants a useful amount of room.
    let want = need > avail ? need - avail : 0;
    if (want < this.#minRead && need <= size) want = this.#minRead;
    // Views are made with the constructor: cheaper than subarray().
    if (room >= want) return new Uint8Array(this.#ab, end, room);
    // A stream that fills chunk after chunk gets bigger ones (fewer, costly,
    // buffer allocations); a quiet one keeps the default size.
    const next = this.#next;
    if (buf.length >= next && next < MAX_CHUNK) this.#next = next * 2;
    const cap = need > next ? need : avail + next;
    const fresh = new Uint8Array(cap);
    if (avail > 0) fresh.set(new Uint8Array(this.#ab, start, avail));
    this.#buf = fresh;
    this.#ab = fresh.buffer;
    this.#start = 0;
    this.#end = avail;
    return new Uint8Array(fresh.buffer, avail, cap - avail);
  }

  /** Records that the last `space` got `n` bytes. */
  commit(n: number): void {
    this.#end += n;
  }

  /** Removes and returns up to `max` bytes, or `null` when empty. */
  takeUpTo(max: number): Uint8Array | null {
    const avail = this.#end - this.#start;
    if (avail === 0) return null;
    return this.#take(avail < max ? avail : max);
  }

  /** Removes and returns exactly `n` bytes, or `null` when fewer are buffered. */
  takeExactly(n: number): Uint8Array | null {
    if (this.#end - this.#start < n) return null;
    return this.#take(n);
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
    const i = new Uint8Array(this.#ab, s, this.#end - s).indexOf(NEWLINE);
    return i < 0 ? -1 : i + 1;
  }

  /** Empties the buffer and drops its memory. */
  clear(): void {
    this.#buf = EMPTY;
    this.#ab = EMPTY.buffer;
    this.#start = this.#end = 0;
  }

  #take(n: number): Uint8Array {
    const s = this.#start;
    this.#start = s + n;
    return new Uint8Array(this.#ab, s, n);
  }
}
