/**
 * The codec's decoder: one pass over a message's MessagePack bytes that
 * checks every token against the limits and the accepted types as it builds
 * the value, so that no input can make it recurse past `maxDepth`, allocate
 * beyond what the bytes announce and the limits allow, or reach a type the
 * codec does not carry.
 *
 * Why not msgpackr's unpacker: its reader is recursive without a depth
 * bound, it accepts record definitions, structured-clone pointers and string
 * bundles from the input, and it renames `__proto__` keys silently, so it
 * needed a pre-scan of every message first. Scanning and then unpacking
 * measured 0.65–0.84× msgpackr alone on small frames (B8), two passes where
 * one does; checking while building does both in one. The forms read are
 * msgpackr's (its undefined, Set, typed-array, bigint and timestamp
 * extensions), so bytes msgpackr writes with the same types decode the same.
 *
 * Plain functions over module state, as the encoder: a decode started from
 * inside a decode (a registered class's `decode` decoding bytes of its own)
 * saves and restores that state.
 *
 * @module
 */
import type { ChannelRefRecord, CodecContext, TaskRefRecord } from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import { isChannelRecord, isTaskRecord } from "./_codec_registry.ts";
import {
  EXT_DATA,
  EXT_UNDEFINED_KIND,
  EXT_WRAPS_ANY,
  EXT_WRAPS_ARRAY,
  extKinds,
  type ResolvedLimits,
  TYPED_ARRAY_CLASSES,
  TYPED_CODE_ARRAY_BUFFER,
  TYPED_CODE_DATA_VIEW,
} from "./_codec_limits.ts";

/** Builds a value from the payload that followed its extension tag. */
export type ExtensionReader = (payload: unknown) => unknown;

/**
 * The readers of the wrapping extension types (`fixext 1` tag, then the
 * payload as the next value), by type. Task and channel references are read
 * here directly; the rest are filled in by the codec and the registry.
 */
export const extensionReaders: (ExtensionReader | undefined)[] = new Array(256).fill(undefined);

/** A task reference's extension type (./_codec_registry.ts). */
const EXT_TASK = 0x01;
/** A channel reference's extension type. */
const EXT_CHANNEL = 0x02;
/** msgpackr's Set. */
const EXT_SET = 0x73;
const EXT_BIGINT = 0x42;
const EXT_TYPED = 0x74;
const EXT_TIMESTAMP = 0xff;

extensionReaders[EXT_SET] = (p) => new Set(p as unknown[]);

// --- state of the decode in progress -----------------------------------------

let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;
let ctx: CodecContext | undefined;
let maxDepth = 0;
let maxString = 0;
let maxArray = 0;
let maxBigInt = 0;
let busy = false;

/** Eight bytes to read floats and 64-bit integers through, big-endian. */
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);
const utf8 = new TextDecoder();
const fromCharCode = String.fromCharCode;

/**
 * Decodes the one value that `bytes` must hold. Throws `ProtocolError` for
 * anything refused; a hook's own exception (a registered `decode`, the
 * context) passes through for the caller to wrap.
 */
export function decodeValue(
  bytes: Uint8Array,
  context: CodecContext,
  limits: ResolvedLimits,
): unknown {
  const length = bytes.length;
  if (length === 0) fail("empty message", 0);
  if (length > limits.maxMessageSize) {
    fail(`message of ${length} bytes exceeds maxMessageSize (${limits.maxMessageSize})`, 0);
  }
  if (busy) return nested(bytes, context, limits);
  busy = true;
  // A subclass (Node's Buffer) may make `slice` a view: copies must be copies.
  src = bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, length);
  pos = 0;
  end = length;
  ctx = context;
  maxDepth = limits.maxDepth;
  maxString = limits.maxStringLength;
  maxArray = limits.maxArrayLength;
  maxBigInt = limits.maxBigIntBytes;
  try {
    const value = read(0);
    if (pos !== end) fail(`${end - pos} bytes after the message`, pos);
    return value;
  } finally {
    busy = false;
    // Neither the input nor the context outlives the decode.
    src = EMPTY;
    ctx = undefined;
  }
}

const EMPTY = new Uint8Array(0);

function nested(bytes: Uint8Array, context: CodecContext, limits: ResolvedLimits): unknown {
  const saved = [src, pos, end, ctx, maxDepth, maxString, maxArray, maxBigInt] as const;
  busy = false;
  try {
    return decodeValue(bytes, context, limits);
  } finally {
    busy = true;
    [src, pos, end, ctx, maxDepth, maxString, maxArray, maxBigInt] = saved;
  }
}

// --- failures -----------------------------------------------------------------

function fail(what: string, at: number): never {
  throw new ProtocolError(`codec: ${what} (at byte ${at})`);
}

function truncated(at: number): never {
  fail("truncated message", at);
}

function tooDeep(at: number): never {
  fail(`nesting deeper than maxDepth (${maxDepth})`, at);
}

// --- fixed-size fields -------------------------------------------------------------

function u8(): number {
  if (pos >= end) truncated(pos - 1);
  return src[pos++];
}

function u16(): number {
  if (pos + 2 > end) truncated(pos - 1);
  const v = (src[pos] << 8) | src[pos + 1];
  pos += 2;
  return v;
}

function u32(): number {
  if (pos + 4 > end) truncated(pos - 1);
  const v = src[pos] * 0x1000000 + ((src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3]);
  pos += 4;
  return v;
}

/** Copies `n` bytes into the scratch space. */
function take(n: number): void {
  if (pos + n > end) truncated(pos - 1);
  for (let i = 0; i < n; i++) scratch[i] = src[pos + i];
  pos += n;
}

// --- values ------------------------------------------------------------------------
//
// `depth` counts the containers around the value being read: arrays, maps
// and `fixext 1` tags (a Map, Set, reference or error is a tag and an
// array), as the encoder counts them.

function read(depth: number): unknown {
  if (pos >= end) truncated(pos);
  const t = src[pos++];
  if (t < 0xa0) {
    if (t < 0x80) return t;
    if (t < 0x90) return readMap(t & 0x0f, depth);
    return readArray(t & 0x0f, depth);
  }
  if (t < 0xc0) return readString(t & 0x1f);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return readBinary(u8());
    case 0xc5:
      return readBinary(u16());
    case 0xc6:
      return readBinary(u32());
    case 0xc7:
      return readData(u8());
    case 0xc8:
      return readData(u16());
    case 0xc9:
      return readData(u32());
    case 0xca:
      take(4);
      return scratchView.getFloat32(0);
    case 0xcb:
      take(8);
      return scratchView.getFloat64(0);
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      take(8);
      return scratchView.getBigUint64(0);
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      take(8);
      return scratchView.getBigInt64(0);
    case 0xd4:
      return readFixext1(depth);
    case 0xd5:
      return readData(2);
    case 0xd6:
      return readData(4);
    case 0xd7:
      return readData(8);
    case 0xd8:
      return readData(16);
    case 0xd9:
      return readString(u8());
    case 0xda:
      return readString(u16());
    case 0xdb:
      return readString(u32());
    case 0xdc:
      return readArray(u16(), depth);
    case 0xdd:
      return readArray(u32(), depth);
    case 0xde:
      return readMap(u16(), depth);
    case 0xdf:
      return readMap(u32(), depth);
    default: // 0xc1, never used
      return fail(`invalid MessagePack byte 0x${t.toString(16)}`, pos - 1);
  }
}

/** Checks a container of `n` values (a map: `n` keys and `n` values) before anything is allocated. */
function enter(n: number, values: number, depth: number, what: string): void {
  if (depth >= maxDepth) tooDeep(pos - 1);
  if (n > maxArray) fail(`${what} of ${n} entries exceeds maxArrayLength (${maxArray})`, pos - 1);
  // Every value takes at least one byte: a count beyond the bytes left is a lie.
  if (values > end - pos) truncated(pos - 1);
}

function readArray(n: number, depth: number): unknown[] {
  enter(n, n, depth, "array");
  const a = new Array(n);
  const d = depth + 1;
  for (let i = 0; i < n; i++) a[i] = read(d);
  return a;
}

function readMap(n: number, depth: number): Record<string, unknown> {
  enter(n, 2 * n, depth, "map");
  const o: Record<string, unknown> = {};
  const d = depth + 1;
  for (let i = 0; i < n; i++) {
    const key = readKey(d);
    o[key] = read(d);
  }
  return o;
}

/**
 * A map key: a string (not `"__proto__"`, which would set the object's
 * prototype or be renamed), or a number, made a string as msgpackr does.
 */
function readKey(depth: number): string {
  if (pos >= end) truncated(pos);
  const at = pos;
  const t = src[pos];
  let key: unknown;
  if (t >= 0xa0 && t < 0xc0) {
    pos++;
    key = readCachedString(t & 0x1f);
  } else {
    key = read(depth);
    if (typeof key === "number") return String(key);
    if (typeof key !== "string") fail("object keys must be strings or numbers", at);
  }
  if (key === "__proto__") fail(`"__proto__" key`, at);
  return key as string;
}

function readString(n: number): string {
  if (n > maxString) fail(`string of ${n} bytes exceeds maxStringLength (${maxString})`, pos - 1);
  if (n > end - pos) truncated(pos - 1);
  const at = pos;
  pos += n;
  if (n <= SHORT_STRING) {
    const s = ascii(at, n);
    if (s !== undefined) return s;
  }
  return utf8.decode(src.subarray(at, at + n));
}

/**
 * Up to this many bytes, ASCII strings are built in JavaScript: a
 * `TextDecoder` call costs about 120 ns whatever the length, `fromCharCode`
 * on a few bytes about 15 ns.
 */
const SHORT_STRING = 64;

/** The `n` bytes at `at` as a string if they are all ASCII. */
function ascii(at: number, n: number): string | undefined {
  const b = src;
  let or = 0;
  for (let i = at; i < at + n; i++) or |= b[i];
  if (or & 0x80) return undefined;
  if (n < 16) return asciiShort(b, at, n);
  // Longer: 16 codes per call (each `+=` makes a new string).
  let s = "";
  let i = at;
  const stop = at + n;
  for (; i + 16 <= stop; i += 16) s += asciiShort(b, i, 16);
  return s + asciiShort(b, i, stop - i);
}

/** Up to 16 ASCII bytes in one `fromCharCode` call. */
function asciiShort(b: Uint8Array, at: number, n: number): string {
  switch (n) {
    case 0:
      return "";
    case 1:
      return fromCharCode(b[at]);
    case 2:
      return fromCharCode(b[at], b[at + 1]);
    case 3:
      return fromCharCode(b[at], b[at + 1], b[at + 2]);
    case 4:
      return fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
    case 5:
      return fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4]);
    case 6:
      return fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]);
    case 7:
      return fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6]);
    case 8:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
      );
    case 9:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
      );
    case 10:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
      );
    case 11:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
      );
    case 12:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
      );
    case 13:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
        b[at + 12],
      );
    case 14:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
        b[at + 12],
        b[at + 13],
      );
    case 15:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
        b[at + 12],
        b[at + 13],
        b[at + 14],
      );
    default:
      return fromCharCode(
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
        b[at + 8],
        b[at + 9],
        b[at + 10],
        b[at + 11],
        b[at + 12],
        b[at + 13],
        b[at + 14],
        b[at + 15],
      );
  }
}

// Object keys repeat from one message to the next: they are looked up by
// their bytes rather than built again, which saves V8 internalizing a new
// string on every property store (objects of 5 keys decode about 1.5× as
// fast). Only keys: for other short strings building one is as cheap as the
// lookup (measured on references' peer ids and host names). A slot holds the
// latest key of up to 16 bytes whose hash lands there; a miss costs one
// hash, and a hostile peer churning the slots costs only the misses.
const CACHE_SLOTS = 4096;
const CACHED_BYTES = 16;
const cacheStrings: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
const cacheLengths = new Uint8Array(CACHE_SLOTS);
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHED_BYTES);

/** A fixstr of `n` bytes (its header read), through the cache when short enough. */
function readCachedString(n: number): string {
  // The limits first: the cache is shared by codecs with different limits.
  if (n > CACHED_BYTES || n > maxString) return readString(n);
  if (n > end - pos) truncated(pos - 1);
  const b = src;
  const at = pos;
  let h = n;
  for (let i = at; i < at + n; i++) h = (h * 31 + b[i]) | 0;
  const slot = h & (CACHE_SLOTS - 1);
  const base = slot * CACHED_BYTES;
  const cached = cacheStrings[slot];
  if (cached !== undefined && cacheLengths[slot] === n) {
    let i = 0;
    while (i < n && cacheBytes[base + i] === b[at + i]) i++;
    if (i === n) {
      pos = at + n;
      return cached;
    }
  }
  const s = readString(n);
  cacheStrings[slot] = s;
  cacheLengths[slot] = n;
  for (let i = 0; i < n; i++) cacheBytes[base + i] = b[at + i];
  return s;
}

function readBinary(n: number): Uint8Array {
  if (n > end - pos) truncated(pos - 1);
  const at = pos;
  pos += n;
  // A copy: the link reuses the frame buffer once the handler returns.
  return src.slice(at, pos);
}

/** `fixext 1`: `undefined`, a tag for the value that follows, or one byte of data. */
function readFixext1(depth: number): unknown {
  if (pos + 2 > end) truncated(pos - 1);
  const type = src[pos];
  const kind = extKinds[type];
  if (kind === EXT_UNDEFINED_KIND) {
    pos += 2;
    return undefined;
  }
  if (kind !== EXT_WRAPS_ARRAY && kind !== EXT_WRAPS_ANY) return readData(1);
  const at = pos - 1;
  pos += 2;
  if (depth >= maxDepth) tooDeep(at);
  if (pos >= end) truncated(at);
  const d = depth + 1;
  if (kind === EXT_WRAPS_ARRAY) {
    const x = src[pos];
    if (!((x >= 0x90 && x <= 0x9f) || x === 0xdc || x === 0xdd)) {
      fail(`extension type ${type} must hold an array`, pos);
    }
    // References in their usual form are read field by field, without an array.
    if (x === 0x96 && type === EXT_TASK) return readTaskRef(d);
    if (x === 0x94 && type === EXT_CHANNEL) return readChannelRef(d);
  }
  const payload = read(d);
  if (type === EXT_TASK) return context().decodeTask(taskRecord(payload as unknown[]));
  if (type === EXT_CHANNEL) return context().decodeChannel(channelRecord(payload as unknown[]));
  const reader = extensionReaders[type];
  if (reader === undefined) fail(`extension type ${type} not accepted here`, at);
  return reader(payload);
}

/** Extension data: `length` bytes after the type byte at `pos`. */
function readData(length: number): unknown {
  const at = pos;
  if (at + 1 + length > end) truncated(at - 1);
  const type = src[at];
  if (extKinds[type] !== EXT_DATA) fail(`extension type ${type} not accepted here`, at - 1);
  const from = at + 1;
  pos = from + length;
  switch (type) {
    case EXT_TIMESTAMP:
      return timestamp(from, length);
    case EXT_BIGINT:
      return bigint(from, length);
    case EXT_TYPED:
      return typed(from, length);
    default:
      return fail(`extension type ${type} not accepted here`, at - 1);
  }
}

function word(at: number): number {
  return src[at] * 0x1000000 + ((src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3]);
}

/** MessagePack's timestamp extension; one byte is msgpackr's invalid Date. */
function timestamp(at: number, length: number): Date {
  switch (length) {
    case 1:
      return new Date(NaN);
    case 4:
      return new Date(word(at) * 1000);
    case 8: {
      const high = word(at);
      const seconds = (high & 0x3) * 0x100000000 + word(at + 4);
      return new Date(seconds * 1000 + (high >>> 2) / 1e6);
    }
    case 12: {
      const nanos = word(at);
      const seconds = (src[at + 4] << 24 | src[at + 5] << 16 | src[at + 6] << 8 | src[at + 7]) *
          0x100000000 + word(at + 8);
      return new Date(seconds * 1000 + nanos / 1e6);
    }
    default:
      return fail("malformed timestamp", at - 2);
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A bigint beyond 64 bits: two's complement, big-endian. */
function bigint(at: number, length: number): bigint {
  if (length === 0) fail("malformed bigint", at - 2);
  if (length > maxBigInt) {
    fail(`bigint of ${length} bytes exceeds maxBigIntBytes (${maxBigInt})`, at - 2);
  }
  let hex = "0x";
  for (let i = 0; i < length; i++) hex += HEX[src[at + i]];
  const n = BigInt(hex);
  return src[at] & 0x80 ? n - (1n << BigInt(length * 8)) : n;
}

function typed(at: number, length: number): ArrayBufferView | ArrayBuffer {
  const code = length > 0 ? src[at] : -1;
  const Class = TYPED_ARRAY_CLASSES[code];
  const size = Class !== undefined
    ? (Class as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
    : code === TYPED_CODE_ARRAY_BUFFER || code === TYPED_CODE_DATA_VIEW
    ? 1
    : 0;
  if (size === 0 || (length - 1) % size !== 0) fail("malformed typed array", at - 2);
  // A copy, which also aligns the elements.
  const buffer = src.slice(at + 1, at + length).buffer;
  if (Class !== undefined) return new Class(buffer);
  return code === TYPED_CODE_ARRAY_BUFFER ? buffer : new DataView(buffer);
}

// --- references ------------------------------------------------------------------------

function context(): CodecContext {
  return ctx as CodecContext;
}

// One record of each kind, refilled for every reference decoded: a reference
// costs no allocation here (decoding references is on the hot path of every
// send that carries a reply-to task). The context copies what it keeps.
const taskScratch: TaskRefRecord = {
  peer: "",
  incarnation: 0,
  id: 0,
  name: "",
  location: { hostname: "", port: 0 },
};
const channelScratch: ChannelRefRecord = {
  peer: "",
  name: "",
  location: { hostname: "", port: 0 },
};
const taskLocation = taskScratch.location as { hostname: string; port: number };
const channelLocation = channelScratch.location as { hostname: string; port: number };

function isPort(port: unknown): boolean {
  return Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535;
}

// The usual form is checked field by field, inline, rather than gathered
// into an array for the registry's isTaskRecord: gathering measured about
// 10 % slower on B8's task-reference decode. The checks are the same.

/** `[peer, incarnation, id, name, hostname, port]`, its header read. */
function readTaskRef(depth: number): unknown {
  const at = pos;
  pos++;
  enter(6, 6, depth, "array");
  const d = depth + 1;
  const peer = read(d), incarnation = read(d), id = read(d), name = read(d);
  const hostname = read(d), port = read(d);
  if (
    typeof peer !== "string" || typeof incarnation !== "number" || !Number.isFinite(incarnation) ||
    !Number.isSafeInteger(id) || typeof name !== "string" || typeof hostname !== "string" ||
    !isPort(port)
  ) fail("malformed task reference", at);
  const r = taskScratch;
  r.peer = peer;
  r.incarnation = incarnation;
  r.id = id as number;
  r.name = name;
  taskLocation.hostname = hostname;
  taskLocation.port = port as number;
  return context().decodeTask(r);
}

/** `[peer, name, hostname, port]`, its header read. */
function readChannelRef(depth: number): unknown {
  const at = pos;
  pos++;
  enter(4, 4, depth, "array");
  const d = depth + 1;
  const peer = read(d), name = read(d), hostname = read(d), port = read(d);
  if (
    typeof peer !== "string" || typeof name !== "string" || typeof hostname !== "string" ||
    !isPort(port)
  ) fail("malformed channel reference", at);
  const r = channelScratch;
  r.peer = peer;
  r.name = name;
  channelLocation.hostname = hostname;
  channelLocation.port = port as number;
  return context().decodeChannel(r);
}

/** A task reference in another array form (never written by the encoder). */
function taskRecord(p: unknown[]): TaskRefRecord {
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

/** A channel reference in another array form. */
function channelRecord(p: unknown[]): ChannelRefRecord {
  if (!isChannelRecord(p)) throw new ProtocolError("codec: malformed channel reference");
  const [peer, name, hostname, port] = p as [string, string, string, number];
  return { peer, name, location: { hostname, port } };
}
