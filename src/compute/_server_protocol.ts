/**
 * Internal: the protocol between a node and one of its server processes
 * (`_server_main.ts`), over the server's stdin (node → server) and stdout
 * (server → node), and between the server and its Worker
 * (`_server_worker.ts`), over the private `WorkerChannel`.
 *
 * Stdio frames: a 4-byte big-endian length, then that many bytes of one
 * `Codec` message, an array headed by a kind. Many frames travel in one
 * write (a side that is writing collects what comes meanwhile and writes it
 * in one go), so a burst of jobs costs a few syscalls, not one per job.
 * Values that belong to jobs (arguments, results, messages) are encoded
 * separately by the ends that understand them (the node and the Worker) and
 * carried as opaque `Uint8Array`s: the server process never builds them.
 *
 * Node → server:
 * - `[INIT, { entry, setup, setupArgs, permissions, graceMs }]`, first and once
 * - `[RUN, jobId, exportName, args]`: `args` the encoded argument array
 * - `[SEND, jobId, message]`: into the job's mailbox
 * - `[TERMINATE, jobId]`
 *
 * Server → node:
 * - `[READY, pid]` once the Worker has loaded the module and run the setup
 * - `[SETUP_FAILED, error]`: the module or the setup failed; the server exits
 * - `[RESULT, jobId, value]` / `[FAILED, jobId, error]`: the job ended
 * - `[MESSAGE, refId, message]`: a job sent `message` to reference `refId`
 * - `[RESTARTED, reason]`: the Worker was stuck and has been replaced
 *
 * Worker → server (checked by the server: `[kind, id, payload]` triples,
 * flat, several per message): `W_READY`, `W_SETUP_FAILED`, `W_RESULT`,
 * `W_FAILED`, `W_MESSAGE`, `W_CLOSING` (a job closed the Worker). Server → Worker: `[kind, id, a, b]` quads
 * (trusted direction): `W_RUN`, `W_SEND`, `W_TERMINATE`.
 *
 * @module
 */

// Stdio kinds, node → server.
export const INIT = 1, RUN = 2, SEND = 3, TERMINATE = 4;
// Stdio kinds, server → node.
export const READY = 10, SETUP_FAILED = 11, RESULT = 12, FAILED = 13, MESSAGE = 14, RESTARTED = 15;
// Worker channel kinds.
export const W_READY = 20,
  W_SETUP_FAILED = 21,
  W_RESULT = 22,
  W_FAILED = 23,
  W_MESSAGE = 24,
  W_CLOSING = 25;
export const W_RUN = 30, W_SEND = 31, W_TERMINATE = 32;

/** Records per Worker → server message, at most (the channel's `maxLength` is 3 × this). */
export const W_BATCH = 512;

/** A reference record's `peer` for a host object a job got in its arguments. */
export const REF_PEER = "denocos.ref";
/** A reference record's `peer` for a job's own task. */
export const JOB_PEER = "denocos.job";

/**
 * How much smaller than a frame a job's encoded value must be: room for the
 * frame around it (kind, id, export name up to 256 characters).
 */
export const VALUE_HEADROOM = 1024;

/** Frame header size. */
const HEAD = 4;

/**
 * Splits a byte stream into frames, refusing any longer than `maxFrame`
 * before buffering it.
 */
export class FrameReader {
  readonly #max: number;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  /** @param maxFrame the longest frame body accepted */
  constructor(maxFrame: number) {
    this.#max = maxFrame;
  }

  /**
   * Adds `chunk` and calls `onFrame` with each complete frame body (a view
   * valid only during the call). Throws `RangeError` for a frame too long.
   */
  push(chunk: Uint8Array, onFrame: (body: Uint8Array) => void): void {
    this.#append(chunk);
    for (;;) {
      const avail = this.#end - this.#start;
      if (avail < HEAD) break;
      const b = this.#buf, s = this.#start;
      const len = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
      if (len === 0 || len > this.#max) {
        throw new RangeError(`a frame of ${len} bytes (1 to ${this.#max} allowed)`);
      }
      // The body is buffered as it arrives, never reserved from its
      // announced length: a 4-byte header costs a hostile sender nothing.
      if (avail < HEAD + len) break;
      this.#start = s + HEAD + len;
      onFrame(b.subarray(s + HEAD, s + HEAD + len));
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Bytes of an unfinished frame (non-zero at end of stream means a truncated frame). */
  get pending(): number {
    return this.#end - this.#start;
  }

  #append(chunk: Uint8Array): void {
    if (this.#buf.length - this.#end < chunk.length) {
      const live = this.#end - this.#start;
      if (this.#buf.length - live < chunk.length) {
        const next = new Uint8Array(Math.max(this.#buf.length * 2, live + chunk.length));
        next.set(this.#buf.subarray(this.#start, this.#end), 0);
        this.#buf = next;
      } else this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}

/**
 * Collects frames and writes them with as few writes as it can: while one
 * write is in flight, frames pile up in a buffer that goes out next.
 */
export class FrameWriter {
  readonly #write: (bytes: Uint8Array) => Promise<unknown>;
  readonly #onError: (e: unknown) => void;
  #buf = new Uint8Array(64 * 1024);
  #len = 0;
  #busy = false;
  #scheduled = false;
  #closed = false;
  /** Resolves when the last write has finished (for a clean close). */
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | null = null;

  /**
   * @param write writes all of `bytes` (it is not reused until the promise settles)
   * @param onError a write failed: the other side is gone
   */
  constructor(write: (bytes: Uint8Array) => Promise<unknown>, onError: (e: unknown) => void) {
    this.#write = write;
    this.#onError = onError;
  }

  /** Queues one frame whose body is `body` (copied now). */
  frame(body: Uint8Array): void {
    if (this.#closed) return;
    const need = this.#len + HEAD + body.length;
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    const b = this.#buf, n = body.length, at = this.#len;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 255;
    b[at + 2] = (n >>> 8) & 255;
    b[at + 3] = n & 255;
    b.set(body, at + HEAD);
    this.#len = need;
    if (!this.#busy && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#kick);
    }
  }

  /** Resolves once everything queued so far is written (or writing failed). */
  flushed(): Promise<void> {
    if (!this.#busy && !this.#scheduled && this.#len === 0) return Promise.resolve();
    if (this.#idleResolve === null) {
      this.#idle = new Promise((r) => this.#idleResolve = r);
    }
    return this.#idle;
  }

  /** Drops whatever is queued; later frames are ignored. */
  close(): void {
    this.#closed = true;
    this.#len = 0;
    this.#settle();
  }

  #kick = (): void => {
    this.#scheduled = false;
    if (!this.#busy) this.#pump();
  };

  async #pump(): Promise<void> {
    this.#busy = true;
    let spare = new Uint8Array(64 * 1024);
    try {
      while (this.#len > 0 && !this.#closed) {
        const out = this.#buf.subarray(0, this.#len);
        const held = this.#buf;
        // Swap buffers: frames queued during the write go to the spare one.
        this.#buf = spare.length >= 64 * 1024 ? spare : new Uint8Array(64 * 1024);
        this.#len = 0;
        await this.#write(out);
        spare = held;
      }
    } catch (e) {
      this.#closed = true;
      this.#len = 0;
      this.#onError(e);
    } finally {
      this.#busy = false;
      this.#settle();
    }
  }

  #settle(): void {
    if (this.#busy || this.#len > 0) return;
    const r = this.#idleResolve;
    this.#idleResolve = null;
    r?.();
  }
}

/** Writes all of `bytes` to `w` (a `Deno.Writer`-like with partial writes). */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}
