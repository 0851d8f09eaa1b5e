/**
 * `Codec`: the MessagePack encoding of every message between peers. The
 * bytes are written by the codec's own encoder (one walk that checks a value
 * and writes it) and read by its own decoder (one pass that checks the bytes
 * and builds the value), in the forms msgpackr reads and writes: its
 * undefined, Set, typed-array, bigint and timestamp extensions, plus
 * denocos's own. Neither needs a permission.
 *
 * What travels, and what comes back:
 *
 * | value | arrives as |
 * |---|---|
 * | `null`, booleans, numbers, strings, `bigint` | the same (a `bigint` stays a `bigint`, a number a number) |
 * | `undefined` (also inside arrays and objects) | `undefined`, not `null` |
 * | arrays, plain objects (own enumerable string keys; `null` prototype too) | arrays, plain objects |
 * | `Map` (any keys), `Set`, `Date` | the same class |
 * | `Uint8Array` and the other typed arrays, `ArrayBuffer`, `DataView` | the same class, a copy |
 * | a task or a channel (`CodecContext.isTask` / `isChannel`) | what `decodeTask` / `decodeChannel` returns |
 * | core `MonitorStatus` | `MonitorStatus` (its `task` a reference) |
 * | a denocos error (core, I/O and network error classes) | its class, with message, stack and fields |
 * | `Error`, `TypeError`, `RangeError`, … and `Deno.errors.*` | the same class, with message and stack |
 * | any other `Error` | `RemoteError` with the original `name`, `message` and `remoteStack` |
 * | an instance of a class given to {@linkcode registerMessageClass} | what its `decode` returns |
 *
 * Anything else cannot be carried and makes `encode` throw a `TypeError`
 * that names it and where it sits (`value.jobs[3].done`), as
 * `structuredClone` does: functions, symbols, `WeakMap`, `Promise`, and
 * instances of classes that are not registered. Unlike `structuredClone`,
 * the codec does not quietly turn a class instance into a plain object: it
 * would arrive without its methods, which location transparency would hide
 * until much later. A cyclic value is a `TypeError` too (MessagePack has no
 * references; a value seen twice without a cycle is sent twice), and a value
 * past the {@linkcode CodecLimits} a `RangeError`, both before anything is
 * queued. Object keys named `__proto__` are refused both ways. Getters run
 * once; symbol keys and non-enumerable properties are not sent (as with
 * `structuredClone`); `-0` stays `-0`.
 *
 * Decoding treats the bytes as hostile: every length is checked against the
 * limits and the bytes left before anything is allocated, nesting is bounded
 * by `maxDepth`, only the types above are accepted, and any failure is a
 * `ProtocolError`.
 *
 * @module
 */
import type { Location } from "../core/location.ts";
import { MonitorStatus, type MonitorStatusType } from "../core/monitor_status.ts";
import type { Task } from "../core/task.ts";
import { ProtocolError, RemoteError } from "./errors.ts";
import { decodeValue, extensionReaders } from "./_codec_decode.ts";
import { encodeValue } from "./_codec_encode.ts";
import { type CodecLimits, type ResolvedLimits, resolveLimits } from "./_codec_limits.ts";
import {
  byUserTag,
  type ErrorClass,
  EXT_ERROR,
  EXT_MAP,
  EXT_MONITOR_STATUS,
  EXT_USER,
  KNOWN_ERRORS,
  register,
  registerError,
  USER_TAG_MAX,
  USER_TAG_MIN,
} from "./_codec_registry.ts";

export { type CodecLimits, DEFAULT_CODEC_LIMITS } from "./_codec_limits.ts";

/**
 * What names a task on the wire: the peer and scheduler incarnation it lives
 * in, its id there, its name and where the peer listens.
 *
 * @example
 * ```ts
 * import type { TaskRefRecord } from "@denocos/denocos/net";
 *
 * const ref: TaskRefRecord = {
 *   peer: "p-1", incarnation: 1, id: 7, name: "server_task",
 *   location: { hostname: "127.0.0.1", port: 9705 },
 * };
 * console.log(ref.name); // "server_task"
 * ```
 */
export interface TaskRefRecord {
  /** The id of the peer the task lives on. */
  peer: string;
  /** That peer's scheduler incarnation (a restarted peer has a new one). */
  incarnation: number;
  /** The task's id in that scheduler. */
  id: number;
  /** The task's name. */
  name: string;
  /** Where the peer listens. */
  location: Location;
}

/**
 * What names a channel on the wire.
 *
 * @example
 * ```ts
 * import type { ChannelRefRecord } from "@denocos/denocos/net";
 *
 * const ref: ChannelRefRecord = {
 *   peer: "p-1", name: "news", location: { hostname: "127.0.0.1", port: 9705 },
 * };
 * console.log(ref.name); // "news"
 * ```
 */
export interface ChannelRefRecord {
  /** The id of the peer the channel lives on. */
  peer: string;
  /** The channel's name. */
  name: string;
  /** Where the peer listens. */
  location: Location;
}

/**
 * How the codec turns task and channel objects into references and back;
 * the API layer supplies it. `isTask` / `isChannel` are asked about class
 * instances only (never about arrays, plain objects or the built-in types),
 * `decodeTask` / `decodeChannel` receive records whose field types the codec
 * has checked. The records are reused from one reference to the next:
 * copy what you keep (the `location` object too).
 *
 * @example
 * ```ts
 * import { Codec, type CodecContext } from "@denocos/denocos/net";
 *
 * const noRefs: CodecContext = {
 *   isTask: () => false,
 *   isChannel: () => false,
 *   encodeTask: () => { throw new TypeError("no tasks here"); },
 *   decodeTask: (r) => ({ ...r }),
 *   encodeChannel: () => { throw new TypeError("no channels here"); },
 *   decodeChannel: (r) => ({ ...r }),
 * };
 * const codec = new Codec(noRefs);
 * console.log(codec.decode(codec.encode({ hello: "world" }))); // { hello: "world" }
 * ```
 */
export interface CodecContext {
  /** The record naming `task` (a core `Task` or a `RemoteTask`). */
  encodeTask(task: object): TaskRefRecord;
  /** The object a received task reference stands for. */
  decodeTask(record: TaskRefRecord): unknown;
  /** The record naming `channel`. */
  encodeChannel(channel: object): ChannelRefRecord;
  /** The object a received channel reference stands for. */
  decodeChannel(record: ChannelRefRecord): unknown;
  /** Whether `value` travels as a task reference. */
  isTask(value: unknown): boolean;
  /** Whether `value` travels as a channel reference. */
  isChannel(value: unknown): boolean;
}

/**
 * How instances of a registered class travel: `encode` returns a value the
 * codec can carry (it is encoded like any other, so it may hold references,
 * Maps, other registered classes…), `decode` rebuilds the instance from it.
 * `decode` gets what a peer sent: check it.
 *
 * @example
 * ```ts
 * import type { MessageClassHandlers } from "@denocos/denocos/net";
 *
 * class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 * }
 * const handlers: MessageClassHandlers<Point, [number, number]> = {
 *   encode: (p) => [p.x, p.y],
 *   decode: ([x, y]) => new Point(Number(x), Number(y)),
 * };
 * console.log(handlers.encode(new Point(1, 2))); // [1, 2]
 * ```
 */
export interface MessageClassHandlers<T, P = unknown> {
  /** The payload that stands for `value` on the wire. */
  encode(value: T): P;
  /** The instance a received payload stands for. */
  decode(payload: P): T;
}

/**
 * Registers a user class with the codec of this process: its instances are
 * sent as `encode(value)` under `tag` and rebuilt with `decode` by a peer
 * that registered the same tag (a message with a tag the receiver does not
 * know fails to decode with `ProtocolError`). Tags are integers from 1 to
 * 65535, one class each; exactly that class is matched, not its
 * subclasses. A tag or class registered twice, or a class the codec encodes
 * itself (`Map`, `Date`, typed arrays, …), is a `TypeError`; a tag out of
 * range a `RangeError`.
 *
 * @example
 * ```ts
 * import { Codec, type CodecContext, registerMessageClass } from "@denocos/denocos/net";
 *
 * class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 * }
 * registerMessageClass(100, Point, {
 *   encode: (p) => [p.x, p.y],
 *   decode: (payload) => {
 *     const [x, y] = payload as unknown[];
 *     if (typeof x !== "number" || typeof y !== "number") throw new TypeError("bad Point");
 *     return new Point(x, y);
 *   },
 * });
 * const context = {
 *   isTask: () => false, isChannel: () => false,
 * } as unknown as CodecContext;
 * const codec = new Codec(context);
 * console.log(codec.decode(codec.encode(new Point(1, 2))) instanceof Point); // true
 * ```
 */
export function registerMessageClass<T extends object, P = unknown>(
  tag: number,
  // deno-lint-ignore no-explicit-any
  Class: abstract new (...args: any[]) => T,
  handlers: MessageClassHandlers<T, P>,
): void {
  if (!Number.isInteger(tag) || tag < USER_TAG_MIN || tag > USER_TAG_MAX) {
    throw new RangeError(
      `registerMessageClass: tag must be an integer from ${USER_TAG_MIN} to ${USER_TAG_MAX}, got ${tag}`,
    );
  }
  register({
    tag,
    internal: false,
    Class,
    encode: handlers?.encode as (value: never) => unknown,
    decode: handlers?.decode as (payload: unknown) => unknown,
  }, () => {});
}

/**
 * Makes errors of `Class` travel as themselves: a peer that registered the
 * same `key` rebuilds them with `Class`'s prototype (so `instanceof` works),
 * with `name`, `message`, `stack`, own fields and `cause`, without running
 * the constructor. Without it they arrive as `RemoteError`, and so they do at
 * a peer that has not registered `key`. Exactly that class is matched, not
 * its subclasses. `key` is a name of 1 to 256 characters, stable across
 * versions (prefix it with your package's name); a key or class registered
 * twice is a `TypeError`, as is a class that does not extend `Error`.
 *
 * @example
 * ```ts
 * import { Codec, type CodecContext, registerErrorClass } from "@denocos/denocos/net";
 *
 * class OutOfStock extends Error {
 *   constructor(readonly item: string) {
 *     super(`no ${item} left`);
 *     this.name = "OutOfStock";
 *   }
 * }
 * registerErrorClass("shop.OutOfStock", OutOfStock);
 * const context = { isTask: () => false, isChannel: () => false } as unknown as CodecContext;
 * const codec = new Codec(context);
 * const back = codec.decode(codec.encode(new OutOfStock("tea"))) as OutOfStock;
 * console.log(back instanceof OutOfStock, back.item); // true "tea"
 * ```
 */
export function registerErrorClass(
  key: string,
  // deno-lint-ignore no-explicit-any
  Class: abstract new (...args: any[]) => Error,
): void {
  if (typeof key !== "string" || key.length === 0 || key.length > 256) {
    throw new TypeError("registerErrorClass: key must be a string of 1 to 256 characters");
  }
  registerError(key, Class as ErrorClass);
}

// --- extension readers ------------------------------------------------------
//
// The decoder (./_codec_decode.ts) reads references itself; the other
// wrapping types get their payload, which it has checked is an array.

const MONITOR_TYPES: ReadonlySet<unknown> = new Set<MonitorStatusType>([
  "finished",
  "failed",
  "terminated",
  "unreachable",
]);

function defineField(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

function decodeError(p: unknown[]): Error {
  const [key, name, message, stack, fields, hasCause, cause] = p;
  if (
    p.length !== 7 || typeof key !== "string" || typeof name !== "string" ||
    typeof message !== "string" || (stack !== null && typeof stack !== "string") ||
    (fields !== null && (typeof fields !== "object" || Array.isArray(fields))) ||
    typeof hasCause !== "boolean"
  ) throw new ProtocolError("codec: malformed error");
  // A key this side has not registered (a newer peer's, an application's
  // error class) is what RemoteError is for; it must not fail the link.
  const Class = key === "" ? RemoteError : KNOWN_ERRORS.get(key) ?? RemoteError;
  // Built as an Error with the class's prototype, without running its
  // constructor (whose parameters differ from class to class).
  const error = Reflect.construct(Error, [message], Class) as Error;
  defineField(error, "name", name);
  if (Class === RemoteError) {
    defineField(error, "remoteName", name);
    defineField(error, "remoteStack", stack ?? "");
  } else if (stack !== null) {
    // As structuredClone: the stack is where the error was made.
    Object.defineProperty(error, "stack", { value: stack, writable: true, configurable: true });
  }
  if (hasCause) {
    Object.defineProperty(error, "cause", { value: cause, writable: true, configurable: true });
  }
  if (fields !== null) {
    for (const [k, v] of Object.entries(fields as object)) {
      // Never shadow what the class or Error defines (`toString`, `message`…).
      if (!(k in error)) defineField(error, k, v);
    }
  }
  return error;
}

extensionReaders[EXT_MAP] = (payload) => {
  const p = payload as unknown[];
  if (p.length % 2 !== 0) throw new ProtocolError("codec: malformed Map");
  const map = new Map();
  for (let i = 0; i < p.length; i += 2) map.set(p[i], p[i + 1]);
  return map;
};
extensionReaders[EXT_ERROR] = (p) => decodeError(p as unknown[]);
extensionReaders[EXT_MONITOR_STATUS] = (payload) => {
  const p = payload as unknown[];
  if (p.length !== 3 || !MONITOR_TYPES.has(p[1]) || typeof p[0] !== "object" || p[0] === null) {
    throw new ProtocolError("codec: malformed MonitorStatus");
  }
  return new MonitorStatus(p[0] as Task, p[1] as MonitorStatusType, p[2]);
};
extensionReaders[EXT_USER] = (payload) => {
  const p = payload as unknown[];
  const reg = p.length === 2 && typeof p[0] === "number" ? byUserTag.get(p[0]) : undefined;
  if (reg === undefined) {
    throw new ProtocolError(
      p.length === 2
        ? `codec: no message class registered for tag ${p[0]}`
        : "codec: malformed user value",
    );
  }
  return reg.decode(p[1]);
};

/**
 * For the API layer: registers a denocos class under its own extension type
 * (`EXT_PEER_STATUS` = 6 for `PeerStatus`, 7–29 free), encoded like a user
 * class but without the user tag.
 *
 * @example
 * ```ts ignore
 * registerInternalClass(EXT_PEER_STATUS, PeerStatus, {
 *   encode: (s) => [s.peer.id, s.peer.name, s.peer.location, s.status],
 *   decode: (p) => new PeerStatus(...checked(p)),
 * });
 * ```
 */
export function registerInternalClass<T extends object, P = unknown>(
  type: number,
  // deno-lint-ignore no-explicit-any
  Class: abstract new (...args: any[]) => T,
  handlers: MessageClassHandlers<T, P>,
): void {
  if (!Number.isInteger(type) || type < 0x06 || type > 0x1d) {
    throw new RangeError(`registerInternalClass: type must be from 6 to 29, got ${type}`);
  }
  register({
    tag: type,
    internal: true,
    Class,
    encode: handlers?.encode as (value: never) => unknown,
    decode: handlers?.decode as (payload: unknown) => unknown,
  }, (reg) => extensionReaders[reg.tag] = reg.decode);
}
export { EXT_PEER_STATUS } from "./_codec_registry.ts";

/**
 * Encodes messages to MessagePack bytes and decodes them, with the
 * extension types listed in the module documentation. `encode` throws
 * `TypeError` for a value that cannot travel and `RangeError` for one past
 * the limits; `decode` throws `ProtocolError` for any input it refuses, and
 * never recurses or allocates beyond the limits whatever the input.
 *
 * @example
 * ```ts
 * import { Codec, type CodecContext } from "@denocos/denocos/net";
 *
 * const context = { isTask: () => false, isChannel: () => false } as unknown as CodecContext;
 * const codec = new Codec(context, { maxDepth: 16 });
 * const bytes = codec.encode([1, new Map([[1, "one"]]), new Set([2n]), undefined]);
 * console.log(codec.decode(bytes)); // [ 1, Map(1) { 1 => "one" }, Set(1) { 2n }, undefined ]
 * try {
 *   codec.encode({ jobs: [{ done: () => {} }] });
 * } catch (e) {
 *   console.log((e as TypeError).message); // codec: cannot encode function done at value.jobs[0].done
 * }
 * ```
 */
export class Codec {
  readonly #context: CodecContext;
  readonly #limits: ResolvedLimits;

  /**
   * Creates a codec.
   *
   * @param context how task and channel references are made and resolved
   * @param limits what one message may hold (see {@linkcode CodecLimits})
   */
  constructor(context: CodecContext, limits?: CodecLimits) {
    this.#context = context;
    this.#limits = resolveLimits(limits);
  }

  /** The limits in force, defaults filled in. */
  get limits(): Readonly<Required<CodecLimits>> {
    return this.#limits;
  }

  /**
   * Encodes `value`. The bytes are a view of a buffer that the next `encode`
   * (of any codec in this thread) overwrites: copy or send them before that.
   */
  encode(value: unknown): Uint8Array {
    return encodeValue(value, this.#context, this.#limits);
  }

  /**
   * Decodes one message. `bytes` must hold exactly one value; it is not kept
   * (binaries in the result are copies).
   */
  decode(bytes: Uint8Array): unknown {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("codec: decode takes a Uint8Array");
    try {
      return decodeValue(bytes, this.#context, this.#limits);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError(`codec: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}
