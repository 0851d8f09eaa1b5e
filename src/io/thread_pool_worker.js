/**
 * The Worker script behind `AsyncThreadPool`; not meant to be imported.
 *
 * Protocol (one pool, one Worker), on the private channel of
 * `_worker_channel_worker.js` (never on the Worker's own `postMessage`,
 * which jobs can use too and the pool ignores):
 * - init payload: `{ cells: SharedArrayBuffer, mask }`; once the channel is
 *   open the Worker answers `[READY, 0, null]`.
 * - main → Worker: `[defs, seq, fnId, args, seq, fnId, args, …]`, a batch
 *   of jobs. `defs` (or `null`) is `[fnId, def, …]`: each `def` is a
 *   function's source text or `[moduleUrl, exportName]`, sent once per
 *   Worker and cached here by id.
 * - Worker → main: `[seq, status, value]` per job, in order, as each ends
 *   (`status` OK, ERROR with `{ name, message, stack, code }` bounded to
 *   `NAME_MAX` / `TEXT_MAX` characters, or THROWN with the thrown value).
 *   Control messages have a negative first element: `READY`, and `CRASH`
 *   / `CLOSING` with `[kind, ERROR | THROWN, reason]`.
 *
 * Every job has a cell in the shared `Int32Array` holding
 * `(seq << 2) | state`. The main side writes `PENDING` when it sends the
 * job; this side moves it to `STARTED` with a compare-and-swap before
 * running it, and to `DONE` before answering. The main side can take back
 * a job that has not started (cancelled, or moved to an idle Worker) with
 * the opposite compare-and-swap, so a job runs at most once and the main
 * side always knows whether a job is running when it must terminate this
 * Worker. Jobs run one at a time, in order; a job returning a promise is
 * awaited before the next one starts.
 *
 * Jobs run in this realm, so this script uses only builtins it captured
 * before the first job ran, and keeps its own state in arrays with a
 * `null` prototype (an index setter on `Array.prototype` would otherwise
 * see them): a job that replaces globals cannot make this script answer
 * for a job it did not run, or change another job's sequence number.
 *
 * @module
 */

// Plain JavaScript on purpose: Deno type-checks a TypeScript Worker script
// each time a Worker starts, and cannot cache that check when the project
// brings its own node_modules (`"nodeModulesDir": "manual"`), so a .ts
// script cost every Worker start most of a second under `deno test`.

import { claimChannel } from "./_worker_channel_worker.js";

/**
 * The Worker's global scope, as far as this script uses it.
 *
 * @typedef {object} WorkerScope
 * @property {() => void} close
 * @property {((type: "error", listener: (e: ErrorEvent) => void) => void) &
 *   ((type: "unhandledrejection", listener: (e: PromiseRejectionEvent) => void) => void)} addEventListener
 */

/** @typedef {(...args: unknown[]) => unknown} Job */

const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (globalThis));

// --- builtins, captured before any job can replace them ---
const ReflectApply = Reflect.apply;
const FunctionCtor = Function;
const ObjectValues = Object.values;
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ArrayIsArray = Array.isArray;
const StringCtor = String;
const StringPrototypeSlice = /** @type {(s: string, a: number, b?: number) => string} */ (
  ReflectApply(Function.prototype.bind, Function.prototype.call, [String.prototype.slice])
);
const StringPrototypeStartsWith = /** @type {(s: string, p: string) => boolean} */ (
  ReflectApply(Function.prototype.bind, Function.prototype.call, [String.prototype.startsWith])
);
const AtomicsStore = Atomics.store;
const AtomicsCompareExchange = Atomics.compareExchange;
const Int32ArrayCtor = Int32Array;
const ErrorCtor = Error;
const TypeErrorCtor = TypeError;
const SyntaxErrorCtor = SyntaxError;
const NotCapable = Deno.errors.NotCapable;
const ObjectPrototypeIsPrototypeOf = /** @type {(proto: object, v: unknown) => boolean} */ (
  ReflectApply(Function.prototype.bind, Function.prototype.call, [Object.prototype.isPrototypeOf])
);
const ErrorPrototype = Error.prototype;
const SyntaxErrorPrototype = SyntaxError.prototype;
const TypeErrorPrototype = TypeError.prototype;

const PENDING = 1, STARTED = 2, DONE = 3;
const READY = -1, CRASH = -2, CLOSING = -3;
const OK = 0, ERROR = 1, THROWN = 2;
/** Bounds on what an error report carries (the main side refuses more). */
const NAME_MAX = 256, TEXT_MAX = 65536;

/** @type {Int32Array} */
let cells = new Int32ArrayCtor(1);
let mask = 0;
/**
 * A fresh array with no prototype.
 *
 * @returns {unknown[]}
 */
function bare() {
  return ObjectSetPrototypeOf([], null);
}
/** Compiled functions (or their pending definitions) by id. */
const fns = bare();
/** Flat queue of `seq, fnId, args` triples. */
const queue = bare();
let head = 0;
let draining = false;
let closing = false;
/** The one outgoing message, reused (post() copies it). */
const out = bare();

const post = claimChannel({
  open(init) {
    const i = /** @type {{ cells: SharedArrayBuffer, mask: number }} */ (init);
    cells = new Int32ArrayCtor(i.cells);
    mask = i.mask;
    send(READY, OK, null);
  },
  message: onBatch,
});

/**
 * @param {number} a
 * @param {number} b
 * @param {unknown} c
 */
function send(a, b, c) {
  out[0] = a;
  out[1] = b;
  out[2] = c;
  try {
    post(out);
  } finally {
    out[2] = undefined;
  }
}

/**
 * @param {number} seq
 * @param {number} state
 * @returns {number}
 */
function tag(seq, state) {
  return ((seq & 0x1fffffff) << 2) | state;
}

/**
 * Compiles a function's source text in the global scope.
 *
 * @param {string} src
 * @returns {Job}
 */
function compile(src) {
  try {
    return new FunctionCtor(`return (${src}\n);`)();
  } catch (e) {
    if (!ObjectPrototypeIsPrototypeOf(SyntaxErrorPrototype, e)) throw e;
    // Method shorthand (`name(x) { … }`) is only valid inside an object.
    /** @type {Record<string, unknown>} */
    let holder;
    try {
      holder = new FunctionCtor(`return ({${src}\n});`)();
    } catch {
      throw new SyntaxErrorCtor(
        `cannot compile the job's function: ${/** @type {Error} */ (e).message}`,
      );
    }
    const fn = ObjectValues(holder)[0];
    if (typeof fn !== "function") throw e;
    return /** @type {Job} */ (fn);
  }
}

/**
 * The function with id `id`, compiling or importing it on first use.
 *
 * @param {number} id
 * @returns {Promise<Job>}
 */
async function load(id) {
  const def = fns[id];
  if (typeof def === "string") return /** @type {Job} */ (fns[id] = compile(def));
  if (!ArrayIsArray(def)) throw new ErrorCtor(`unknown function id ${id}`);
  const url = /** @type {string} */ (def[0]), name = /** @type {string} */ (def[1]);
  /** @type {Record<string, unknown>} */
  let mod;
  try {
    mod = await import(url);
  } catch (e) {
    // Deno reports a denied import as a TypeError; say what it is.
    if (ObjectPrototypeIsPrototypeOf(TypeErrorPrototype, e)) {
      const message = /** @type {Error} */ (e).message;
      if (typeof message === "string" && StringPrototypeStartsWith(message, "Requires ")) {
        throw new NotCapable(message);
      }
    }
    throw e;
  }
  const fn = mod[name];
  if (typeof fn !== "function") {
    throw new TypeErrorCtor(`export '${name}' of ${url} is not a function`);
  }
  return /** @type {Job} */ (fns[id] = fn);
}

/**
 * `s` cut to `max` characters.
 *
 * @param {string} s
 * @param {number} max
 * @returns {string}
 */
function bound(s, max) {
  return s.length <= max ? s : `${StringPrototypeSlice(s, 0, max - 1)}…`;
}

/**
 * What crosses back for a thrown value: `[status, payload]`. Reading the
 * error runs the job's getters, if it has any, so each read may throw.
 *
 * @param {unknown} e
 * @returns {[number, unknown]}
 */
function failure(e) {
  try {
    if (
      ObjectPrototypeIsPrototypeOf(ErrorPrototype, e) ||
      (typeof e === "object" && e !== null && "message" in e)
    ) {
      const err =
        /** @type {{ name?: unknown, message?: unknown, stack?: unknown, code?: unknown }} */ (
          e
        );
      const code = err.code;
      const stack = err.stack;
      return [ERROR, {
        name: bound(StringCtor(err.name ?? "Error"), NAME_MAX),
        message: bound(StringCtor(err.message ?? ""), TEXT_MAX),
        stack: typeof stack === "string" ? bound(stack, TEXT_MAX) : "",
        code: typeof code === "number" || typeof code === "string"
          ? typeof code === "string" ? bound(code, NAME_MAX) : code
          : undefined,
      }];
    }
    return [THROWN, e];
  } catch {
    return [ERROR, {
      name: "Error",
      message: "the job threw an error that cannot be read",
      stack: "",
    }];
  }
}

/**
 * @param {number} seq
 * @param {number} status
 * @param {unknown} value
 */
function reply(seq, status, value) {
  try {
    send(seq, status, value);
  } catch (e) {
    // The value cannot be cloned (a function, a class instance with private state…).
    const f = failure(e);
    try {
      send(seq, f[0], f[1]);
    } catch {
      send(seq, ERROR, {
        name: "DataCloneError",
        message: "the result cannot be cloned",
        stack: "",
      });
    }
  }
}

/**
 * @param {unknown} v
 * @returns {v is PromiseLike<unknown>}
 */
function isThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (/** @type {{ then?: unknown }} */ (v)).then === "function";
}

/** @returns {Promise<void>} */
async function drain() {
  draining = true;
  while (head < queue.length && !closing) {
    const seq = /** @type {number} */ (queue[head]);
    const id = /** @type {number} */ (queue[head + 1]);
    const args = /** @type {unknown[]} */ (queue[head + 2]);
    queue[head + 2] = undefined;
    head += 3;
    // Compact as we go (amortised O(1)): a Worker that is never idle never
    // leaves this loop, and the queue must not grow by one job per job.
    if (head > 3072 && head * 2 >= queue.length) {
      const n = queue.length - head;
      for (let i = 0; i < n; i++) queue[i] = queue[head + i];
      queue.length = n;
      head = 0;
    }
    const idx = seq & mask;
    const pending = tag(seq, PENDING);
    // Taken back by the main side (cancelled or moved): skip it.
    if (AtomicsCompareExchange(cells, idx, pending, tag(seq, STARTED)) !== pending) continue;
    let status = OK;
    /** @type {unknown} */
    let value;
    try {
      let fn = fns[id];
      if (typeof fn !== "function") fn = await load(id);
      value = ReflectApply(/** @type {Job} */ (fn), undefined, args);
      if (isThenable(value)) value = await value;
    } catch (e) {
      const f = failure(e);
      status = f[0];
      value = f[1];
    }
    if (closing) break;
    AtomicsStore(cells, idx, tag(seq, DONE));
    reply(seq, status, value);
  }
  if (head >= queue.length) {
    queue.length = 0;
    head = 0;
  }
  draining = false;
}

/**
 * Tells the main side this Worker is going away, once; later jobs are not started.
 *
 * @param {number} kind
 * @param {unknown} reason
 */
function goingAway(kind, reason) {
  if (closing) return;
  closing = true;
  const f = failure(reason);
  try {
    send(kind, f[0], f[1]);
  } catch {
    send(kind, ERROR, { name: "Error", message: "the Worker is going away", stack: "" });
  }
}

/**
 * A batch of jobs from the main side (trusted: it is the host).
 *
 * @param {unknown} message
 */
function onBatch(message) {
  const d = /** @type {unknown[]} */ (message);
  const defs = /** @type {unknown[] | null} */ (d[0]);
  if (defs !== null) {
    for (let i = 0; i < defs.length; i += 2) {
      fns[/** @type {number} */ (defs[i])] = defs[i + 1];
    }
  }
  let n = queue.length;
  for (let i = 1; i < d.length; i++) queue[n++] = d[i];
  if (!draining) drain();
}

scope.addEventListener("error", (/** @type {ErrorEvent} */ e) => {
  goingAway(
    CRASH,
    ObjectPrototypeIsPrototypeOf(ErrorPrototype, e.error) ? e.error : new ErrorCtor(e.message),
  );
});
scope.addEventListener("unhandledrejection", (/** @type {PromiseRejectionEvent} */ e) => {
  goingAway(CRASH, e.reason);
});
const realClose = scope.close;
scope.close = () => {
  goingAway(CLOSING, new ErrorCtor("the job closed its Worker (close())"));
  ReflectApply(realClose, scope, []);
};
const realExit = Deno.exit;
Deno.exit = /** @type {typeof Deno.exit} */ ((/** @type {number | undefined} */ code) => {
  goingAway(CLOSING, new ErrorCtor(`the job closed its Worker (Deno.exit(${code ?? ""}))`));
  return realExit(code);
});
