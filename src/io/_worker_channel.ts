/**
 * Internal: a Worker that runs code we do not trust, and a private channel
 * to the trusted script inside it. `AsyncThreadPool` uses it, and so will
 * the compute layer's servers.
 *
 * The problem it solves: the script that runs jobs and the jobs share one
 * Worker, and a job can call the Worker's own `postMessage` (or listen on
 * its `onmessage`) as well as the script can. So the protocol does not use
 * the Worker's own channel at all:
 *
 * - The host makes a `MessageChannel`, starts the Worker (with the
 *   permissions it is given) and transfers one port to it in the first
 *   message, with a shared "doorbell" cell and the protocol's own init
 *   payload. The worker side (`_worker_channel_worker.js`, imported by the
 *   Worker script before anything else runs) takes the port into a
 *   module-private binding: no job has run yet, and no job ever gets a
 *   reference to it (see that file for how it keeps the port out of reach
 *   of prototype hooks and Deno's internals).
 * - Host → Worker: `post(message)` sends on the port and rings the
 *   doorbell; the worker side reads the port synchronously
 *   (`receiveMessageOnPort`), so no `MessageEvent` (whose construction and
 *   dispatch go through prototypes a job can hook) ever carries protocol
 *   data inside the Worker.
 * - Worker → host: messages on the port are the protocol. Each must be an
 *   array of 1 to `maxLength` elements whose first element is a safe
 *   integer, and pass the protocol's own `check`; anything else is a
 *   protocol violation: the Worker is terminated at once and the handler's
 *   `violation(reason)` is called (the caller replaces it). A protocol
 *   layer that finds a well-shaped message it cannot accept (an answer to
 *   nothing it asked) calls `fail(reason)` for the same effect.
 * - Whatever arrives on the Worker's own `postMessage` is a job talking to
 *   nobody: counted (`noise`), logged once per Worker at debug level
 *   (category `["denocos", "worker"]`), never interpreted.
 *
 * Sizes: Deno deserializes a message before any JavaScript sees it, so a
 * Worker can make the host allocate as much as the message holds; this
 * layer bounds the shape (the element count) and the protocol bounds the
 * fields it reads (the pool: error names and texts). Values that are the
 * job's own result are the caller's business by design.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["denocos", "worker"]);

/** What a `WorkerChannel` reports to its owner. */
export interface WorkerChannelHandler {
  /** A protocol message from the Worker that passed the shape checks. */
  message(data: unknown[]): void;
  /** An error event of the Worker (already `preventDefault`ed, so it never reaches the process). */
  error(event: ErrorEvent): void;
  /** The Worker broke the protocol and has been terminated; `reason` says how. */
  violation(reason: string): void;
  /** Optional: the Worker posted on its own channel (the message is dropped unread). */
  noise?(): void;
}

/** Options for `new WorkerChannel(script, handler, options)`. */
export interface WorkerChannelOptions {
  /** The Worker's name (shown in its error messages). */
  name: string;
  /** The Worker's Deno permissions; `"inherit"` needs no unstable flag. */
  permissions: Deno.PermissionOptions;
  /** Handed to the Worker script's `claimChannel` `open` callback with the port. */
  init?: unknown;
  /** The most elements a protocol message may have (default 1,024). */
  maxLength?: number;
  /** The protocol's own shape check: a reason string refuses the message. */
  check?: (data: unknown[]) => string | undefined;
}

/**
 * One Worker, started with `permissions`, and the private port to the
 * trusted script in it. See the module doc for the rules.
 */
export class WorkerChannel {
  readonly worker: Worker;
  /** The Worker's name. */
  readonly name: string;
  /** Messages the Worker sent on its own `postMessage` (ignored). */
  noise = 0;
  readonly #port: MessagePort;
  readonly #bell: Int32Array<SharedArrayBuffer>;
  readonly #handler: WorkerChannelHandler;
  readonly #maxLength: number;
  readonly #check: ((data: unknown[]) => string | undefined) | undefined;
  #closed = false;

  /**
   * Starts the Worker from `script` and hands it the private port.
   *
   * @param script the Worker script (it must import `_worker_channel_worker.js` and claim the channel)
   * @param handler where messages, errors and violations go
   * @param options name, permissions, init payload, message bounds
   */
  constructor(script: URL, handler: WorkerChannelHandler, options: WorkerChannelOptions) {
    const perms = options.permissions;
    this.#handler = handler;
    this.#maxLength = options.maxLength ?? 1024;
    this.#check = options.check;
    this.name = options.name;
    const worker = this.worker = new Worker(script, {
      type: "module",
      name: options.name,
      ...(perms === "inherit" ? {} : { deno: { permissions: perms } }),
    } as WorkerOptions);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#bell = new Int32Array(new SharedArrayBuffer(4));
    port1.onmessage = (e) => this.#onPort(e.data);
    worker.onmessage = () => this.#onNoise();
    worker.onmessageerror = () => this.#onNoise();
    worker.onerror = (e) => {
      // Never let a Worker's error take the whole process down.
      e.preventDefault();
      if (!this.#closed) handler.error(e);
    };
    worker.postMessage({ port: port2, bell: this.#bell.buffer, init: options.init }, [port2]);
  }

  /** Whether the channel is closed (the Worker terminated). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `message` to the Worker script. Throws (`DataCloneError`) as
   * `postMessage` does when it cannot be cloned, before anything is sent.
   */
  post(message: unknown): void {
    if (this.#closed) return;
    this.#port.postMessage(message);
    Atomics.add(this.#bell, 0, 1);
    Atomics.notify(this.#bell, 0);
  }

  /** The Worker broke the protocol in a way only its owner can tell: terminate it, report it. */
  fail(reason: string): void {
    if (this.#closed) return;
    this.close();
    logger.warn("Worker {name} broke its protocol and was terminated: {reason}", {
      name: this.name,
      reason,
    });
    this.#handler.violation(reason);
  }

  /** Terminates the Worker and closes the port; nothing is reported any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#port.onmessage = null;
    this.#port.close();
    const w = this.worker;
    w.onmessage = null;
    w.onmessageerror = null;
    w.onerror = (e) => e.preventDefault();
    w.terminate();
  }

  #onPort(d: unknown): void {
    if (this.#closed) return;
    if (!Array.isArray(d)) return this.fail(`a message that is not an array (${describe(d)})`);
    const n = d.length;
    if (n < 1 || n > this.#maxLength) {
      return this.fail(`a message of ${n} elements (1 to ${this.#maxLength} allowed)`);
    }
    if (!Number.isSafeInteger(d[0])) return this.fail(`a message headed ${describe(d[0])}`);
    const check = this.#check;
    if (check !== undefined) {
      const why = check(d);
      if (why !== undefined) return this.fail(why);
    }
    this.#handler.message(d);
  }

  #onNoise(): void {
    if (this.#closed) return;
    this.#handler.noise?.();
    if (this.noise++ === 0) {
      logger.debug(
        "Worker {name} posted on its own channel, which nobody reads; ignored (logged once)",
        { name: this.name },
      );
    }
  }
}

/** A short, bounded description of a value for a violation message. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  const t = typeof v;
  if (t === "string") return `a string of ${(v as string).length} characters`;
  if (t === "object") return "an object";
  if (t === "number" || t === "boolean" || t === "undefined") return String(v);
  return t;
}
