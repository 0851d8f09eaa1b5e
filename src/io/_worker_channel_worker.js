/**
 * Internal, Worker side of `_worker_channel.ts`: the private port to the
 * host, for a Worker script that will run code it does not trust.
 *
 * A Worker script imports this module first (so it is evaluated before the
 * script's own code, and long before any job), calls `claimChannel` once
 * at its top level, and from then on talks to the host only through the
 * `post` function it gets back, never through the Worker's own
 * `postMessage` (which jobs can use too: the host treats it as noise).
 *
 * Why a job cannot reach the port, assuming it runs after this module was
 * evaluated (it does: jobs arrive through the port):
 * - The port lives in a module-private binding. `claimChannel` works once:
 *   a job that imports this module (same URL, same instance) gets an error.
 * - Everything this module calls on the port, and every builtin it uses,
 *   was captured when it was evaluated (`MessagePort.prototype.postMessage`
 *   bound to `Function.prototype.call`, `Atomics.*`, `Reflect.apply`…), so
 *   overriding a prototype method or a global later changes nothing here.
 * - Messages from the host are read with `receiveMessageOnPort`, never
 *   dispatched as events: constructing and dispatching a `MessageEvent`
 *   reads init-dictionary fields through `Object.prototype`, calls
 *   `target.dispatchEvent` and event getters that a job can replace, and
 *   any of those would hand the job the message or the port. The port is
 *   never started, so it never dispatches anything.
 * - Messages to the host are arrays with a `null` prototype: Deno's
 *   `postMessage` looks up marker symbols on the message, which a job could
 *   otherwise intercept on `Array.prototype` to rewrite it.
 * - `Deno[Deno.internal]` is deleted: its `core` would let a job turn the
 *   port's resource id into a second `MessagePort` object and forge
 *   messages with it.
 *
 * What is not guaranteed: a job shares the Worker's realm with the jobs
 * that run after it there, so by changing globals and prototypes it can
 * change what their code computes (or stall this module's `await`s, which
 * only stops this Worker). Isolation between jobs needs a Worker per job.
 *
 * @module
 */

import { receiveMessageOnPort } from "node:worker_threads";

// --- builtins, captured before any job can replace them ---
const FunctionPrototypeCall = Function.prototype.call;
const ReflectApply = Reflect.apply;
/**
 * `fn` as a function taking its receiver first, immune to later changes
 * of `Function.prototype.call` / `.bind`.
 *
 * @template {(...args: any[]) => any} F
 * @param {F} fn
 * @returns {(self: unknown, ...args: unknown[]) => ReturnType<F>}
 */
function uncurryThis(fn) {
  return ReflectApply(Function.prototype.bind, FunctionPrototypeCall, [fn]);
}
const PortPostMessage = uncurryThis(MessagePort.prototype.postMessage);
const EventTargetAddEventListener = uncurryThis(EventTarget.prototype.addEventListener);
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ObjectPrototypeIsPrototypeOf = uncurryThis(Object.prototype.isPrototypeOf);
const MessagePortPrototype = MessagePort.prototype;
const AtomicsLoad = Atomics.load;
const AtomicsWaitAsync = Atomics.waitAsync;
const SharedArrayBufferCtor = SharedArrayBuffer;
const Int32ArrayCtor = Int32Array;
const ErrorCtor = Error;
const receive = receiveMessageOnPort;
const global = globalThis;

// Deno's internals object carries a `core` that reaches resources by id.
try {
  const deno = /** @type {Record<symbol, unknown> & { internal: symbol }} */ (
    /** @type {unknown} */ (Deno)
  );
  delete deno[deno.internal];
} catch {
  // Not configurable in some future Deno: nothing to do from here.
}

/** @type {MessagePort | null} */
let port = null;
/** @type {Int32Array | null} */
let bell = null;
let claimed = false;
/** @type {((message: unknown) => void) | null} */
let onMessage = null;
/** @type {((init: unknown) => void) | null} */
let onOpen = null;

/**
 * The Worker script's half of the channel.
 *
 * @typedef {object} ChannelCallbacks
 * @property {(init: unknown) => void} open called once, with the host's init payload, when the port has arrived
 * @property {(message: unknown) => void} message called with each message from the host, in order
 */

/**
 * Claims this Worker's private channel to the host; works once per Worker.
 * Returns the function that posts a message to the host: an array (its
 * prototype is set to `null`; reuse it freely once `post` has returned).
 *
 * @param {ChannelCallbacks} callbacks
 * @returns {(message: unknown[]) => void}
 */
export function claimChannel(callbacks) {
  if (claimed) throw new ErrorCtor("this Worker's channel is already claimed");
  claimed = true;
  onOpen = callbacks.open;
  onMessage = callbacks.message;
  return post;
}

/** @param {unknown[]} message */
function post(message) {
  if (port === null) throw new ErrorCtor("the channel is not open yet");
  ObjectSetPrototypeOf(message, null);
  PortPostMessage(port, message);
}

/** Reads every message waiting on the port, then waits for the doorbell. */
async function pump() {
  const p = /** @type {MessagePort} */ (port);
  const b = /** @type {Int32Array} */ (bell);
  const deliver = /** @type {(message: unknown) => void} */ (onMessage);
  for (;;) {
    const rung = AtomicsLoad(b, 0);
    for (;;) {
      const r = receive(p);
      if (r === undefined) break;
      deliver(/** @type {{ message: unknown }} */ (r).message);
    }
    const w = AtomicsWaitAsync(b, 0, rung);
    if (w.async) await w.value;
  }
}

// The host's first message, on the Worker's own channel, brings the port.
// It arrives before any job can exist, so reading it as an event is safe;
// every later message on this channel is ignored.
EventTargetAddEventListener(global, "message", (/** @type {MessageEvent} */ e) => {
  if (port !== null) return;
  const d = /** @type {{ port?: unknown, bell?: unknown, init?: unknown }} */ (e.data);
  if (
    d === null || typeof d !== "object" ||
    !ObjectPrototypeIsPrototypeOf(MessagePortPrototype, d.port) ||
    !(d.bell instanceof SharedArrayBufferCtor) || onOpen === null
  ) {
    throw new ErrorCtor("the Worker's channel did not start: unexpected first message");
  }
  port = /** @type {MessagePort} */ (d.port);
  bell = new Int32ArrayCtor(d.bell);
  // Reading once now also gives the port the own property Deno's
  // `receiveMessageOnPort` sets on it, so no setter on a prototype ever
  // sees the port later.
  const first = receive(port);
  onOpen(d.init);
  if (first !== undefined) /** @type {(m: unknown) => void} */ (onMessage)(first.message);
  pump();
});
