/**
 * Bounded growth for memory that fills with bytes from a peer. A peer can
 * announce any length in a few bytes; memory reserved for what it announces
 * would cost it nothing and us everything. So a buffer here grows only with
 * what has arrived, at most doubling what it holds (never past a limit), and
 * an attacker pays about a byte for each byte held, while a legitimate big
 * frame costs a bounded number of moves (each byte is copied about once more
 * in all, since the sizes double).
 *
 * Internal to denocos: `ReadBuffer` grows its chunks by `grownCapacity`, and
 * the network layer reassembles fragmented messages with `ByteAccumulator`.
 *
 * @module
 */
import { MessageTooLarge } from "./errors.ts";

const EMPTY = new Uint8Array(0);

/**
 * The capacity for a buffer that holds `held` bytes and must make room for
 * `need` bytes in all: twice what it holds (at least `held + step`), or
 * `need` if that is more, but never more than `most`. Pass a `need` you
 * trust (the caller's own request) to get it at once; for a length a peer
 * announced, pass it as `most` with a small `need`, so that the memory
 * follows what arrives and the last step lands exactly on the announced
 * length.
 *
 * @param held bytes already held (they move to the new memory)
 * @param need bytes the new memory must hold at least (clipped to `most`)
 * @param step the least growth, in bytes (say, the default chunk size)
 * @param most the capacity never exceeded (default: no bound)
 *
 * @example
 * ```ts
 * import { grownCapacity } from "./_chunks.ts";
 *
 * // 4 bytes of a frame that announces 16 MiB: one 16 KiB step, not 16 MiB.
 * console.log(grownCapacity(4, 0, 16384, 16 << 20)); // 16388
 * // 10 MiB of it arrived: double, but stop at the frame's end.
 * console.log(grownCapacity(10 << 20, 0, 16384, 16 << 20)); // 16777216
 * ```
 */
export function grownCapacity(held: number, need: number, step: number, most = Infinity): number {
  const doubled = held + (held > step ? held : step);
  const cap = need > doubled ? need : doubled;
  return cap < most ? cap : most;
}

/**
 * Options for `ByteAccumulator`.
 *
 * @example
 * ```ts
 * import type { ByteAccumulatorOptions } from "./_chunks.ts";
 *
 * const opts: ByteAccumulatorOptions = { step: 65536, what: "message" };
 * console.log(opts.step); // 65536
 * ```
 */
export interface ByteAccumulatorOptions {
  /** The first capacity and least growth, in bytes (default 16 KiB). */
  step?: number;
  /** What is accumulated, for `MessageTooLarge` (default `"message"`). */
  what?: string;
}

/**
 * Collects bytes that arrive in pieces (fragments of a message, reads of a
 * frame) into one contiguous array, holding at most about twice what
 * arrived and never more than `limit` bytes. Pieces are copied in, so a
 * piece that is a view of a larger chunk does not keep that chunk alive.
 *
 * Feed it with `push(bytes)`, or read straight into it with `space()` and
 * `commit(n)`; `take()` hands the bytes out and empties it. When `limit` is
 * the exact size expected (a length announced and checked against a
 * maximum), the last growth lands on it and the result has no slack; an
 * announced length therefore costs nothing until its bytes arrive.
 *
 * @example
 * ```ts
 * import { ByteAccumulator } from "./_chunks.ts";
 *
 * const acc = new ByteAccumulator(6);
 * acc.push(new Uint8Array([1, 2, 3]));
 * const room = acc.space();
 * room.set([4, 5, 6]);
 * acc.commit(3);
 * console.log(acc.length, acc.capacity); // 6 6
 * console.log(acc.take()); // Uint8Array(6) [ 1, 2, 3, 4, 5, 6 ]
 * console.log(acc.length); // 0
 * ```
 */
export class ByteAccumulator {
  /** The most bytes it accepts; one more throws `MessageTooLarge`. */
  readonly limit: number;
  readonly #step: number;
  readonly #what: string;
  #buf: Uint8Array = EMPTY;
  #length = 0;

  /**
   * Makes an empty accumulator; it allocates nothing until bytes arrive.
   *
   * @param limit the most bytes it will hold (a non-negative safe integer)
   * @param options the first capacity and least growth, the name for errors
   */
  constructor(limit: number, options?: ByteAccumulatorOptions) {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be a non-negative safe integer, got ${limit}`);
    }
    const step = options?.step ?? 16384;
    if (!Number.isSafeInteger(step) || step < 1) {
      throw new RangeError(`step must be a positive safe integer, got ${step}`);
    }
    this.limit = limit;
    this.#step = step;
    this.#what = options?.what ?? "message";
  }

  /** How many bytes it holds. */
  get length(): number {
    return this.#length;
  }

  /** How many bytes of memory it holds (at most about twice `length`, never more than `limit`). */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * Copies `bytes` in after what it holds. Throws `MessageTooLarge`, taking
   * nothing, when that would exceed `limit`.
   */
  push(bytes: Uint8Array): void {
    const n = this.#length + bytes.length;
    if (n > this.limit) throw new MessageTooLarge(n, this.limit, this.#what);
    if (n > this.#buf.length) this.#grow(n);
    this.#buf.set(bytes, this.#length);
    this.#length = n;
  }

  /**
   * Free memory after what it holds, for a read to fill and `commit`:
   * growing (to about twice what it holds, at most `limit`) when there is
   * none. Empty once it holds `limit` bytes.
   */
  space(): Uint8Array {
    const len = this.#length;
    if (len === this.#buf.length) {
      if (len === this.limit) return EMPTY;
      this.#grow(len + 1);
    }
    return this.#buf.subarray(len);
  }

  /** Records that the last `space()` got `n` bytes (`RangeError` if more than it offered). */
  commit(n: number): void {
    const room = this.#buf.length - this.#length;
    if (!Number.isInteger(n) || n < 0 || n > room) {
      throw new RangeError(`commit: ${n} bytes for ${room} bytes of space`);
    }
    this.#length += n;
  }

  /**
   * Returns what it holds as one array and empties itself, dropping its
   * memory (the array owns it now; with a `limit` that was exactly reached
   * it has no slack).
   */
  take(): Uint8Array {
    const out = this.#length === this.#buf.length ? this.#buf : this.#buf.subarray(0, this.#length);
    this.clear();
    return out;
  }

  /** Drops what it holds and its memory. */
  clear(): void {
    this.#buf = EMPTY;
    this.#length = 0;
  }

  #grow(need: number): void {
    const cap = grownCapacity(this.#length, need, this.#step, this.limit);
    const fresh = new Uint8Array(cap);
    if (this.#length > 0) fresh.set(this.#buf.subarray(0, this.#length));
    this.#buf = fresh;
  }
}
