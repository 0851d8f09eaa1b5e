/**
 * The Worker script behind `AsyncThreadPool`; not meant to be imported.
 *
 * Protocol (one pool, one Worker):
 * - main → Worker, first: `{ cells: SharedArrayBuffer, mask }`; the Worker
 *   answers `[READY, 0, null]`.
 * - main → Worker, then: `[defs, seq, fnId, args, seq, fnId, args, …]`, a
 *   batch of jobs. `defs` (or `null`) is `[fnId, def, …]`: each `def` is a
 *   function's source text or `[moduleUrl, exportName]`, sent once per
 *   Worker and cached here by id.
 * - Worker → main: `[seq, status, value]` per job, in order, as each ends.
 *   Control messages have a negative first element (`READY`, `CRASH`,
 *   `CLOSING`).
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
 * @module
 */

// Plain JavaScript on purpose: Deno type-checks a TypeScript Worker script
// each time a Worker starts, and cannot cache that check when the project
// brings its own node_modules (`"nodeModulesDir": "manual"`), so a .ts
// script cost every Worker start most of a second under `deno test`.

/**
 * The Worker's global scope, as far as this script uses it.
 *
 * @typedef {object} WorkerScope
 * @property {((e: MessageEvent) => void) | null} onmessage
 * @property {(message: unknown) => void} postMessage
 * @property {() => void} close
 * @property {((type: "error", listener: (e: ErrorEvent) => void) => void) &
 *   ((type: "unhandledrejection", listener: (e: PromiseRejectionEvent) => void) => void)} addEventListener
 */

/** @typedef {(...args: unknown[]) => unknown} Job */

const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (globalThis));

const PENDING = 1, STARTED = 2, DONE = 3;
const READY = -1, CRASH = -2, CLOSING = -3;
const OK = 0, ERROR = 1, THROWN = 2;

/** @type {Int32Array} */
let cells = new Int32Array(1);
let mask = 0;
/** Compiled functions (or their pending definitions) by id. @type {unknown[]} */
const fns = [];
/** Flat queue of `seq, fnId, args` triples. @type {unknown[]} */
const queue = [];
let head = 0;
let draining = false;
let closing = false;

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
    return new Function(`return (${src}\n);`)();
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    // Method shorthand (`name(x) { … }`) is only valid inside an object.
    /** @type {Record<string, unknown>} */
    let holder;
    try {
      holder = new Function(`return ({${src}\n});`)();
    } catch {
      throw new SyntaxError(`cannot compile the job's function: ${e.message}`);
    }
    const fn = Object.values(holder)[0];
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
  if (!Array.isArray(def)) throw new Error(`unknown function id ${id}`);
  const [url, name] = /** @type {[string, string]} */ (def);
  /** @type {Record<string, unknown>} */
  let mod;
  try {
    mod = await import(url);
  } catch (e) {
    // Deno reports a denied import as a TypeError; say what it is.
    if (e instanceof TypeError && /^Requires \S+ access/.test(e.message)) {
      throw new Deno.errors.NotCapable(e.message);
    }
    throw e;
  }
  const fn = mod[name];
  if (typeof fn !== "function") {
    throw new TypeError(`export '${name}' of ${url} is not a function`);
  }
  return /** @type {Job} */ (fns[id] = fn);
}

/**
 * What crosses back for a thrown value: `[status, payload]`.
 *
 * @param {unknown} e
 * @returns {[number, unknown]}
 */
function failure(e) {
  if (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)) {
    const err =
      /** @type {{ name?: unknown, message?: unknown, stack?: unknown, code?: unknown }} */ (
        e
      );
    const code = typeof err.code === "string" || typeof err.code === "number"
      ? err.code
      : undefined;
    return [ERROR, {
      name: String(err.name ?? "Error"),
      message: String(err.message ?? ""),
      stack: typeof err.stack === "string" ? err.stack : "",
      code,
    }];
  }
  return [THROWN, e];
}

/**
 * @param {number} seq
 * @param {number} status
 * @param {unknown} value
 */
function reply(seq, status, value) {
  try {
    scope.postMessage([seq, status, value]);
  } catch (e) {
    // The value cannot be cloned (a function, a class instance with private state…).
    const [s, v] = failure(e);
    try {
      scope.postMessage([seq, s, v]);
    } catch {
      scope.postMessage([seq, ERROR, { name: "DataCloneError", message: String(e), stack: "" }]);
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
      queue.splice(0, head);
      head = 0;
    }
    const idx = seq & mask;
    const pending = tag(seq, PENDING);
    // Taken back by the main side (cancelled or moved): skip it.
    if (Atomics.compareExchange(cells, idx, pending, tag(seq, STARTED)) !== pending) continue;
    let status = OK;
    /** @type {unknown} */
    let value;
    try {
      let fn = fns[id];
      if (typeof fn !== "function") fn = await load(id);
      value = /** @type {Job} */ (fn).apply(undefined, args);
      if (isThenable(value)) value = await value;
    } catch (e) {
      [status, value] = failure(e);
    }
    if (closing) break;
    Atomics.store(cells, idx, tag(seq, DONE));
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
  try {
    scope.postMessage([kind, 0, failure(reason)[1]]);
  } catch {
    scope.postMessage([kind, 0, { name: "Error", message: String(reason), stack: "" }]);
  }
}

scope.addEventListener("error", (/** @type {ErrorEvent} */ e) => {
  goingAway(CRASH, e.error instanceof Error ? e.error : new Error(e.message));
});
scope.addEventListener("unhandledrejection", (/** @type {PromiseRejectionEvent} */ e) => {
  goingAway(CRASH, e.reason);
});
const realClose = scope.close;
scope.close = () => {
  goingAway(CLOSING, new Error("the job closed its Worker (close())"));
  realClose.call(scope);
};
const realExit = Deno.exit;
Deno.exit = /** @type {typeof Deno.exit} */ ((/** @type {number | undefined} */ code) => {
  goingAway(CLOSING, new Error(`the job closed its Worker (Deno.exit(${code ?? ""}))`));
  return realExit(code);
});

scope.onmessage = (/** @type {MessageEvent} */ e) => {
  const d = e.data;
  if (!Array.isArray(d)) {
    cells = new Int32Array(/** @type {SharedArrayBuffer} */ (d.cells));
    mask = /** @type {number} */ (d.mask);
    scope.postMessage([READY, 0, null]);
    return;
  }
  const defs = /** @type {unknown[] | null} */ (d[0]);
  if (defs !== null) {
    for (let i = 0; i < defs.length; i += 2) {
      fns[/** @type {number} */ (defs[i])] = defs[i + 1];
    }
  }
  for (let i = 1; i < d.length; i++) queue.push(d[i]);
  if (!draining) drain();
};
