/**
 * `AsyncFile`: a file that tasks read and write with interruptible waits.
 *
 * Operations on one file run one at a time in the order they were called
 * (a read that needs more bytes, a write, a seek), so the file position is
 * always well defined. Reads are buffered: the bytes a read brings in and a
 * reader does not take stay for the next read, and a write or seek first
 * gives them back (moves the position to where the reader is). A caller that
 * stops waiting loses nothing: its operation still happens, in order, and a
 * read's bytes stay buffered.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import type { WaitOptions } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import type { Task } from "../core/task.ts";
import { park, TIMEOUT_REJECTS, WaitQueue } from "../core/wait.ts";
import type { ReadLineOptions } from "./async_socket.ts";
import { type Fill, PullReader } from "./pull_reader.ts";
import { refusal, waitFor } from "./wait_for.ts";

const encoder = new TextEncoder();

/**
 * Options for `AsyncFile.open`: `Deno.OpenOptions` (default: read only),
 * the read buffer's size, the owning scheduler, and `{ timeout, signal }`
 * for the open itself (opening a FIFO can block).
 *
 * @example
 * ```ts
 * import type { FileOptions } from "@denocos/denocos/io";
 *
 * const opts: FileOptions = { write: true, create: true, truncate: true };
 * console.log(opts.create); // true
 * ```
 */
export interface FileOptions extends Deno.OpenOptions, WaitOptions {
  /** Default chunk size of the read buffer, in bytes (default 16 KiB). */
  bufferSize?: number;
  /** The scheduler whose `finish()` closes this file (default: the current task's, else the default one). */
  scheduler?: Scheduler;
}

/**
 * A file for tasks (pycos's `AsyncFile`): `read`, `readLine`, `lines`,
 * `write`, `seek`, `close`, and `for await` over its chunks. Every wait
 * takes `{ timeout, signal }` (timeouts reject with `TimeoutError`) and a
 * terminated task gets `TaskTerminated`. `read` resolves an empty array at
 * end of file; operations on a closed file reject with
 * `Deno.errors.BadResource`.
 *
 * Needs `--allow-read` / `--allow-write` for the file.
 *
 * @example
 * ```ts
 * import { AsyncFile } from "@denocos/denocos";
 *
 * const path = await Deno.makeTempFile();
 * {
 *   await using f = await AsyncFile.open(path, { read: true, write: true });
 *   await f.write("first\nsecond\n");
 *   await f.seek(0);
 *   console.log(await f.readLine()); // "first"
 *   console.log(await f.readLine()); // "second"
 *   console.log(await f.readLine()); // null
 * }
 * await Deno.remove(path);
 * ```
 */
export class AsyncFile implements AsyncDisposable, AsyncIterable<Uint8Array> {
  readonly #file: Deno.FsFile;
  readonly #reader: PullReader;
  readonly #scheduler: Scheduler;
  /** The last operation queued; the next one starts when it ends. */
  #op: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | null = null;

  /**
   * Wraps an open `Deno.FsFile`; the `AsyncFile` owns it from now on.
   *
   * @param file the file
   * @param options read buffer size, owning scheduler
   */
  constructor(file: Deno.FsFile, options?: Pick<FileOptions, "bufferSize" | "scheduler">) {
    this.#file = file;
    this.#reader = new PullReader("the file", this.#fill, options?.bufferSize ?? 16384);
    this.#scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.#scheduler.adopt(this);
  }

  /**
   * Opens `path` (read only unless `options` say otherwise).
   *
   * @example
   * ```ts
   * import { AsyncFile } from "@denocos/denocos/io";
   *
   * const path = await Deno.makeTempFile();
   * await using f = await AsyncFile.open(path, { write: true, append: true });
   * console.log(await f.write("log line\n")); // 9
   * ```
   */
  static open(path: string | URL, options?: FileOptions): Promise<AsyncFile> {
    const task = currentTask();
    const refused = refusal(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    const { timeout: _t, signal: _s, bufferSize, scheduler, ...openOptions } = options ?? {};
    const flags = openOptions as Deno.OpenOptions;
    const anyFlag = flags.read || flags.write || flags.append || flags.create ||
      flags.createNew || flags.truncate;
    let opened: Promise<Deno.FsFile>;
    try {
      opened = Deno.open(path, anyFlag ? openOptions : { ...openOptions, read: true });
    } catch (e) {
      return Promise.reject(e);
    }
    const q = new WaitQueue();
    const p = park<Deno.FsFile>(q, task, options, TIMEOUT_REJECTS);
    opened.then((file) => {
      const w = q.shift();
      // Nobody waits any more: do not leak the file.
      if (w === null) file.close();
      else w.settle(file);
    }, (e) => q.shift()?.fail(e));
    return p.then((file) => new AsyncFile(file, { bufferSize, scheduler }));
  }

  /** The underlying `Deno.FsFile` (for `stat`, `truncate`, locks…; mind the read buffer). */
  get file(): Deno.FsFile {
    return this.#file;
  }

  /** How many bytes were read ahead and not yet taken. */
  get buffered(): number {
    return this.#reader.buffered;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Resolves the next bytes, at most `max` (default 64 KiB), waiting for at
   * least one; an empty array at end of file.
   *
   * @example
   * ```ts ignore
   * for (let chunk; (chunk = await f.read()).length > 0;) process(chunk);
   * ```
   */
  read(max = 65536, options?: WaitOptions): Promise<Uint8Array> {
    return this.#reader.read(currentTask(), max, options);
  }

  /**
   * Resolves the next line (UTF-8, without `\n` or `\r\n` unless
   * `keepEnd`), or `null` at end of file; a line longer than `maxLength`
   * (default 64 KiB) rejects with `MessageTooLarge` and stays buffered.
   *
   * @example
   * ```ts ignore
   * const header = await f.readLine();
   * ```
   */
  readLine(options?: ReadLineOptions): Promise<string | null> {
    return this.#reader.readLine(currentTask(), options);
  }

  /**
   * Iterates the lines until end of file; each step waits with these
   * options.
   *
   * @example
   * ```ts ignore
   * for await (const line of f.lines()) console.log(line);
   * ```
   */
  async *lines(options?: ReadLineOptions): AsyncIterableIterator<string> {
    for (;;) {
      const line = await this.readLine(options);
      if (line === null) return;
      yield line;
    }
  }

  /**
   * Iterates the file's chunks from the current position to the end (so an
   * `AsyncFile` can feed `AsyncPipe.communicate`).
   *
   * @example
   * ```ts ignore
   * for await (const chunk of f) total += chunk.length;
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    for (;;) {
      const chunk = await this.read();
      if (chunk.length === 0) return;
      yield chunk;
    }
  }

  /**
   * Writes all of `data` (text as UTF-8) at the current position; resolves
   * its length in bytes. Do not modify `data` until the write settles.
   *
   * @example
   * ```ts ignore
   * await f.write(new Uint8Array([1, 2, 3]));
   * ```
   */
  write(data: Uint8Array | string, options?: WaitOptions): Promise<number> {
    const task = currentTask();
    const refused = this.#refuse(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const file = this.#file;
    const op = this.#then(async () => {
      await this.#unread();
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      return bytes.length;
    });
    return waitFor(task, op, options);
  }

  /**
   * Moves the position (`whence` as `Deno.SeekMode`, default `Start`);
   * resolves the new position from the start of the file.
   *
   * @example
   * ```ts ignore
   * const size = await f.seek(0, Deno.SeekMode.End);
   * await f.seek(0);
   * ```
   */
  seek(
    offset: number | bigint,
    whence: Deno.SeekMode = Deno.SeekMode.Start,
    options?: WaitOptions,
  ): Promise<number> {
    const task = currentTask();
    const refused = this.#refuse(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    const file = this.#file;
    const op = this.#then(async () => {
      const ahead = this.#reader.reset();
      if (whence === Deno.SeekMode.Current) {
        offset = typeof offset === "bigint" ? offset - BigInt(ahead) : offset - ahead;
      }
      return await file.seek(offset, whence);
    });
    return waitFor(task, op, options);
  }

  /**
   * Resolves the current position (where the next read or write happens).
   *
   * @example
   * ```ts ignore
   * const pos = await f.tell();
   * ```
   */
  tell(options?: WaitOptions): Promise<number> {
    return this.seek(0, Deno.SeekMode.Current, options);
  }

  /**
   * Closes the file once the operation in progress ends; waiting readers
   * and later operations reject with `BadResource`. Idempotent.
   *
   * @example
   * ```ts ignore
   * await f.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#scheduler.disown(this);
      this.#reader.close();
      const file = this.#file;
      this.#closing = this.#op.then(() => {
        try {
          file.close();
        } catch { /* already closed by its user */ }
      });
    }
    return this.#closing;
  }

  /** `await using f = await AsyncFile.open(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #refuse(task: Task | undefined, options: WaitOptions | undefined): unknown {
    return refusal(task, options, this.#closing !== null, "the file");
  }

  /** Queues `fn` after the operations before it. */
  #then<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#op.then(fn);
    this.#op = p.then(ignore, ignore);
    return p;
  }

  /** Gives the read-ahead back: moves the position to where the reader is. */
  async #unread(): Promise<void> {
    const ahead = this.#reader.reset();
    if (ahead > 0) await this.#file.seek(-ahead, Deno.SeekMode.Current);
  }

  #fill: Fill = (rb) =>
    this.#then(async () => {
      const n = await this.#file.read(rb.space());
      if (n === null) return false;
      rb.commit(n);
      return true;
    });
}

function ignore(): void {}
