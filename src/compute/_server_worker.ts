/**
 * Internal: the Worker script of a compute server (started by
 * `_server_main.ts` with the computation's permissions); not meant to be
 * imported.
 *
 * It claims the private channel first, then imports the computation's entry
 * module from its materialized folder, runs the `serverSetup` export if
 * there is one, and runs each job as a denocos task in this Worker's own
 * scheduler: `export async function name(task, ...args)`. The job module
 * needs nothing from denocos at run time (`import type { Task }` at most):
 * the task object is this Worker's. `serverSetup(task, ...setupArgs)`'s
 * result is `task.setup` in every job of this server.
 *
 * Values cross the channel already encoded by the network `Codec`
 * (arguments, results, messages), so that task references survive: a
 * reference in a job's arguments arrives as a `HostRef` whose `send` posts
 * `[W_MESSAGE, refId, bytes]` to the host, and a job's own task in a value
 * it sends out travels as a job reference the node resolves. Jobs share
 * this realm (see `_worker_channel_worker.js` for what that allows); the
 * host treats everything from here as hostile.
 *
 * @module
 */
import { claimChannel } from "../io/_worker_channel_worker.js";
import { REMOTE_REF, spawn, Task } from "../core/_internal.ts";
import {
  Codec,
  type CodecContext,
  DEFAULT_CODEC_LIMITS,
  type TaskRefRecord,
} from "../net/codec.ts";
import {
  JOB_PEER,
  REF_PEER,
  VALUE_HEADROOM,
  W_BATCH,
  W_CLOSING,
  W_FAILED,
  W_MESSAGE,
  W_READY,
  W_RESULT,
  W_RUN,
  W_SEND,
  W_SETUP_FAILED,
  W_TERMINATE,
} from "./_server_protocol.ts";

const NOWHERE = Object.freeze({ hostname: "", port: 0 });

/** A host object a job got in its arguments: sending to it goes to the host. */
class HostRef {
  readonly refId: number;
  readonly [REMOTE_REF]: {
    key: string;
    send(m: unknown): boolean;
    deliver(m: unknown): Promise<number>;
    addMonitor(): void;
  };

  constructor(refId: number, readonly name: string) {
    this.refId = refId;
    this[REMOTE_REF] = {
      key: `${REF_PEER}/${refId}`,
      send: (m) => this.send(m),
      deliver: (m) => Promise.resolve(this.send(m) ? 1 : 0),
      addMonitor() {
        throw new TypeError("a job cannot monitor a reference from its arguments");
      },
    };
  }

  /** Queues `message` for the host object; throws `TypeError` for a value the codec cannot carry. */
  send(message: unknown): boolean {
    queue(W_MESSAGE, this.refId, encode(message));
    return true;
  }

  /** Same as `send`, resolving `1`. */
  deliver(message: unknown): Promise<number> {
    return Promise.resolve(this.send(message) ? 1 : 0);
  }
}

const jobs = new Map<number, Task>();
const jobOf = new Map<Task, number>();

const context: CodecContext = {
  isTask: (v) => v instanceof HostRef || v instanceof Task,
  isChannel: () => false,
  encodeTask(t): TaskRefRecord {
    if (t instanceof HostRef) {
      return { peer: REF_PEER, incarnation: 0, id: t.refId, name: t.name, location: NOWHERE };
    }
    const id = jobOf.get(t as Task);
    if (id === undefined) {
      throw new TypeError(
        "only a job's own task can travel out of its server, not a task it spawned",
      );
    }
    return { peer: JOB_PEER, incarnation: 0, id, name: (t as Task).name, location: NOWHERE };
  },
  decodeTask(r) {
    if (r.peer !== REF_PEER) throw new TypeError("unexpected reference from the host");
    return new HostRef(r.id, r.name);
  },
  encodeChannel() {
    throw new TypeError("channels cannot travel out of a server");
  },
  decodeChannel() {
    throw new TypeError("unexpected channel from the host");
  },
};
// Values travel inside frames: keep room for the frame around them, so a
// result or message that is too large fails its job, not the Worker.
const codec = new Codec(context, {
  maxMessageSize: DEFAULT_CODEC_LIMITS.maxMessageSize - VALUE_HEADROOM,
});

function encode(v: unknown): Uint8Array {
  return codec.encode(v).slice();
}

// --- outgoing batch: flat [kind, id, payload] triples, flushed once per microtask sweep ---
let out: unknown[] = [];
let flushing = false;
function queue(kind: number, id: number, payload: unknown): void {
  out.push(kind, id, payload);
  if (out.length >= W_BATCH * 3) flush();
  else if (!flushing) {
    flushing = true;
    queueMicrotask(flush);
  }
}
function flush(): void {
  flushing = false;
  if (out.length === 0) return;
  const batch = out;
  out = [];
  post(batch);
}

// Job output goes to stderr: stdout carries the server's frames.
for (const k of ["log", "info", "debug", "dir", "dirxml", "table", "trace"] as const) {
  (console as unknown as Record<string, unknown>)[k] = console.error;
}

let mod: Record<string, unknown> | null = null;
let setupValue: unknown = undefined;
/** Quads that arrived before the module was ready. */
let early: unknown[] | null = [];

const post = claimChannel({
  open: (init) =>
    void start(init as { entry: string; setup: string | null; setupArgs: Uint8Array | null }),
  message: onMessage,
});

addEventListener("unhandledrejection", (e) => {
  // A job's stray promise must not end the Worker (and every other job in it).
  e.preventDefault();
  console.error("denocos server: unhandled rejection in a job:", e.reason);
});
addEventListener("error", (e) => {
  // Nor an exception thrown from a job's timer or event callback.
  e.preventDefault();
  console.error("denocos server: uncaught error in a job:", e.error ?? e.message);
});

// A job that closes the Worker or exits: say so first (flushed at once),
// so the server replaces it instead of waiting for answers that never come.
const scope = globalThis as unknown as { close(): void };
const realClose = scope.close;
const realExit = Deno.exit;
let closing = false;
function goingAway(how: string): void {
  if (closing) return;
  closing = true;
  queue(W_CLOSING, 0, encode(`a job closed its Worker (${how})`));
  flush();
}
scope.close = () => {
  goingAway("close()");
  Reflect.apply(realClose, scope, []);
};
Deno.exit = ((code?: number) => {
  goingAway(`Deno.exit(${code ?? ""})`);
  return realExit(code);
}) as typeof Deno.exit;

// A job given as a function (`comp.run(fn)`) travels as this export name and
// the function's source; compiled with the eval captured before any job ran.
const FN_JOB = "\0fn";
const indirectEval = globalThis.eval;
const compiled = new Map<string, unknown>();

function compile(source: string): unknown {
  let fn = compiled.get(source);
  if (fn === undefined) {
    fn = indirectEval(`(${source})`);
    if (typeof fn !== "function") throw new TypeError("the job's source is not a function");
    if (compiled.size >= 256) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, fn);
  }
  return fn;
}

async function start(
  init: { entry: string; setup: string | null; setupArgs: Uint8Array | null },
): Promise<void> {
  try {
    const m = await import(init.entry) as Record<string, unknown>;
    if (init.setup === null && init.setupArgs !== null) {
      // No serverSetup, but a value for jobs (a nodeSetup's result): it is task.setup.
      setupValue = (codec.decode(init.setupArgs) as unknown[])[0];
    }
    if (init.setup !== null) {
      const fn = m[init.setup];
      if (typeof fn !== "function") {
        throw new TypeError(`serverSetup export '${init.setup}' is not a function`);
      }
      const args = init.setupArgs === null ? [] : codec.decode(init.setupArgs) as unknown[];
      // deno-lint-ignore no-explicit-any
      const t = spawn(fn as any, ...args);
      setupValue = await t.finish();
    }
    mod = m;
  } catch (e) {
    queue(W_SETUP_FAILED, 0, encodeError(e));
    return;
  }
  queue(W_READY, 0, null);
  const pending = early!;
  early = null;
  handle(pending);
}

function onMessage(message: unknown): void {
  const d = message as unknown[];
  if (early !== null) {
    for (let i = 0; i < d.length; i++) early.push(d[i]);
    return;
  }
  handle(d);
}

function handle(d: unknown[]): void {
  for (let i = 0; i + 3 < d.length; i += 4) {
    const kind = d[i] as number, id = d[i + 1] as number;
    if (kind === W_RUN) run(id, d[i + 2] as string, d[i + 3] as Uint8Array);
    else if (kind === W_SEND) {
      const t = jobs.get(id);
      if (t === undefined) continue;
      let m: unknown;
      try {
        m = codec.decode(d[i + 2] as Uint8Array);
      } catch {
        continue;
      }
      t.send(m);
    } else if (kind === W_TERMINATE) jobs.get(id)?.terminate();
  }
}

function run(jobId: number, name: string, argBytes: Uint8Array): void {
  let task: Task;
  try {
    const decoded = codec.decode(argBytes);
    if (!Array.isArray(decoded)) throw new TypeError("job arguments must be an array");
    let args: unknown[] = decoded;
    let fn: unknown;
    if (name === FN_JOB) {
      if (typeof args[0] !== "string") throw new TypeError("a function job without its source");
      fn = compile(args[0]);
      args = args.slice(1);
    } else fn = mod![name];
    if (typeof fn !== "function") throw new TypeError(`export '${name}' is not a function`);
    // deno-lint-ignore no-explicit-any
    task = spawn(fn as any, ...args);
  } catch (e) {
    queue(W_FAILED, jobId, encodeError(e));
    return;
  }
  if (setupValue !== undefined) Object.defineProperty(task, "setup", { value: setupValue });
  jobs.set(jobId, task);
  jobOf.set(task, jobId);
  task.finish().then(
    (v) => end(jobId, task, true, v),
    (e) => end(jobId, task, false, e),
  );
}

function end(jobId: number, task: Task, ok: boolean, value: unknown): void {
  jobs.delete(jobId);
  jobOf.delete(task);
  if (ok) {
    let bytes: Uint8Array;
    try {
      bytes = encode(value);
    } catch (e) {
      queue(W_FAILED, jobId, encodeError(e));
      return;
    }
    queue(W_RESULT, jobId, bytes);
  } else queue(W_FAILED, jobId, encodeError(value));
}

function encodeError(e: unknown): Uint8Array {
  try {
    return encode(e);
  } catch {
    try {
      return encode(new Error(String((e as Error)?.message ?? e).slice(0, 65536)));
    } catch {
      return encode(new Error("the job failed with a value that cannot be encoded"));
    }
  }
}
