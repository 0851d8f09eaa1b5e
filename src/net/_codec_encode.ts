/**
 * The codec's encoder: one walk over a value that checks it against what the
 * codec carries and the limits, and writes its MessagePack bytes as it goes,
 * in the forms msgpackr reads and the codec's decoder (./_codec_decode.ts)
 * accepts.
 *
 * Why not msgpackr's packer: a value has to be walked anyway, to find task
 * and channel references (the context decides, not the class), Maps (which
 * msgpackr writes as plain maps, before any extension hook), unregistered
 * classes (which it would write as plain objects), cycles and the limits,
 * and to name the path of whatever cannot travel. Walking first and packing
 * after measured 0.5× msgpackr alone on small frames; one walk that writes
 * is as fast as msgpackr alone.
 *
 * It is plain functions over module state, not methods: private methods and
 * `Object.hasOwn` measured twice as slow on small frames.
 *
 * @module
 */
import { MonitorStatus } from "../core/monitor_status.ts";
import type { ChannelRefRecord, CodecContext, TaskRefRecord } from "./codec.ts";
import type { RemoteError } from "./errors.ts";
import {
  type ResolvedLimits,
  TYPED_ARRAY_CLASSES,
  TYPED_CODE_ARRAY_BUFFER,
  TYPED_CODE_DATA_VIEW,
} from "./_codec_limits.ts";
import {
  builtinPrototypes,
  byPrototype,
  ERROR_KEYS,
  EXT_CHANNEL,
  EXT_ERROR,
  EXT_MAP,
  EXT_MONITOR_STATUS,
  EXT_TASK,
  EXT_USER,
  isChannelRecord,
  type Registration,
} from "./_codec_registry.ts";

const KIND_DATE = 1;
const KIND_MAP = 2;
const KIND_SET = 3;
const KIND_TYPED = 4;
const KIND_BIN = 5;
const KIND_MONITOR = 6;
/** Prototypes the walk knows, with how it treats their instances. */
const BUILTIN_KINDS: ReadonlyMap<object, number> = new Map<object, number>([
  [Date.prototype, KIND_DATE],
  [Map.prototype, KIND_MAP],
  [Set.prototype, KIND_SET],
  [Uint8Array.prototype, KIND_BIN],
  [ArrayBuffer.prototype, KIND_TYPED],
  [DataView.prototype, KIND_TYPED],
  // Uint8Array is binary (above); the other typed arrays carry their class.
  ...TYPED_ARRAY_CLASSES.filter((C) => C !== Uint8Array)
    .map((C) => [C.prototype, KIND_TYPED] as [object, number]),
  [MonitorStatus.prototype, KIND_MONITOR],
]);
/** msgpackr's typed-array codes (ext 0x74), by prototype. */
const TYPED_CODES: ReadonlyMap<object, number> = new Map<object, number>([
  ...TYPED_ARRAY_CLASSES.map((C, code) => [C.prototype, code] as [object, number]),
  [ArrayBuffer.prototype, TYPED_CODE_ARRAY_BUFFER],
  [DataView.prototype, TYPED_CODE_DATA_VIEW],
]);

// A class the encoder handles itself cannot be registered.
for (const proto of [...BUILTIN_KINDS.keys(), Object.prototype, Array.prototype]) {
  builtinPrototypes.add(proto);
}

const ARRAY_PROTO = Array.prototype;
const OBJECT_PROTO = Object.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const hop = Object.prototype.hasOwnProperty;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** Past this size the output buffer is dropped after the message, not kept. */
const KEEP_BUFFER = 1024 * 1024;
/** Error properties carried in their own slots, not as fields. */
const ERROR_FIELDS = new Set(["name", "message", "stack", "cause"]);

/** How a path step reads, by the kind of container it steps into. */
const STEP_INDEX = 0;
const STEP_KEY = 1;
const STEP_MAP_KEY = 2;
const STEP_MAP_VALUE = 3;
const STEP_SET = 4;
const STEP_PAYLOAD = 5;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const textEncoder = new TextEncoder();

// --- state of the encode in progress ----------------------------------------

let out = new Uint8Array(8192);
let view = new DataView(out.buffer);
let pos = 0;
let ctx: CodecContext;
let maxDepth = 0;
let maxString = 0;
let maxArray = 0;
let maxMessage = 0;
let maxBigInt = 0;
/** Values the walk may still visit: shared subtrees can make a value exponentially larger than it looks. */
let budget = 0;
let busy = false;
/** The containers and steps on the way to the current value, for error messages. */
const parents: unknown[] = [];
const steps: unknown[] = [];
const stepKinds: number[] = [];
let pathLength = 0;
/** How many `parents` slots hold something. */
let parentsUsed = 0;

/**
 * Encodes `value` into the shared output buffer and returns a view of it,
 * valid until the next encode. Throws `TypeError` for what cannot travel and
 * `RangeError` past `limits`; then nothing is returned at all.
 */
export function encodeValue(
  value: unknown,
  context: CodecContext,
  limits: ResolvedLimits,
): Uint8Array {
  // A hook may encode something during a walk (a registered class's encode,
  // a context method): that encode gets a buffer and state of its own.
  if (busy) return nested(value, context, limits);
  busy = true;
  ctx = context;
  maxDepth = limits.maxDepth;
  maxString = limits.maxStringLength;
  maxArray = limits.maxArrayLength;
  maxMessage = limits.maxMessageSize;
  maxBigInt = limits.maxBigIntBytes;
  budget = maxMessage;
  pos = 0;
  pathLength = 0;
  try {
    write(value, 0);
    if (pos > maxMessage) {
      throw new RangeError(`codec: message of ${pos} bytes exceeds maxMessageSize (${maxMessage})`);
    }
    return out.subarray(0, pos);
  } finally {
    busy = false;
    // A large buffer is not kept (the view returned, if any, still holds it).
    if (out.length > KEEP_BUFFER) {
      out = new Uint8Array(8192);
      view = new DataView(out.buffer);
    }
    // Let what the walk saw be collected.
    for (let i = 0; i < parentsUsed; i++) parents[i] = undefined;
    parentsUsed = 0;
  }
}

function nested(value: unknown, context: CodecContext, limits: ResolvedLimits): Uint8Array {
  const saved = [
    out,
    view,
    pos,
    ctx,
    maxDepth,
    maxString,
    maxArray,
    maxMessage,
    maxBigInt,
    budget,
  ] as const;
  const savedPath = pathLength;
  const savedParents = parents.slice(0, parentsUsed);
  const savedSteps = steps.slice(0, pathLength);
  const savedKinds = stepKinds.slice(0, pathLength);
  out = new Uint8Array(256);
  view = new DataView(out.buffer);
  busy = false;
  try {
    return encodeValue(value, context, limits);
  } finally {
    busy = true;
    [out, view, pos, ctx, maxDepth, maxString, maxArray, maxMessage, maxBigInt, budget] = saved;
    pathLength = savedPath;
    parentsUsed = savedParents.length;
    for (let i = 0; i < savedParents.length; i++) parents[i] = savedParents[i];
    for (let i = 0; i < savedPath; i++) {
      steps[i] = savedSteps[i];
      stepKinds[i] = savedKinds[i];
    }
  }
}

// --- the output buffer --------------------------------------------------------

function ensure(n: number): void {
  if (pos + n > out.length) grow(pos + n);
}

function grow(need: number): void {
  // Never grow for a message that will be refused anyway.
  if (need > maxMessage + 16) tooLarge(`message larger than maxMessageSize (${maxMessage})`);
  let size = out.length * 2;
  while (size < need) size *= 2;
  const next = new Uint8Array(size);
  next.set(out.subarray(0, pos));
  out = next;
  view = new DataView(next.buffer);
}

function writeArrayHeader(n: number): void {
  ensure(5);
  if (n < 16) out[pos++] = 0x90 | n;
  else if (n < 0x10000) {
    out[pos++] = 0xdc;
    out[pos++] = n >> 8;
    out[pos++] = n & 0xff;
  } else {
    out[pos++] = 0xdd;
    view.setUint32(pos, n);
    pos += 4;
  }
}

/** `fixext 1` tag for the value written next. */
function writeTag(type: number): void {
  ensure(3);
  out[pos++] = 0xd4;
  out[pos++] = type;
  out[pos++] = 0;
}

/** An ext header for `length` bytes of data of `type`. */
function writeExtHeader(type: number, length: number): void {
  ensure(6 + length);
  if (length < 0x100) {
    out[pos++] = 0xc7;
    out[pos++] = length;
  } else if (length < 0x10000) {
    out[pos++] = 0xc8;
    out[pos++] = length >> 8;
    out[pos++] = length & 0xff;
  } else {
    out[pos++] = 0xc9;
    view.setUint32(pos, length);
    pos += 4;
  }
  out[pos++] = type;
}

function writeNumber(n: number): void {
  ensure(9);
  if (n >>> 0 === n && (n !== 0 || 1 / n > 0)) {
    if (n < 0x80) out[pos++] = n;
    else if (n < 0x100) {
      out[pos++] = 0xcc;
      out[pos++] = n;
    } else if (n < 0x10000) {
      out[pos++] = 0xcd;
      out[pos++] = n >> 8;
      out[pos++] = n & 0xff;
    } else {
      out[pos++] = 0xce;
      view.setUint32(pos, n);
      pos += 4;
    }
  } else if (n >> 0 === n && n !== 0) {
    if (n >= -32) out[pos++] = n & 0xff;
    else if (n >= -128) {
      out[pos++] = 0xd0;
      out[pos++] = n & 0xff;
    } else if (n >= -32768) {
      out[pos++] = 0xd1;
      view.setInt16(pos, n);
      pos += 2;
    } else {
      out[pos++] = 0xd2;
      view.setInt32(pos, n);
      pos += 4;
    }
  } else {
    // Fractions, big integers, NaN, infinities and -0 (kept, unlike msgpackr).
    out[pos++] = 0xcb;
    view.setFloat64(pos, n);
    pos += 8;
  }
}

function writeString(s: string): void {
  const length = s.length;
  if (length * 3 > maxString) checkString(s);
  // The header is sized for the string's length in UTF-16 units; a string
  // whose UTF-8 form needs a larger one is moved up after encoding.
  const guess = length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  // A long string that may not fit is measured first, so that the buffer
  // grows to what it takes, not to three bytes a unit.
  ensure(
    guess + 4 + (length > 0x10000 && pos + length * 3 > out.length ? utf8Length(s) : length * 3),
  );
  const start = pos + guess;
  let end: number;
  if (length < 64) {
    end = start;
    for (let i = 0; i < length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) out[end++] = c;
      else if (c < 0x800) {
        out[end++] = 0xc0 | (c >> 6);
        out[end++] = 0x80 | (c & 0x3f);
      } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
        out[end++] = 0xf0 | (c >> 18);
        out[end++] = 0x80 | ((c >> 12) & 0x3f);
        out[end++] = 0x80 | ((c >> 6) & 0x3f);
        out[end++] = 0x80 | (c & 0x3f);
      } else {
        if ((c & 0xf800) === 0xd800) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
        out[end++] = 0xe0 | (c >> 12);
        out[end++] = 0x80 | ((c >> 6) & 0x3f);
        out[end++] = 0x80 | (c & 0x3f);
      }
    }
  } else {
    end = start + textEncoder.encodeInto(s, out.subarray(start)).written;
  }
  const n = end - start;
  if (n > maxString) tooLarge(`string longer than maxStringLength (${maxString} bytes)`);
  const header = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  if (header !== guess) out.copyWithin(pos + header, start, end);
  if (header === 1) out[pos] = 0xa0 | n;
  else if (header === 2) {
    out[pos] = 0xd9;
    out[pos + 1] = n;
  } else if (header === 3) {
    out[pos] = 0xda;
    out[pos + 1] = n >> 8;
    out[pos + 2] = n & 0xff;
  } else {
    out[pos] = 0xdb;
    view.setUint32(pos + 1, n);
  }
  pos += header + n;
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

function writeBigInt(n: bigint): void {
  ensure(9);
  if (n >= INT64_MIN && n <= INT64_MAX) {
    out[pos++] = 0xd3;
    view.setBigInt64(pos, n);
    pos += 8;
    return;
  }
  if (n > 0n && n <= UINT64_MAX) {
    out[pos++] = 0xcf;
    view.setBigUint64(pos, n);
    pos += 8;
    return;
  }
  // Beyond 64 bits: ext 0x42, two's complement big-endian in as few bytes
  // as hold the sign bit.
  const magnitude = n < 0n ? -n - 1n : n;
  const bytes = Math.floor((magnitude.toString(16).length * 4) / 8) + 1;
  if (bytes > maxBigInt) tooLarge(`bigint larger than maxBigIntBytes (${maxBigInt})`);
  const hex = (n < 0n ? (1n << BigInt(bytes * 8)) + n : n).toString(16).padStart(bytes * 2, "0");
  writeExtHeader(0x42, bytes);
  for (let i = 0; i < bytes; i++) out[pos++] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
}

function writeDate(d: Date): void {
  const ms = d.getTime();
  ensure(15);
  if (Number.isNaN(ms)) {
    out[pos++] = 0xd4;
    out[pos++] = 0xff;
    out[pos++] = 0xff; // msgpackr reads a 1-byte timestamp as an invalid Date
    return;
  }
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1e6;
  if (nanos === 0 && seconds >= 0 && seconds < 0x100000000) {
    out[pos++] = 0xd6;
    out[pos++] = 0xff;
    view.setUint32(pos, seconds);
    pos += 4;
  } else if (seconds >= 0 && seconds < 0x400000000) {
    out[pos++] = 0xd7;
    out[pos++] = 0xff;
    view.setUint32(pos, nanos * 4 + Math.floor(seconds / 0x100000000));
    view.setUint32(pos + 4, seconds >>> 0);
    pos += 8;
  } else {
    out[pos++] = 0xc7;
    out[pos++] = 12;
    out[pos++] = 0xff;
    view.setUint32(pos, nanos);
    view.setBigInt64(pos + 4, BigInt(seconds));
    pos += 12;
  }
}

function writeBytes(bytes: Uint8Array): void {
  const n = bytes.length;
  if (n > maxMessage) tooLarge(`binary larger than maxMessageSize (${maxMessage})`);
  ensure(5 + n);
  if (n < 0x100) {
    out[pos++] = 0xc4;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = 0xc5;
    out[pos++] = n >> 8;
    out[pos++] = n & 0xff;
  } else {
    out[pos++] = 0xc6;
    view.setUint32(pos, n);
    pos += 4;
  }
  out.set(bytes, pos);
  pos += n;
}

function writeTyped(value: ArrayBufferView | ArrayBuffer, code: number): void {
  const bytes = ArrayBuffer.isView(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(value);
  if (bytes.length > maxMessage) tooLarge(`binary larger than maxMessageSize (${maxMessage})`);
  writeExtHeader(0x74, bytes.length + 1);
  out[pos++] = code;
  out.set(bytes, pos);
  pos += bytes.length;
}

// --- error messages -------------------------------------------------------------

function path(upTo = pathLength): string {
  let s = "value";
  for (let i = 0; i < upTo; i++) {
    const step = steps[i];
    switch (stepKinds[i]) {
      case STEP_INDEX:
        s += `[${step}]`;
        break;
      case STEP_KEY: {
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

function describe(value: unknown): string {
  switch (typeof value) {
    case "function":
      return value.name ? `function ${value.name}` : "an anonymous function";
    case "symbol":
      return `symbol ${value.toString()}`;
    case "object": {
      const name = (value === null ? null : getPrototypeOf(value))?.constructor?.name;
      return typeof name === "string" && name !== ""
        ? `an instance of ${name}`
        : "an object of an unknown class";
    }
    default:
      return `a ${typeof value}`;
  }
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
  if (pathLength >= parentsUsed) parentsUsed = pathLength + 1;
  for (let j = 1; j <= pathLength; j++) {
    for (let i = 0; i < j; i++) {
      if (parents[i] === parents[j]) {
        throw new TypeError(
          `codec: cannot encode a cyclic value: ${path(j)} refers back to ${path(i)}`,
        );
      }
    }
  }
  tooLarge(`nesting deeper than maxDepth (${maxDepth})`);
}

function checkString(s: string): void {
  if (s.length > maxString) tooLarge(`string longer than maxStringLength (${maxString} bytes)`);
}

function checkCount(n: number, what: string): void {
  if (n > maxArray) tooLarge(`${what} of ${n} entries exceeds maxArrayLength (${maxArray})`);
}

function enter(parent: unknown, kind: number): number {
  const at = pathLength++;
  if (at >= parentsUsed) parentsUsed = at + 1;
  parents[at] = parent;
  stepKinds[at] = kind;
  return at;
}

// --- the walk -------------------------------------------------------------------
//
// `depth` counts the wire containers around a value: arrays, maps and
// `fixext 1` tags (a Map, Set, reference or error is a tag and an array).

function write(value: unknown, depth: number): void {
  if (--budget < 0) tooLarge(`more values than fit in maxMessageSize (${maxMessage})`);
  switch (typeof value) {
    case "number":
      writeNumber(value);
      return;
    case "string":
      writeString(value);
      return;
    case "boolean":
      ensure(1);
      out[pos++] = value ? 0xc3 : 0xc2;
      return;
    case "undefined":
      writeTag(0); // msgpackr's (and notepack's) undefined: fixext 1, type 0
      return;
    case "object":
      if (value === null) {
        ensure(1);
        out[pos++] = 0xc0;
      } else writeObject(value, depth);
      return;
    case "bigint":
      writeBigInt(value);
      return;
    default: // function, symbol
      cannot(value);
  }
}

function writeObject(value: object, depth: number): void {
  const d = depth + 1;
  const proto = getPrototypeOf(value);
  if (proto === ARRAY_PROTO) {
    if (d > maxDepth) tooDeep(value);
    writeArray(value as unknown[], d);
    return;
  }
  if (proto === OBJECT_PROTO || proto === null) {
    if (d > maxDepth) tooDeep(value);
    writePlain(value as Record<string, unknown>, d);
    return;
  }
  const kind = BUILTIN_KINDS.get(proto);
  // Dates and binaries are leaves on the wire; everything else nests.
  switch (kind) {
    case KIND_BIN:
      writeBytes(value as Uint8Array);
      return;
    case KIND_TYPED:
      writeTyped(value as ArrayBuffer, TYPED_CODES.get(proto)!);
      return;
    case KIND_DATE:
      writeDate(value as Date);
      return;
  }
  if (d + 1 > maxDepth) tooDeep(value);
  switch (kind) {
    case KIND_MAP:
      writeMap(value as Map<unknown, unknown>, d);
      return;
    case KIND_SET:
      writeSet(value as Set<unknown>, d);
      return;
    case KIND_MONITOR:
      writeMonitor(value as MonitorStatus, d);
      return;
  }
  const reg = byPrototype.get(proto);
  if (reg !== undefined) return writeRegistered(reg, value, d);
  if (ArrayBuffer.isView(value) && proto instanceof Uint8Array) {
    return writeBytes(value as Uint8Array); // a Uint8Array subclass, e.g. Node's Buffer
  }
  if (ctx.isTask(value)) return writeTaskRef(ctx.encodeTask(value));
  if (ctx.isChannel(value)) return writeChannelRef(ctx.encodeChannel(value));
  if (value instanceof Error) return writeError(value, d);
  cannot(value);
}

function writeArray(a: unknown[], d: number): void {
  const n = a.length;
  if (n > maxArray) checkCount(n, "array");
  writeArrayHeader(n);
  const at = enter(a, STEP_INDEX);
  for (let i = 0; i < n; i++) {
    steps[at] = i;
    write(a[i], d);
  }
  pathLength = at;
}

/** Writes a map header for `count` entries at `header`, where one byte was reserved. */
function patchMapHeader(header: number, count: number): void {
  if (count < 16) {
    out[header] = 0x80 | count;
    return;
  }
  const extra = count < 0x10000 ? 2 : 4;
  ensure(extra);
  out.copyWithin(header + 1 + extra, header + 1, pos);
  pos += extra;
  if (extra === 2) {
    out[header] = 0xde;
    out[header + 1] = count >> 8;
    out[header + 2] = count & 0xff;
  } else {
    out[header] = 0xdf;
    view.setUint32(header + 1, count);
  }
}

function writePlain(o: Record<string, unknown>, d: number): void {
  ensure(1);
  const header = pos++;
  const at = enter(o, STEP_KEY);
  let count = 0;
  for (const key in o) {
    if (!hop.call(o, key)) continue;
    steps[at] = key;
    if (key === "__proto__") {
      throw new TypeError(`codec: cannot encode a "__proto__" key at ${path()}`);
    }
    writeString(key);
    write(o[key], d);
    count++;
  }
  pathLength = at;
  if (count > maxArray) checkCount(count, "object");
  patchMapHeader(header, count);
}

function writeMap(m: Map<unknown, unknown>, d: number): void {
  checkCount(m.size, "Map");
  writeTag(EXT_MAP);
  writeArrayHeader(m.size * 2);
  const at = enter(m, STEP_MAP_KEY);
  let i = 0;
  for (const [k, v] of m) {
    steps[at] = i++;
    stepKinds[at] = STEP_MAP_KEY;
    write(k, d + 1);
    stepKinds[at] = STEP_MAP_VALUE;
    write(v, d + 1);
  }
  pathLength = at;
}

function writeSet(s: Set<unknown>, d: number): void {
  checkCount(s.size, "Set");
  writeTag(0x73); // msgpackr's Set
  writeArrayHeader(s.size);
  const at = enter(s, STEP_SET);
  let i = 0;
  for (const x of s) {
    steps[at] = i++;
    write(x, d + 1);
  }
  pathLength = at;
}

function writeRegistered(reg: Registration, value: object, d: number): void {
  const at = enter(value, STEP_PAYLOAD);
  steps[at] = reg.Class.name || "registered class";
  const payload = reg.encode(value as never);
  if (reg.internal) {
    writeTag(reg.tag);
    write(payload, d);
  } else {
    // [tag, payload]: one more level.
    if (d + 1 > maxDepth) tooDeep(value);
    writeTag(EXT_USER);
    writeArrayHeader(2);
    writeNumber(reg.tag);
    write(payload, d + 1);
  }
  pathLength = at;
}

/** Writes `value`, or nothing at all (and returns the error) if it cannot travel. */
function tryWrite(value: unknown, depth: number): unknown {
  const start = pos;
  const at = pathLength;
  const left = budget;
  try {
    write(value, depth);
    return undefined;
  } catch (e) {
    pos = start;
    pathLength = at;
    budget = left;
    return e ?? new TypeError("codec: cannot encode this value");
  }
}

function writeMonitor(s: MonitorStatus, d: number): void {
  // [task, type, value]. A return value or error that cannot travel must
  // not keep the watcher from hearing that the task ended: it gets the
  // TypeError instead (a RemoteError naming what failed).
  writeTag(EXT_MONITOR_STATUS);
  writeArrayHeader(3);
  const at = enter(s, STEP_KEY);
  steps[at] = "task";
  write(s.task, d + 1);
  writeString(s.type);
  steps[at] = "value";
  const failed = tryWrite(s.value, d + 1);
  if (failed !== undefined && tryWrite(failed, d + 1) !== undefined) write(null, d + 1);
  pathLength = at;
}

function errorText(s: unknown): string | null {
  if (typeof s !== "string") return null;
  const max = Math.floor(maxString / 3);
  return s.length > max ? s.slice(0, max) : s;
}

function writeNullableString(s: string | null): void {
  if (s === null) write(null, 0);
  else writeString(s);
}

function writeError(e: Error, d: number): void {
  // [key, name, message, stack, fields, hasCause, cause], the fields object
  // one level further in. Errors travel best effort: a field or cause that
  // cannot is left out, an overlong text is cut.
  const key = ERROR_KEYS.get(getPrototypeOf(e)) ?? "";
  writeTag(EXT_ERROR);
  writeArrayHeader(7);
  writeString(key);
  writeString(errorText(e.name) ?? "Error");
  writeString(errorText(e.message) ?? "");
  writeNullableString(
    key === "RemoteError" ? errorText((e as RemoteError).remoteStack) : errorText(e.stack),
  );
  const at = enter(e, STEP_KEY);
  let count = 0;
  let header = -1;
  if (d + 2 <= maxDepth) {
    for (const k in e) {
      if (!hop.call(e, k) || ERROR_FIELDS.has(k) || k === "__proto__") continue;
      steps[at] = k;
      if (header < 0) {
        ensure(1);
        header = pos++;
      }
      const start = pos;
      if (
        tryWrite(k, d + 2) === undefined &&
        tryWrite((e as unknown as Record<string, unknown>)[k], d + 2) === undefined
      ) {
        count++;
      } else pos = start;
    }
  }
  if (header < 0) write(null, 0);
  else patchMapHeader(header, count);
  let causeWritten = false;
  if (hop.call(e, "cause")) {
    steps[at] = "cause";
    ensure(1);
    const flag = pos++;
    causeWritten = tryWrite(e.cause, d + 1) === undefined;
    out[flag] = causeWritten ? 0xc3 : 0xc2;
    if (!causeWritten) write(undefined, 0);
  } else {
    write(false, 0);
    write(undefined, 0);
  }
  pathLength = at;
}

// Written field by field (no payload array), after the same check the
// receiver makes: never send what the peer would refuse.
function writeTaskRef(r: TaskRefRecord): void {
  const location = r.location;
  const hostname = location?.hostname;
  const port = location?.port;
  if (
    typeof r.peer !== "string" || typeof r.incarnation !== "number" ||
    !Number.isFinite(r.incarnation) || !Number.isSafeInteger(r.id) || typeof r.name !== "string" ||
    typeof hostname !== "string" || !Number.isInteger(port) || port < 0 || port > 65535
  ) throw new TypeError("codec: CodecContext.encodeTask returned a malformed record");
  writeTag(EXT_TASK);
  ensure(1);
  out[pos++] = 0x96;
  writeString(r.peer);
  writeNumber(r.incarnation);
  writeNumber(r.id);
  writeString(r.name);
  writeString(hostname);
  writeNumber(port);
}

function writeChannelRef(r: ChannelRefRecord): void {
  const p = [r.peer, r.name, r.location?.hostname, r.location?.port];
  if (!isChannelRecord(p)) {
    throw new TypeError("codec: CodecContext.encodeChannel returned a malformed record");
  }
  writeTag(EXT_CHANNEL);
  writeArrayHeader(4);
  for (let i = 0; i < 4; i++) write(p[i], 0);
}
