/**
 * `Codec`: the MessagePack encoding of every message between peers, on
 * msgpackr's pure-JavaScript build (no permission, no native addon).
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
 * queued. Object keys named `__proto__` are refused both ways.
 *
 * Decoding treats the bytes as hostile: a pre-scan checks the whole message
 * against the limits and the accepted types before msgpackr builds a value,
 * and any failure is a `ProtocolError`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { addExtension, Packr, RESET_BUFFER_MODE } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import {
  ChannelClosed,
  HotSwap,
  LockNotHeld,
  MailboxFull,
  TaskEnded,
  TaskTerminated,
  TimeoutError,
} from "../core/errors.ts";
import type { Location } from "../core/location.ts";
import { MonitorStatus, type MonitorStatusType } from "../core/monitor_status.ts";
import type { Task } from "../core/task.ts";
import { ConnectionClosed, MessageTooLarge } from "../io/errors.ts";
import { PoolClosed, WorkerCrashed, WorkerJobError } from "../io/pool_errors.ts";
import {
  AuthenticationFailed,
  PeerLost,
  PeerUnreachable,
  ProtocolError,
  RemoteError,
} from "./errors.ts";
import {
  type CodecLimits,
  type ResolvedLimits,
  resolveLimits,
  scanMessage,
  type ScanStack,
  scanStack,
} from "./_codec_limits.ts";
import {
  Box,
  builtinPrototypes,
  byPrototype,
  byUserTag,
  EXT_CHANNEL,
  EXT_ERROR,
  EXT_MAP,
  EXT_MONITOR_STATUS,
  EXT_TASK,
  EXT_USER,
  register,
  type Registration,
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
 * has checked.
 *
 * @example
 * ```ts
 * import { Codec, type CodecContext } from "@denocos/denocos/net";
 *
 * const noRefs: CodecContext = {
 *   isTask: () => false,
 *   isChannel: () => false,
 *   encodeTask: () => { throw new TypeError("no tasks here"); },
 *   decodeTask: (r) => r,
 *   encodeChannel: () => { throw new TypeError("no channels here"); },
 *   decodeChannel: (r) => r,
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

// --- msgpackr ---------------------------------------------------------------

// One packer and one unpacker for the process: msgpackr's state is
// module-wide anyway. Options, each on purpose:
// - useRecords: false: records let the sender define structures that the
//   receiver keeps and compiles (`new Function`); nothing of the kind here.
//   No `structures`, `getStructures` or `saveStructures` either: no state
//   outlives one message, and no structure can come from the wire.
// - moreTypes: true: typed arrays keep their class (ext 0x74), Sets travel as
//   Sets (0x73), bigints beyond 64 bits as ext 0x42.
// - structuredClone: false (default): no identity pointers (0x69/0x70); the
//   encoder refuses cycles, and the pre-scan refuses those types.
// - bundleStrings: false (default): string bundles (0x62) move the read
//   position around; refused by the pre-scan too.
// - useToJSON: false: what a value becomes is decided by the walk below,
//   not by a `toJSON` method somewhere in it.
// - writeFunction throws: the walk never lets a function through; if one
//   ever got here it must not become `undefined` silently.
// - encodeUndefinedAsNil: false (default): `undefined` stays distinct.
// - mapsAsObjects: true: a MessagePack map is a plain object (keys made
//   strings); JS Maps have their own extension so their keys keep their type.
// - copyBuffers: true: decoded binaries never alias the frame buffer, which
//   the link reuses once the message handler returns.
// - int64AsType: "bigint" (default): int64 on the wire can only come from a
//   bigint (numbers are written as int32 or float64), so it decodes as one.
const packr = new Packr({
  useRecords: false,
  moreTypes: true,
  useToJSON: false,
  writeFunction: () => {
    throw new TypeError("codec: a function reached the packer");
  },
});
const unpackr = new Unpackr({
  useRecords: false,
  moreTypes: true,
  mapsAsObjects: true,
  copyBuffers: true,
});
/** msgpackr keeps its (module-wide) output buffer; past this size it gets a small one again. */
const KEEP_BUFFER = 1024 * 1024;

/** The context of the decode in progress, for the extension readers. */
let decoding: CodecContext | undefined;

function context(): CodecContext {
  if (decoding === undefined) {
    throw new TypeError("codec: denocos references decode only through a Codec");
  }
  return decoding;
}

function isLocation(hostname: unknown, port: unknown): boolean {
  return typeof hostname === "string" && Number.isInteger(port) && (port as number) >= 0 &&
    (port as number) <= 65535;
}

function isTaskRecord(p: unknown[]): boolean {
  const [peer, incarnation, id, name, hostname, port] = p;
  return p.length === 6 && typeof peer === "string" && typeof incarnation === "number" &&
    Number.isFinite(incarnation) && Number.isSafeInteger(id) && typeof name === "string" &&
    isLocation(hostname, port);
}

function isChannelRecord(p: unknown[]): boolean {
  const [peer, name, hostname, port] = p;
  return p.length === 4 && typeof peer === "string" && typeof name === "string" &&
    isLocation(hostname, port);
}

function checkTaskRecord(p: unknown[]): TaskRefRecord {
  if (!isTaskRecord(p)) throw new ProtocolError("codec: malformed task reference");
  const [peer, incarnation, id, name, hostname, port] = p as [
    string,
    number,
    number,
    string,
    string,
    number,
  ];
  return { peer, incarnation, id, name, location: { hostname, port } };
}

function checkChannelRecord(p: unknown[]): ChannelRefRecord {
  if (!isChannelRecord(p)) throw new ProtocolError("codec: malformed channel reference");
  const [peer, name, hostname, port] = p as [string, string, string, number];
  return { peer, name, location: { hostname, port } };
}

const MONITOR_TYPES: ReadonlySet<unknown> = new Set<MonitorStatusType>([
  "finished",
  "failed",
  "terminated",
  "unreachable",
]);

/** Error classes that come back as themselves, by their (stable) key. */
const KNOWN_ERRORS: ReadonlyMap<string, abstract new (...args: never[]) => Error> = new Map<
  string,
  abstract new (...args: never[]) => Error
>([
  ["TaskTerminated", TaskTerminated],
  ["HotSwap", HotSwap],
  ["TimeoutError", TimeoutError],
  ["ChannelClosed", ChannelClosed],
  ["TaskEnded", TaskEnded],
  ["LockNotHeld", LockNotHeld],
  ["MailboxFull", MailboxFull],
  ["ConnectionClosed", ConnectionClosed],
  ["MessageTooLarge", MessageTooLarge],
  ["WorkerJobError", WorkerJobError],
  ["WorkerCrashed", WorkerCrashed],
  ["PoolClosed", PoolClosed],
  ["PeerUnreachable", PeerUnreachable],
  ["AuthenticationFailed", AuthenticationFailed],
  ["PeerLost", PeerLost],
  ["RemoteError", RemoteError],
  ["ProtocolError", ProtocolError],
]);
const ERROR_KEYS: ReadonlyMap<object, string> = new Map(
  [...KNOWN_ERRORS].map(([key, Class]) => [Class.prototype, key]),
);
/** Error properties carried in their own slots, not as fields. */
const ERROR_SLOTS: ReadonlySet<string> = new Set(["name", "message", "stack", "cause"]);

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
  const Class = key === "" ? RemoteError : KNOWN_ERRORS.get(key);
  if (Class === undefined) throw new ProtocolError(`codec: unknown error class '${key}'`);
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

// Readers: each gets the payload value msgpackr read after the tag; the
// pre-scan has made sure it is an array.
addExtension({ type: EXT_TASK, read: (p: unknown[]) => context().decodeTask(checkTaskRecord(p)) });
addExtension({
  type: EXT_CHANNEL,
  read: (p: unknown[]) => context().decodeChannel(checkChannelRecord(p)),
});
addExtension({
  type: EXT_MAP,
  read: (p: unknown[]) => {
    if (p.length % 2 !== 0) throw new ProtocolError("codec: malformed Map");
    const map = new Map();
    for (let i = 0; i < p.length; i += 2) map.set(p[i], p[i + 1]);
    return map;
  },
});
addExtension({ type: EXT_ERROR, read: decodeError });
addExtension({
  type: EXT_MONITOR_STATUS,
  read: (p: unknown[]) => {
    if (p.length !== 3 || !MONITOR_TYPES.has(p[1]) || typeof p[0] !== "object" || p[0] === null) {
      throw new ProtocolError("codec: malformed MonitorStatus");
    }
    return new MonitorStatus(p[0] as Task, p[1] as MonitorStatusType, p[2]);
  },
});
addExtension({
  type: EXT_USER,
  read: (p: unknown[]) => {
    const reg = p.length === 2 && typeof p[0] === "number" ? byUserTag.get(p[0]) : undefined;
    if (reg === undefined) {
      throw new ProtocolError(
        p.length === 2
          ? `codec: no message class registered for tag ${p[0]}`
          : "codec: malformed user value",
      );
    }
    return reg.decode(p[1]);
  },
});

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
  }, (reg) => addExtension({ type: reg.tag, read: reg.decode }));
}
export { EXT_PEER_STATUS } from "./_codec_registry.ts";

// --- the walk ---------------------------------------------------------------

const KIND_DATE = 1;
const KIND_MAP = 2;
const KIND_SET = 3;
const KIND_BYTES = 4;
const KIND_MONITOR = 5;
/** Prototypes the walk knows, with how it treats their instances. */
const BUILTIN_KINDS: ReadonlyMap<object, number> = new Map<object, number>([
  [Date.prototype, KIND_DATE],
  [Map.prototype, KIND_MAP],
  [Set.prototype, KIND_SET],
  [ArrayBuffer.prototype, KIND_BYTES],
  [DataView.prototype, KIND_BYTES],
  [Buffer.prototype, KIND_BYTES],
  ...[
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ].map((C) => [C.prototype, KIND_BYTES] as [object, number]),
  [MonitorStatus.prototype, KIND_MONITOR],
]);
for (const proto of BUILTIN_KINDS.keys()) builtinPrototypes.add(proto);
builtinPrototypes.add(Object.prototype);
builtinPrototypes.add(Array.prototype);

const ARRAY_PROTO = Array.prototype;
const OBJECT_PROTO = Object.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
/** msgpackr writes plain objects with a 16-bit key count; larger ones go as a native Map. */
const MAX_FAST_KEYS = 0xffff;

/** How a path step reads, by the kind of container it steps into. */
const STEP_INDEX = 0;
const STEP_KEY = 1;
const STEP_MAP_KEY = 2;
const STEP_MAP_VALUE = 3;
const STEP_SET = 4;
const STEP_PAYLOAD = 5;
const STEP_FIELD = 6;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function describe(value: unknown): string {
  switch (typeof value) {
    case "function":
      return value.name ? `function ${value.name}` : "an anonymous function";
    case "symbol":
      return `symbol ${value.toString()}`;
    case "object": {
      const proto = value === null ? null : getPrototypeOf(value);
      const name = proto?.constructor?.name;
      return typeof name === "string" && name !== ""
        ? `an instance of ${name}`
        : "an object of an unknown class";
    }
    default:
      return `a ${typeof value}`;
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

// The walk checks a value against what the codec carries and the limits,
// and returns what msgpackr is to pack: the value itself or, only where
// something inside needs it, a copy whose references, Maps, errors and
// registered classes are `Box`es. `depth` counts the wire containers around
// a value. It is plain functions over module state, not methods: private
// methods and `Object.hasOwn` measured twice as slow on small frames.

let ctx: CodecContext;
let maxDepth = 0;
let maxString = 0;
let maxArray = 0;
let maxMessage = 0;
let maxBigInt = 0;
/** Values the walk may still visit: shared subtrees can make a value exponentially larger than it looks. */
let budget = 0;
/** The containers and steps on the way to the current value, for error messages. */
const parents: unknown[] = [];
const steps: unknown[] = [];
const stepKinds: number[] = [];
let pathLength = 0;
/** How many `parents` slots hold something. */
let parentsUsed = 0;
/** Where this walk's path starts (a hook may encode something during a walk). */
let pathBase = 0;

const hop = Object.prototype.hasOwnProperty;

function path(upTo = pathLength): string {
  let s = "value";
  for (let i = pathBase; i < upTo; i++) {
    const step = steps[i];
    switch (stepKinds[i]) {
      case STEP_INDEX:
        s += `[${step}]`;
        break;
      case STEP_KEY:
      case STEP_FIELD: {
        const key = String(step);
        s += IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key.slice(0, 40))}]`;
        break;
      }
      case STEP_MAP_KEY:
        s += `.<Map key #${step}>`;
        break;
      case STEP_MAP_VALUE:
        s += `.<Map value #${step}>`;
        break;
      case STEP_SET:
        s += `.<Set member #${step}>`;
        break;
      case STEP_PAYLOAD:
        s += `.<${step} payload>`;
        break;
    }
  }
  return s;
}

function cannot(value: unknown): never {
  let why = "";
  if (typeof value === "object" && value !== null) {
    const C = getPrototypeOf(value)?.constructor;
    // Built-ins (WeakMap, Promise…) cannot be registered usefully; classes can.
    if (typeof C === "function" && (globalThis as Record<string, unknown>)[C.name] !== C) {
      why = " (register its class with registerMessageClass)";
    }
  }
  throw new TypeError(`codec: cannot encode ${describe(value)} at ${path()}${why}`);
}

function tooLarge(what: string): never {
  throw new RangeError(`codec: ${what} at ${path()}`);
}

function tooDeep(value: unknown): never {
  // The first container that repeats on the way down closes a cycle.
  parents[pathLength] = value;
  for (let j = pathBase + 1; j <= pathLength; j++) {
    for (let i = pathBase; i < j; i++) {
      if (parents[i] === parents[j]) {
        throw new TypeError(
          `codec: cannot encode a cyclic value: ${path(j)} refers back to ${path(i)}`,
        );
      }
    }
  }
  tooLarge(`nesting deeper than maxDepth (${maxDepth})`);
}

function enter(parent: unknown, kind: number): number {
  const at = pathLength++;
  if (at >= parentsUsed) parentsUsed = at + 1;
  parents[at] = parent;
  stepKinds[at] = kind;
  return at;
}

function walk(value: unknown, depth: number): unknown {
  if (--budget < 0) tooLarge(`more values than fit in maxMessageSize (${maxMessage})`);
  switch (typeof value) {
    case "number":
    case "boolean":
    case "undefined":
      return value;
    case "string":
      if (value.length * 3 > maxString) checkString(value);
      return value;
    case "object":
      return value === null ? null : walkObject(value, depth);
    case "bigint":
      if (value < INT64_MIN || value > UINT64_MAX) checkBigInt(value);
      return value;
    default: // function, symbol
      cannot(value);
  }
}

function checkString(s: string): void {
  if (s.length > maxString || utf8Length(s) > maxString) {
    tooLarge(`string longer than maxStringLength (${maxString} bytes)`);
  }
}

function checkBigInt(n: bigint): void {
  const bytes = Math.ceil(((n < 0n ? -n : n).toString(16).length + 1) / 2);
  if (bytes > maxBigInt) tooLarge(`bigint larger than maxBigIntBytes (${maxBigInt})`);
}

function checkCount(n: number, what: string): void {
  if (n > maxArray) tooLarge(`${what} of ${n} entries exceeds maxArrayLength (${maxArray})`);
}

function walkObject(value: object, depth: number): unknown {
  // Dates and binaries are leaves on the wire; everything else nests.
  const d = depth + 1;
  const proto = getPrototypeOf(value);
  if (proto === ARRAY_PROTO) {
    if (d > maxDepth) tooDeep(value);
    return walkArray(value as unknown[], d);
  }
  if (proto === OBJECT_PROTO || proto === null) {
    if (d > maxDepth) tooDeep(value);
    return walkPlain(value as Record<string, unknown>, d);
  }
  const kind = BUILTIN_KINDS.get(proto);
  if (kind === KIND_DATE) return value;
  if (kind === KIND_BYTES) {
    if ((value as ArrayBuffer).byteLength > maxMessage) {
      tooLarge(`binary larger than maxMessageSize (${maxMessage})`);
    }
    return value;
  }
  if (d > maxDepth) tooDeep(value);
  switch (kind) {
    case KIND_MAP:
      return walkMap(value as Map<unknown, unknown>, d);
    case KIND_SET:
      return walkSet(value as Set<unknown>, d);
    case KIND_MONITOR:
      return walkMonitor(value as MonitorStatus, d);
  }
  const reg = byPrototype.get(proto);
  if (reg !== undefined) return walkRegistered(reg, value, d);
  if (ctx.isTask(value)) return ref(EXT_TASK, taskPayload(ctx.encodeTask(value)), d);
  if (ctx.isChannel(value)) return ref(EXT_CHANNEL, channelPayload(ctx.encodeChannel(value)), d);
  if (value instanceof Error) return walkError(value, d);
  cannot(value);
}

function walkArray(a: unknown[], d: number): unknown[] {
  const n = a.length;
  if (n > maxArray) checkCount(n, "array");
  const at = enter(a, STEP_INDEX);
  let out: unknown[] | undefined;
  for (let i = 0; i < n; i++) {
    steps[at] = i;
    const x = a[i];
    const y = walk(x, d);
    if (y !== x) (out ??= a.slice())[i] = y;
  }
  pathLength = at;
  return out ?? a;
}

function walkPlain(o: Record<string, unknown>, d: number): unknown {
  const at = enter(o, STEP_KEY);
  let out: Record<string, unknown> | undefined;
  let count = 0;
  for (const key in o) {
    if (!hop.call(o, key)) continue;
    steps[at] = key;
    if (key === "__proto__") {
      throw new TypeError(`codec: cannot encode a "__proto__" key at ${path()}`);
    }
    if (key.length * 3 > maxString) checkString(key);
    count++;
    const x = o[key];
    const y = walk(x, d);
    if (y !== x) (out ??= { ...o })[key] = y;
  }
  pathLength = at;
  if (count > maxArray) checkCount(count, "object");
  // msgpackr's fast object writer has a 16-bit key count; its Map writer
  // does not, and a MessagePack map decodes as a plain object.
  if (count > MAX_FAST_KEYS) return new Map(Object.entries(out ?? o));
  return out ?? o;
}

function walkMap(m: Map<unknown, unknown>, d: number): Box {
  checkCount(m.size, "Map");
  if (d + 1 > maxDepth) tooDeep(m);
  const at = enter(m, STEP_MAP_KEY);
  const flat = new Array(m.size * 2);
  let i = 0;
  for (const [k, v] of m) {
    stepKinds[at] = STEP_MAP_KEY;
    steps[at] = i >> 1;
    flat[i++] = walk(k, d + 1);
    stepKinds[at] = STEP_MAP_VALUE;
    flat[i++] = walk(v, d + 1);
  }
  pathLength = at;
  return new Box(EXT_MAP, flat);
}

function walkSet(s: Set<unknown>, d: number): Set<unknown> {
  checkCount(s.size, "Set");
  if (d + 1 > maxDepth) tooDeep(s);
  const at = enter(s, STEP_SET);
  let out: unknown[] | undefined;
  let i = 0;
  for (const x of s) {
    steps[at] = i;
    const y = walk(x, d + 1);
    if (out !== undefined) out.push(y);
    else if (y !== x) {
      out = [...s].slice(0, i);
      out.push(y);
    }
    i++;
  }
  pathLength = at;
  return out === undefined ? s : new Set(out);
}

function ref(type: number, payload: unknown[], d: number): Box {
  if (d + 1 > maxDepth) tooLarge(`nesting deeper than maxDepth (${maxDepth})`);
  return new Box(type, payload);
}

function walkRegistered(reg: Registration, value: object, d: number): Box {
  const at = enter(value, STEP_PAYLOAD);
  steps[at] = reg.Class.name || "registered class";
  let box: Box;
  if (reg.internal) {
    box = new Box(reg.tag, walk(reg.encode(value as never), d));
  } else {
    // [tag, payload]: one more level.
    if (d + 1 > maxDepth) tooDeep(value);
    box = new Box(EXT_USER, [reg.tag, walk(reg.encode(value as never), d + 1)]);
  }
  pathLength = at;
  return box;
}

/** A walk that reports failure instead of throwing. */
function tryWalk(value: unknown, depth: number): { ok: boolean; value: unknown } {
  const at = pathLength;
  try {
    return { ok: true, value: walk(value, depth) };
  } catch (e) {
    pathLength = at;
    return { ok: false, value: e };
  }
}

function walkMonitor(s: MonitorStatus, d: number): Box {
  // [task, type, value] at d + 1. A return value or error that cannot
  // travel must not keep the watcher from hearing that the task ended: it
  // gets the TypeError instead (a RemoteError naming what failed).
  if (d + 1 > maxDepth) tooDeep(s);
  const at = enter(s, STEP_FIELD);
  steps[at] = "task";
  const task = walk(s.task, d + 1);
  steps[at] = "value";
  let result = tryWalk(s.value, d + 1);
  if (!result.ok) result = tryWalk(result.value, d + 1);
  pathLength = at;
  return new Box(EXT_MONITOR_STATUS, [task, s.type, result.ok ? result.value : null]);
}

function walkError(e: Error, d: number): Box {
  // [key, name, message, stack, fields, hasCause, cause] at d + 1, the
  // fields object at d + 2. Errors travel best effort: a field or cause
  // that cannot is left out, an overlong text is cut.
  if (d + 1 > maxDepth) tooDeep(e);
  const maxText = Math.floor(maxString / 3);
  const text = (s: unknown): string | null =>
    typeof s === "string" ? (s.length > maxText ? s.slice(0, maxText) : s) : null;
  const key = ERROR_KEYS.get(getPrototypeOf(e)) ?? "";
  const at = enter(e, STEP_FIELD);
  let fields: Record<string, unknown> | null = null;
  if (d + 2 <= maxDepth) {
    for (const k in e) {
      if (!hop.call(e, k) || ERROR_SLOTS.has(k) || k === "__proto__") continue;
      steps[at] = k;
      const r = tryWalk((e as unknown as Record<string, unknown>)[k], d + 2);
      if (r.ok) (fields ??= {})[k] = r.value;
    }
  }
  let cause: unknown = undefined;
  let causeOk = false;
  if (hop.call(e, "cause")) {
    steps[at] = "cause";
    const r = tryWalk(e.cause, d + 1);
    if (r.ok) {
      cause = r.value;
      causeOk = true;
    }
  }
  pathLength = at;
  return new Box(EXT_ERROR, [
    key,
    text(e.name) ?? "Error",
    text(e.message) ?? "",
    key === "RemoteError" ? text((e as RemoteError).remoteStack) : text(e.stack),
    fields,
    causeOk,
    cause,
  ]);
}

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
  readonly #stack: ScanStack;

  /**
   * Creates a codec.
   *
   * @param context how task and channel references are made and resolved
   * @param limits what one message may hold (see {@linkcode CodecLimits})
   */
  constructor(context: CodecContext, limits?: CodecLimits) {
    this.#context = context;
    this.#limits = resolveLimits(limits);
    this.#stack = scanStack(this.#limits);
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
    // A hook may encode during a walk (a registered class's encode, a
    // context method): the outer walk's state is kept and restored.
    const outer = pathLength > 0 || budget > 0
      ? [ctx, maxDepth, maxString, maxArray, maxMessage, maxBigInt, budget, pathBase] as const
      : undefined;
    const limits = this.#limits;
    ctx = this.#context;
    maxDepth = limits.maxDepth;
    maxString = limits.maxStringLength;
    maxArray = limits.maxArrayLength;
    maxMessage = limits.maxMessageSize;
    maxBigInt = limits.maxBigIntBytes;
    budget = maxMessage;
    pathBase = pathLength;
    let prepared: unknown;
    try {
      prepared = walk(value, 0);
    } finally {
      pathLength = pathBase;
      if (outer === undefined) {
        budget = 0;
        pathBase = 0;
        // Let what the walk saw be collected.
        for (let i = 0; i < parentsUsed; i++) parents[i] = undefined;
        parentsUsed = 0;
      } else {
        [ctx, maxDepth, maxString, maxArray, maxMessage, maxBigInt, budget, pathBase] = outer;
      }
    }
    const packed: Uint8Array = packr.pack(prepared, RESET_BUFFER_MODE);
    const length = packed.length;
    if (length > KEEP_BUFFER) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
    if (length > limits.maxMessageSize) {
      throw new RangeError(
        `codec: message of ${length} bytes exceeds maxMessageSize (${limits.maxMessageSize})`,
      );
    }
    // A plain view: msgpackr's Buffer has Node's `slice`, which does not copy.
    return new Uint8Array(packed.buffer, packed.byteOffset, length);
  }

  /**
   * Decodes one message. `bytes` must hold exactly one value; it is not kept
   * (binaries in the result are copies).
   */
  decode(bytes: Uint8Array): unknown {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("codec: decode takes a Uint8Array");
    scanMessage(bytes, this.#limits, this.#stack);
    const outer = decoding;
    decoding = this.#context;
    try {
      return unpackr.unpack(bytes);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError(`codec: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    } finally {
      decoding = outer;
    }
  }
}

// Never send what the peer would refuse.
function taskPayload(r: TaskRefRecord): unknown[] {
  const p = [r.peer, r.incarnation, r.id, r.name, r.location?.hostname, r.location?.port];
  if (!isTaskRecord(p)) {
    throw new TypeError("codec: CodecContext.encodeTask returned a malformed record");
  }
  return p;
}

function channelPayload(r: ChannelRefRecord): unknown[] {
  const p = [r.peer, r.name, r.location?.hostname, r.location?.port];
  if (!isChannelRecord(p)) {
    throw new TypeError("codec: CodecContext.encodeChannel returned a malformed record");
  }
  return p;
}
