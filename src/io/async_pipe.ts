/**
 * `AsyncPipe`: a child process (or a chain of them, `grep … | wc -l`) whose
 * stdin, stdout and stderr tasks wait on.
 *
 * Reads go through one buffer per stream, filled by at most one read that
 * starts only when someone waits; a reader that stops waiting (timeout,
 * abort, `terminate`) loses nothing, and what arrives later stays buffered
 * for the next reader. A write that has started always finishes, even when
 * its caller stops waiting, so what the child reads is never cut.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import type { WaitOptions } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import type { Task } from "../core/task.ts";
import type { ReadLineOptions } from "./async_socket.ts";
import { type Fill, PullReader } from "./pull_reader.ts";
import { refusal, waitFor } from "./wait_for.ts";

/** The default limit of `communicate`'s output, per stream: 64 MiB. */
const DEFAULT_OUTPUT = 64 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Options for `AsyncPipe.spawn`: those of `Deno.Command` that make sense
 * here, plus the owning scheduler. Each stream is `"piped"` by default; a
 * stream that is piped but never read can fill up and stall the child, so
 * say `"inherit"` or `"null"` for output you will not read.
 *
 * @example
 * ```ts
 * import type { PipeOptions } from "@denocos/denocos/io";
 *
 * const opts: PipeOptions = { cwd: "/tmp", stderr: "inherit", env: { LC_ALL: "C" } };
 * console.log(opts.stderr); // "inherit"
 * ```
 */
export interface PipeOptions {
  /** Working directory of the child. */
  cwd?: string | URL;
  /** Environment variables to set for the child. */
  env?: Record<string, string>;
  /** Start from an empty environment (only `env`). */
  clearEnv?: boolean;
  /** User id to run the child as. */
  uid?: number;
  /** Group id to run the child as. */
  gid?: number;
  /** The child's stdin (default `"piped"`). */
  stdin?: "piped" | "inherit" | "null";
  /** The child's stdout (default `"piped"`). */
  stdout?: "piped" | "inherit" | "null";
  /** The child's stderr (default `"piped"`). */
  stderr?: "piped" | "inherit" | "null";
  /** Default chunk size of the read buffers, in bytes (default 16 KiB). */
  bufferSize?: number;
  /** The scheduler whose `finish()` closes this pipe (default: the current task's, else the default one). */
  scheduler?: Scheduler;
}

/**
 * Options for `communicate`.
 *
 * @example
 * ```ts
 * import type { CommunicateOptions } from "@denocos/denocos/io";
 *
 * const opts: CommunicateOptions = { timeout: 5000, maxOutput: 1 << 20 };
 * console.log(opts.maxOutput); // 1048576
 * ```
 */
export interface CommunicateOptions extends WaitOptions {
  /**
   * Refuse more than this many bytes on stdout or on stderr (default 64
   * MiB): `communicate` then rejects with `MessageTooLarge`.
   */
  maxOutput?: number;
}

/**
 * What `communicate` resolves: the exit status and everything the child
 * wrote, as bytes (decode text with `new TextDecoder().decode(out.stdout)`).
 * A stream that is not piped reads as empty.
 *
 * @example
 * ```ts ignore
 * const { code, stdout } = await pipe.communicate("input");
 * console.log(code, new TextDecoder().decode(stdout));
 * ```
 */
export interface PipeOutput {
  /** The exit code (of the last process of a chain). */
  code: number;
  /** The signal that ended it, or `null`. */
  signal: Deno.Signal | null;
  /** Whether `code` is 0. */
  success: boolean;
  /** Everything it wrote on stdout (not yet read otherwise). */
  stdout: Uint8Array;
  /** Everything it wrote on stderr (not yet read otherwise). */
  stderr: Uint8Array;
}

/**
 * What `communicate` can feed the child: bytes, text (sent as UTF-8), or a
 * stream of either (a `ReadableStream`, an `AsyncFile`, an async generator).
 *
 * @example
 * ```ts
 * import type { PipeInput } from "@denocos/denocos/io";
 *
 * const input: PipeInput = "one\ntwo\n";
 * console.log(typeof input); // "string"
 * ```
 */
export type PipeInput =
  | Uint8Array
  | string
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

/** One child process and its streams. */
class Stage {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly writer: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly stdout: PullReader | null;
  readonly stderr: PullReader | null;
  readonly #outReader: ReadableStreamDefaultReader<Uint8Array> | null;
  readonly #errReader: ReadableStreamDefaultReader<Uint8Array> | null;
  readonly status: Promise<Deno.CommandStatus>;
  exited = false;
  stdinClosed = false;
  /** stdin is fed by the previous process of a chain. */
  stdinFed = false;
  /** stdout feeds the next process of a chain. */
  stdoutFed = false;
  #closing: Promise<void> | null = null;

  constructor(cmd: string | URL, args: string[], options: PipeOptions) {
    this.name = String(cmd);
    const stdin = options.stdin ?? "piped";
    const stdout = options.stdout ?? "piped";
    const stderr = options.stderr ?? "piped";
    this.child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      uid: options.uid,
      gid: options.gid,
      stdin,
      stdout,
      stderr,
    }).spawn();
    this.status = this.child.status;
    this.status.then(() => this.exited = true, () => this.exited = true);
    const size = options.bufferSize ?? 16384;
    this.writer = stdin === "piped" ? this.child.stdin.getWriter() : null;
    if (this.writer === null) this.stdinClosed = true;
    this.#outReader = stdout === "piped" ? this.child.stdout.getReader() : null;
    this.#errReader = stderr === "piped" ? this.child.stderr.getReader() : null;
    this.stdout = this.#outReader && new PullReader("stdout", fillFrom(this.#outReader), size);
    this.stderr = this.#errReader && new PullReader("stderr", fillFrom(this.#errReader), size);
  }

  /** Stops reading stdout (the child gets SIGPIPE if it writes more). */
  dropStdout(): void {
    this.stdout?.close();
    this.#outReader?.cancel().catch(ignore);
  }

  /** Kills the child if it still runs, closes its streams, waits for its exit. */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* it exited meanwhile */ }
    }
    this.stdinClosed = true;
    this.writer?.abort(new Deno.errors.BadResource("the pipe is closed")).catch(ignore);
    this.stdout?.close();
    this.stderr?.close();
    const cancels = [this.#outReader?.cancel(), this.#errReader?.cancel()];
    await Promise.allSettled([...cancels, this.status]);
  }
}

function ignore(): void {}

function fillFrom(reader: ReadableStreamDefaultReader<Uint8Array>): Fill {
  return async (rb) => {
    const r = await reader.read();
    if (r.done) return false;
    const chunk = r.value;
    rb.space(rb.length + chunk.length).set(chunk);
    rb.commit(chunk.length);
    return true;
  };
}

const PRIVATE: unique symbol = Symbol("AsyncPipe");

/**
 * A child process whose pipes tasks wait on, or a chain of processes
 * (`a.pipeTo(b)`: `a`'s stdout feeds `b`'s stdin) that reads as one: writes
 * go to the first process, reads come from the last. pycos's `AsyncPipe`.
 *
 * - `write`, `closeStdin`; `read`, `readLine`, `lines`; `readStderr`,
 *   `readLineStderr`; `communicate(input?)` feeds `input`, closes stdin,
 *   collects all output and the exit status; `wait()` the exit status;
 *   `kill(signal)`.
 * - Every wait takes `{ timeout, signal }` (timeouts reject with
 *   `TimeoutError`); a task terminated while waiting gets `TaskTerminated`.
 *   Reads that give up take nothing; writes that started still finish.
 * - `read` resolves an empty array at end of stream; operations on a closed
 *   pipe reject with `Deno.errors.BadResource`.
 * - `close()` (and `await using`, and the owning scheduler's `finish()`)
 *   kills every process of the pipe that still runs (`SIGKILL`) and waits
 *   for it; to let a child end by itself, `closeStdin()` and `wait()` first.
 *
 * Needs `--allow-run` for the programs it starts.
 *
 * @example
 * ```ts
 * import { AsyncPipe } from "@denocos/denocos";
 *
 * await using wc = AsyncPipe.spawn("wc", ["-l"]);
 * const { code, stdout } = await wc.communicate("one\ntwo\nthree\n");
 * console.log(code, new TextDecoder().decode(stdout).trim()); // 0 "3"
 * ```
 */
export class AsyncPipe implements AsyncDisposable {
  readonly #stages: Stage[];
  readonly #pumps: Promise<void>[];
  readonly #scheduler: Scheduler;
  #closing: Promise<void> | null = null;

  /** @internal use `AsyncPipe.spawn` or `pipeTo` */
  constructor(key: typeof PRIVATE, stages: Stage[], pumps: Promise<void>[], scheduler: Scheduler) {
    if (key !== PRIVATE) throw new TypeError("use AsyncPipe.spawn to start a process");
    this.#stages = stages;
    this.#pumps = pumps;
    this.#scheduler = scheduler;
    scheduler.adopt(this);
  }

  /**
   * Starts `cmd` with `args`; its streams are piped unless `options` says
   * otherwise. Throws at once if the program cannot be started
   * (`Deno.errors.NotFound`, `NotCapable` without `--allow-run`).
   *
   * @example
   * ```ts
   * import { AsyncPipe } from "@denocos/denocos/io";
   *
   * await using cat = AsyncPipe.spawn("cat");
   * await cat.write("hello\n");
   * console.log(await cat.readLine()); // "hello"
   * ```
   */
  static spawn(cmd: string | URL, args: string[] = [], options: PipeOptions = {}): AsyncPipe {
    const scheduler = options.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    return new AsyncPipe(PRIVATE, [new Stage(cmd, args, options)], [], scheduler);
  }

  /**
   * Connects this pipe's stdout to `next`'s stdin and returns the chain: a
   * pipe whose writes go to this one's first process and whose reads,
   * `communicate` and exit status come from `next`'s last process. Closing
   * the chain closes both. Afterwards this pipe's stdout and `next`'s stdin
   * belong to the chain (reading or writing them directly throws); their
   * stderr stays readable on `this` and `next`.
   *
   * @example
   * ```ts
   * import { AsyncPipe } from "@denocos/denocos/io";
   *
   * await using chain = AsyncPipe.spawn("grep", ["an"]).pipeTo(AsyncPipe.spawn("wc", ["-l"]));
   * const out = await chain.communicate("banana\napple\nmango\n");
   * console.log(new TextDecoder().decode(out.stdout).trim()); // "2"
   * ```
   */
  pipeTo(next: AsyncPipe): AsyncPipe {
    const from = this.#last;
    const to = next.#stages[0];
    if (this.#closing !== null || next.#closing !== null) {
      throw new Deno.errors.BadResource("pipeTo: a pipe is closed");
    }
    if (from.stdout === null || from.stdoutFed) {
      throw new TypeError(
        "pipeTo: this pipe's stdout is not piped or already feeds another process",
      );
    }
    if (to.writer === null || to.stdinFed || to.stdinClosed) {
      throw new TypeError("pipeTo: the next pipe's stdin is not piped, is closed or already fed");
    }
    from.stdoutFed = true;
    to.stdinFed = true;
    const pumps = [...this.#pumps, ...next.#pumps, pump(from, to)];
    return new AsyncPipe(PRIVATE, [...this.#stages, ...next.#stages], pumps, this.#scheduler);
  }

  get #first(): Stage {
    return this.#stages[0];
  }

  get #last(): Stage {
    return this.#stages[this.#stages.length - 1];
  }

  /** The process id (of the last process of a chain). */
  get pid(): number {
    return this.#last.child.pid;
  }

  /** The process ids of a chain, first to last. */
  get pids(): number[] {
    return this.#stages.map((s) => s.child.pid);
  }

  /** The exit status (of the last process of a chain), once it exits. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#last.status;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Writes all of `data` (text as UTF-8) to stdin; resolves its length in
   * bytes. Rejects with `Deno.errors.BrokenPipe` if the child closed its
   * stdin. Do not modify `data` until the write settles.
   *
   * @example
   * ```ts ignore
   * await pipe.write("a line\n", { timeout: 1000 });
   * ```
   */
  write(data: Uint8Array | string, options?: WaitOptions): Promise<number> {
    const task = currentTask();
    const refused = this.#refuse(task, options) ?? this.#stdinRefused();
    if (refused !== undefined) return Promise.reject(refused);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length === 0) return Promise.resolve(0);
    const op = this.#first.writer!.write(bytes).then(() => bytes.length);
    return waitFor(task, op, options);
  }

  /**
   * Closes stdin once the writes before it are done: the child reads end of
   * input. Resolves at once if it is closed already.
   *
   * @example
   * ```ts ignore
   * await pipe.write(data);
   * await pipe.closeStdin();
   * ```
   */
  closeStdin(options?: WaitOptions): Promise<void> {
    const task = currentTask();
    const refused = this.#refuse(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    const first = this.#first;
    if (first.stdinFed) {
      return Promise.reject(new TypeError("stdin is fed by another process of the chain"));
    }
    if (first.stdinClosed) return Promise.resolve();
    return waitFor(task, closeStdinOf(first), options);
  }

  /**
   * Resolves the bytes available on stdout, at most `max` (default 64 KiB),
   * waiting for at least one; an empty array at end of stream.
   *
   * @example
   * ```ts ignore
   * for (let chunk; (chunk = await pipe.read()).length > 0;) console.log(chunk);
   * ```
   */
  read(max = 65536, options?: WaitOptions): Promise<Uint8Array> {
    return readFrom(this.#stdout("read"), max, options);
  }

  /**
   * Resolves the next line of stdout (UTF-8, without `\n` or `\r\n` unless
   * `keepEnd`), or `null` at end of stream; a line longer than `maxLength`
   * (default 64 KiB) rejects with `MessageTooLarge` and stays buffered.
   *
   * @example
   * ```ts ignore
   * const line = await pipe.readLine({ timeout: 1000 });
   * ```
   */
  readLine(options?: ReadLineOptions): Promise<string | null> {
    return readLineFrom(this.#stdout("readLine"), options);
  }

  /**
   * Iterates the lines of stdout until it ends; each step waits with these
   * options.
   *
   * @example
   * ```ts ignore
   * for await (const line of pipe.lines()) console.log(line);
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
   * `read` for stderr.
   *
   * @example
   * ```ts ignore
   * const err = await pipe.readStderr();
   * ```
   */
  readStderr(max = 65536, options?: WaitOptions): Promise<Uint8Array> {
    return readFrom(this.#stderr("readStderr"), max, options);
  }

  /**
   * `readLine` for stderr.
   *
   * @example
   * ```ts ignore
   * const warning = await pipe.readLineStderr();
   * ```
   */
  readLineStderr(options?: ReadLineOptions): Promise<string | null> {
    return readLineFrom(this.#stderr("readLineStderr"), options);
  }

  /**
   * Feeds `input` (if any) to stdin and closes it, collects everything the
   * child writes on stdout and stderr, and resolves with that and the exit
   * status once it exits. Output already taken by `read`/`readLine` is not
   * repeated. A `BrokenPipe` while feeding (the child stopped reading) is
   * not an error. If the caller stops waiting (timeout, abort, terminate),
   * the child keeps running and nothing read so far is lost: it stays
   * buffered for `read` or a later `communicate`.
   *
   * @example
   * ```ts
   * import { AsyncPipe } from "@denocos/denocos/io";
   *
   * await using sh = AsyncPipe.spawn("sh", ["-c", "cat; echo oops >&2; exit 3"]);
   * const out = await sh.communicate("data");
   * const text = new TextDecoder();
   * console.log(out.code, text.decode(out.stdout), text.decode(out.stderr)); // 3 "data" "oops\n"
   * ```
   */
  communicate(input?: PipeInput, options?: CommunicateOptions): Promise<PipeOutput> {
    const task = currentTask();
    const refused = this.#refuse(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    const limit = options?.maxOutput ?? DEFAULT_OUTPUT;
    if (!(limit >= 0)) {
      return Promise.reject(new RangeError(`maxOutput must be >= 0, got ${limit}`));
    }
    const first = this.#first;
    if (input !== undefined && (first.stdinFed || first.stdinClosed)) {
      return Promise.reject(new TypeError("communicate: stdin is not piped or already closed"));
    }
    const last = this.#last;
    const parts: Promise<unknown>[] = [];
    if (!first.stdinFed && !first.stdinClosed) parts.push(feed(first, input));
    if (last.stdout !== null && !last.stdoutFed) parts.push(last.stdout.untilEnd(limit));
    if (last.stderr !== null) parts.push(last.stderr.untilEnd(limit));
    const op = Promise.all(parts).then(() => last.status);
    return waitFor(task, op, options).then((status) => ({
      code: status.code,
      signal: status.signal,
      success: status.success,
      stdout: last.stdout !== null && !last.stdoutFed ? last.stdout.takeAll() : new Uint8Array(0),
      stderr: last.stderr !== null ? last.stderr.takeAll() : new Uint8Array(0),
    }));
  }

  /**
   * Resolves the exit status (of the last process of a chain) once it
   * exits.
   *
   * @example
   * ```ts ignore
   * const { code } = await pipe.wait({ timeout: 5000 });
   * ```
   */
  wait(options?: WaitOptions): Promise<Deno.CommandStatus> {
    const task = currentTask();
    const refused = refusal(task, options);
    if (refused !== undefined) return Promise.reject(refused);
    return waitFor(task, this.#last.status, options);
  }

  /**
   * Sends `signal` (default `SIGTERM`) to every process of the pipe that
   * still runs.
   *
   * @example
   * ```ts
   * import { AsyncPipe } from "@denocos/denocos/io";
   *
   * await using sleeper = AsyncPipe.spawn("sleep", ["60"]);
   * sleeper.kill();
   * console.log((await sleeper.wait()).signal); // "SIGTERM"
   * ```
   */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    for (const s of this.#stages) {
      if (s.exited) continue;
      try {
        s.child.kill(signal);
      } catch { /* it exited meanwhile */ }
    }
  }

  /**
   * Kills every process that still runs (`SIGKILL`), ends every pending
   * operation with `BadResource`, and resolves once all have exited and
   * every stream is closed. Idempotent.
   *
   * @example
   * ```ts
   * import { AsyncPipe } from "@denocos/denocos/io";
   *
   * const cat = AsyncPipe.spawn("cat");
   * await cat.close();
   * console.log((await cat.status).signal); // "SIGKILL"
   * ```
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#scheduler.disown(this);
      this.#closing = (async () => {
        await Promise.allSettled(this.#stages.map((s) => s.close()));
        await Promise.allSettled(this.#pumps);
      })();
    }
    return this.#closing;
  }

  /** `await using pipe = AsyncPipe.spawn(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #refuse(task: Task | undefined, options: WaitOptions | undefined): unknown {
    return refusal(task, options, this.#closing !== null, "the pipe");
  }

  #stdinRefused(): Error | undefined {
    const first = this.#first;
    if (first.stdinFed) return new TypeError("stdin is fed by another process of the chain");
    if (first.writer === null) return new TypeError("stdin is not piped");
    if (first.stdinClosed) return new Deno.errors.BadResource("stdin is closed");
    return undefined;
  }

  #stdout(what: string): PullReader | Error {
    if (this.#closing !== null) return new Deno.errors.BadResource("the pipe is closed");
    const last = this.#last;
    if (last.stdoutFed) return new TypeError(`${what}: stdout feeds another process`);
    return last.stdout ?? new TypeError(`${what}: stdout is not piped`);
  }

  #stderr(what: string): PullReader | Error {
    if (this.#closing !== null) return new Deno.errors.BadResource("the pipe is closed");
    return this.#last.stderr ?? new TypeError(`${what}: stderr is not piped`);
  }
}

/** `read` on one of the child's outputs, or the reason it cannot be read. */
function readFrom(
  r: PullReader | Error,
  max: number,
  options: WaitOptions | undefined,
): Promise<Uint8Array> {
  return r instanceof PullReader ? r.read(currentTask(), max, options) : Promise.reject(r);
}

/** `readLine` on one of the child's outputs, or the reason it cannot be read. */
function readLineFrom(
  r: PullReader | Error,
  options: ReadLineOptions | undefined,
): Promise<string | null> {
  return r instanceof PullReader ? r.readLine(currentTask(), options) : Promise.reject(r);
}

/** Closes stdin of `stage` after the writes queued before. */
function closeStdinOf(stage: Stage): Promise<void> {
  stage.stdinClosed = true;
  return stage.writer!.close().catch((e) => {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  });
}

/** Writes `input` to `stage`'s stdin, then closes it; a child that stops reading is fine. */
async function feed(stage: Stage, input: PipeInput | undefined): Promise<void> {
  const writer = stage.writer!;
  try {
    if (typeof input === "string" || input instanceof Uint8Array) {
      const bytes = typeof input === "string" ? encoder.encode(input) : input;
      if (bytes.length > 0) await writer.write(bytes);
    } else if (input !== undefined) {
      for await (const chunk of input) {
        const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
        if (bytes.length > 0) await writer.write(bytes);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
  if (!stage.stdinClosed) await closeStdinOf(stage).catch(ignore);
}

/** Copies `from`'s stdout into `to`'s stdin until it ends, then closes that stdin. */
async function pump(from: Stage, to: Stage): Promise<void> {
  const reader = from.stdout!;
  const writer = to.writer!;
  try {
    for (;;) {
      const chunk = await reader.read(undefined, 1 << 20);
      if (chunk.length === 0) break;
      await writer.write(chunk);
    }
    to.stdinClosed = true;
    await writer.close();
  } catch (e) {
    to.stdinClosed = true;
    writer.abort(e).catch(ignore);
    // The next process is gone: stop reading, so this one gets SIGPIPE.
    if (e instanceof Deno.errors.BrokenPipe) from.dropStdout();
  }
}
