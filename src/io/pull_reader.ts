/**
 * `PullReader`: the read side shared by `AsyncPipe` (a child's stdout and
 * stderr) and `AsyncFile`. Bytes come from a `fill` function into one
 * buffer; readers take from that buffer synchronously, in FIFO order. A
 * fill is started only when someone waits, and at most one runs at a time,
 * so a reader that stops waiting (timeout, abort, `terminate`) loses
 * nothing: what arrives later stays buffered for the next reader.
 *
 * @module
 */
import type { Task } from "../core/task.ts";
import type { WaitOptions } from "../core/options.ts";
import { park, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";
import { DEFAULT_MAX_LINE_LENGTH, type ReadLineOptions } from "./async_socket.ts";
import { MessageTooLarge } from "./errors.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { ReaderQueue } from "./reader_queue.ts";
import { refusal } from "./wait_for.ts";

/**
 * Reads more bytes into `rb`: resolves `false` at end of stream, `true`
 * otherwise (having committed at least one byte, or none).
 *
 * @example
 * ```ts ignore
 * const fill: Fill = async (rb) => {
 *   const n = await file.read(rb.space());
 *   if (n === null) return false;
 *   rb.commit(n);
 *   return true;
 * };
 * ```
 */
export type Fill = (rb: ReadBuffer) => Promise<boolean>;

const EMPTY = new Uint8Array(0);
const NOT_YET: unique symbol = Symbol("not yet");

// A reader's request, packed into its waiter's `data` as `limit * 4 + op`
// so a parked reader needs no request object.
const R_READ = 0, R_LINE = 1, R_LINE_KEEP = 2;

/**
 * A buffered, interruptible reader over a `Fill` function. Internal to the
 * I/O layer: `AsyncPipe` and `AsyncFile` expose it through their own
 * methods. Every wait names the waiting task explicitly so that internal
 * pumps (which run outside any task) are never interrupted by whoever
 * happened to start them.
 *
 * @example
 * ```ts ignore
 * const reader = new PullReader("stdout", fill);
 * const line = await reader.readLine(currentTask(), { timeout: 1000 });
 * ```
 */
export class PullReader {
  readonly #name: string;
  readonly #fill: Fill;
  readonly #rb: ReadBuffer;
  readonly #readers: ReaderQueue;
  #pulling: Promise<void> | null = null;
  #eof = false;
  #error: unknown = undefined;
  #closed = false;
  // `untilEnd` keeps pulling without readers, up to this many buffered bytes.
  #drainLimit = -1;
  readonly #enders = new WaitQueue();

  /**
   * Makes a reader with an empty buffer; nothing is read before someone waits.
   *
   * @param name what is read, for error messages ("stdout", "file")
   * @param fill reads more bytes into the buffer
   * @param bufferSize the buffer's default chunk size in bytes
   */
  constructor(name: string, fill: Fill, bufferSize = 16384) {
    this.#name = name;
    this.#fill = fill;
    this.#rb = new ReadBuffer(bufferSize);
    this.#readers = new ReaderQueue(this.#serve);
  }

  /** How many bytes are buffered, not yet taken. */
  get buffered(): number {
    return this.#rb.length;
  }

  /** Whether the end of the stream was reached (buffered bytes may remain). */
  get ended(): boolean {
    return this.#eof;
  }

  /** The fill in progress, if any (resolves, never rejects). */
  get pulling(): Promise<void> | null {
    return this.#pulling;
  }

  /**
   * Resolves the bytes available now, at most `max` (a positive integer,
   * else a `RangeError`), waiting for at least one; an empty array at end of
   * stream.
   */
  read(task: Task | undefined, max: number, options?: WaitOptions): Promise<Uint8Array> {
    if (!Number.isInteger(max) || max < 1 || max > 0x3fffffff) {
      return Promise.reject(new RangeError(`'max' must be a positive integer, got ${max}`));
    }
    return this.#request(task, max * 4 + R_READ, options) as Promise<Uint8Array>;
  }

  /**
   * Resolves the next line decoded as UTF-8 (without `\n` / `\r\n` unless
   * `keepEnd`), or `null` at end of stream; a line longer than `maxLength`
   * bytes (default 64 KiB) rejects with `MessageTooLarge` and stays
   * buffered.
   */
  readLine(task: Task | undefined, options?: ReadLineOptions): Promise<string | null> {
    const limit = options?.maxLength ?? DEFAULT_MAX_LINE_LENGTH;
    if (!Number.isInteger(limit) || limit < 0 || limit > 0x3fffffff) {
      return Promise.reject(
        new RangeError(`maxLength must be a non-negative integer, got ${limit}`),
      );
    }
    const code = limit * 4 + (options?.keepEnd ? R_LINE_KEEP : R_LINE);
    return this.#request(task, code, options) as Promise<string | null>;
  }

  /**
   * Resolves once the whole stream is buffered (end of stream reached),
   * taking nothing; rejects with `MessageTooLarge` when more than `limit`
   * bytes would have to be buffered. Not tied to any task.
   */
  untilEnd(limit: number): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#eof) return this.#endResult(limit);
    const p = park<void>(this.#enders, undefined, undefined, undefined, limit);
    this.#drainLimit = Math.max(this.#drainLimit, limit);
    this.#maybePull();
    return p;
  }

  /** Removes and returns everything buffered. */
  takeAll(): Uint8Array {
    return this.#rb.takeUpTo(this.#rb.length) ?? EMPTY;
  }

  /**
   * Drops everything buffered and forgets the end of stream (a file was
   * written or its position moved); returns how many bytes were dropped.
   */
  reset(): number {
    const n = this.#rb.length;
    this.#rb.clear();
    this.#eof = false;
    this.#error = undefined;
    return n;
  }

  /**
   * Ends every wait with a `BadResource` error and drops the buffer. The
   * owner stops the fill in progress (closing what it reads from).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#closedError();
    this.#readers.quiet = true;
    this.#readers.failAll(err);
    this.#enders.failAll(err);
    this.#rb.clear();
  }

  #closedError(): Error {
    return new Deno.errors.BadResource(`${this.#name} is closed`);
  }

  #request(task: Task | undefined, code: number, options?: WaitOptions): Promise<unknown> {
    const refused = refusal(task, options, this.#closed, this.#name);
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#readers.length === 0) {
      let r: unknown;
      try {
        r = this.#take(code);
      } catch (e) {
        return Promise.reject(e);
      }
      if (r !== NOT_YET) return Promise.resolve(r);
    }
    const p = park(this.#readers, task, options, TIMEOUT_REJECTS, code);
    this.#maybePull();
    return p;
  }

  /** Serves the request `code` from the buffer: its result, `NOT_YET`, or a throw. */
  #take(code: number): unknown {
    const op = code & 3;
    const limit = (code - op) / 4;
    const rb = this.#rb;
    if (op === R_READ) {
      const r = rb.takeUpTo(limit);
      if (r !== null) return r;
      return this.#eof ? this.#ended(EMPTY) : NOT_YET;
    }
    const line = rb.takeLine(limit, op === R_LINE_KEEP, this.#eof);
    if (line !== undefined) return line;
    return this.#eof ? this.#ended(null) : NOT_YET;
  }

  /** What a reader gets at end of stream: `value`, or the error that ended it. */
  #ended<T>(value: T): T {
    if (this.#error !== undefined) throw this.#error;
    return value;
  }

  #serve = (): void => {
    if (this.#closed) return;
    const readers = this.#readers;
    for (let w = readers.peek(); w !== null; w = readers.peek()) {
      let r: unknown;
      let failed = false;
      try {
        r = this.#take(w.data as number);
      } catch (e) {
        r = e;
        failed = true;
      }
      if (r === NOT_YET) break;
      readers.quiet = true;
      readers.shift();
      readers.quiet = false;
      if (failed) w.fail(r);
      else w.settle(r);
    }
    if (this.#enders.length > 0) {
      if (this.#eof) {
        for (let w = this.#enders.shift(); w !== null; w = this.#enders.shift()) {
          this.#endResult(w.data as number).then(() => w.settle(undefined), (e) => w.fail(e));
        }
        this.#drainLimit = -1;
      } else if (this.#rb.length > this.#drainLimit) {
        const limit = this.#drainLimit;
        this.#drainLimit = -1;
        this.#enders.failAll(
          new MessageTooLarge(this.#rb.length, limit, `output on ${this.#name}`),
        );
      }
    }
    this.#maybePull();
  };

  #endResult(limit: number): Promise<void> {
    if (this.#rb.length > limit) {
      return Promise.reject(new MessageTooLarge(this.#rb.length, limit, `output on ${this.#name}`));
    }
    return this.#error !== undefined ? Promise.reject(this.#error) : Promise.resolve();
  }

  #maybePull(): void {
    if (this.#pulling !== null || this.#eof || this.#closed) return;
    if (this.#readers.length === 0 && this.#enders.length === 0) return;
    this.#pulling = this.#fill(this.#rb).then(this.#onFill, this.#onFillError);
  }

  #onFill = (more: boolean): void => {
    this.#pulling = null;
    if (this.#closed) return;
    if (!more) this.#eof = true;
    this.#serve();
  };

  #onFillError = (e: unknown): void => {
    this.#pulling = null;
    if (this.#closed) return;
    this.#eof = true;
    this.#error = e;
    this.#serve();
  };
}
