/**
 * The codec's decode limits and the pre-scan that enforces them: one
 * iterative pass over a message's MessagePack bytes that checks nesting
 * depth, string, array and map lengths, extension types and completeness
 * before msgpackr builds a single value, so that no input can make decoding
 * recurse without end or allocate beyond the limits.
 *
 * msgpackr bounds array allocations by the bytes left, but its reader is
 * recursive (a deep nesting overflows the stack), it accepts record
 * definitions, structured-clone pointers and string bundles from the input,
 * and it renames `__proto__` keys silently. The scan refuses all of that up
 * front, in O(n) over the tokens (string and binary bodies are skipped, not
 * read), with no allocation.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";

/**
 * Limits on what one message may hold. The decoder refuses a message past
 * any of them with `ProtocolError`; the encoder refuses to produce one
 * (`RangeError`), so a peer never sends what a peer with the same limits
 * would refuse.
 *
 * @example
 * ```ts
 * import type { CodecLimits } from "@denocos/denocos/net";
 *
 * const limits: CodecLimits = { maxDepth: 16, maxMessageSize: 1024 * 1024 };
 * console.log(limits.maxDepth); // 16
 * ```
 */
export interface CodecLimits {
  /**
   * Deepest nesting of containers: arrays, objects, Maps, Sets and extension
   * values (a Map, Set, error or reference counts two levels: its tag and
   * its contents). Default 64.
   */
  maxDepth?: number;
  /** Longest string, in UTF-8 bytes. Default 16 MiB. */
  maxStringLength?: number;
  /** Most elements of one array, entries of one object or Map, members of one Set. Default 1,000,000. */
  maxArrayLength?: number;
  /** Largest encoded message, in bytes (the link's `maxMessageSize`). Default 64 MiB. */
  maxMessageSize?: number;
  /** Largest `bigint` beyond the 64-bit range, in bytes of two's complement. Default 64 KiB. */
  maxBigIntBytes?: number;
}

/**
 * The default {@linkcode CodecLimits}.
 *
 * @example
 * ```ts
 * import { DEFAULT_CODEC_LIMITS } from "@denocos/denocos/net";
 *
 * console.log(DEFAULT_CODEC_LIMITS.maxDepth); // 64
 * ```
 */
export const DEFAULT_CODEC_LIMITS: Readonly<Required<CodecLimits>> = Object.freeze({
  maxDepth: 64,
  maxStringLength: 16 * 1024 * 1024,
  maxArrayLength: 1_000_000,
  maxMessageSize: 64 * 1024 * 1024,
  maxBigIntBytes: 64 * 1024,
});

/** Limits with every field present and checked. */
export type ResolvedLimits = Readonly<Required<CodecLimits>>;

/** Fills in defaults and refuses limits that are not positive integers. */
export function resolveLimits(limits: CodecLimits | undefined): ResolvedLimits {
  if (limits === undefined) return DEFAULT_CODEC_LIMITS;
  const out = { ...DEFAULT_CODEC_LIMITS };
  for (const key of Object.keys(DEFAULT_CODEC_LIMITS) as (keyof CodecLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    // 2^32 - 1 is the largest length MessagePack can express.
    if (!Number.isInteger(v) || v < 1 || v > 0xffff_ffff) {
      throw new RangeError(`CodecLimits.${key} must be an integer from 1 to 2^32-1, got ${v}`);
    }
    out[key] = v;
  }
  return Object.freeze(out);
}

/** How the scan treats an extension type (index: the type byte). */
export const EXT_REFUSED = 0;
/** `fixext 1` tag whose value is the next MessagePack value, which must be an array. */
export const EXT_WRAPS_ARRAY = 1;
/** `fixext 1` tag whose value is the next MessagePack value, of any kind. */
export const EXT_WRAPS_ANY = 2;
/** Self-contained data (timestamp, bigint, typed array): any ext form. */
export const EXT_DATA = 3;
/** `undefined`: `fixext 1` with type 0 only. */
export const EXT_UNDEFINED_KIND = 4;

/** The extension types a message may carry; the registry adds internal wrapper tags. */
export const extKinds: Uint8Array = new Uint8Array(256);
extKinds[0x00] = EXT_UNDEFINED_KIND;
extKinds[0xff] = EXT_DATA; // timestamp
extKinds[0x42] = EXT_DATA; // bigint beyond 64 bits
extKinds[0x74] = EXT_DATA; // typed array, ArrayBuffer, DataView
extKinds[0x73] = EXT_WRAPS_ARRAY; // Set

/** Bytes per element of msgpackr's typed-array codes (0x74 ext); 0: not a code. */
const TYPED_ELEMENT_SIZE = new Uint8Array(256);
[1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8].forEach((size, code) => TYPED_ELEMENT_SIZE[code] = size);
TYPED_ELEMENT_SIZE[16] = 1; // ArrayBuffer
TYPED_ELEMENT_SIZE[17] = 1; // DataView

/** Per-codec scratch space for the scan: one slot per nesting level. */
export interface ScanStack {
  counts: Float64Array;
  maps: Uint8Array;
}

/** Scratch space for limits `limits`. */
export function scanStack(limits: ResolvedLimits): ScanStack {
  return {
    counts: new Float64Array(limits.maxDepth + 1),
    maps: new Uint8Array(limits.maxDepth + 1),
  };
}

function fail(what: string, at: number): never {
  throw new ProtocolError(`codec: ${what} (at byte ${at})`);
}

function truncated(at: number): never {
  fail("truncated message", at);
}

/** `"__proto__"` in UTF-8. */
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

function isProtoKey(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 9; i++) if (b[at + i] !== PROTO[i]) return false;
  return true;
}

/**
 * Checks that `b` holds exactly one MessagePack value within `limits`, made
 * only of the types the codec decodes. Throws `ProtocolError` otherwise.
 */
export function scanMessage(b: Uint8Array, limits: ResolvedLimits, stack: ScanStack): void {
  const end = b.length;
  if (end === 0) fail("empty message", 0);
  if (end > limits.maxMessageSize) {
    fail(`message of ${end} bytes exceeds maxMessageSize (${limits.maxMessageSize})`, 0);
  }
  const maxDepth = limits.maxDepth;
  const maxString = limits.maxStringLength;
  const maxArray = limits.maxArrayLength;
  const counts = stack.counts;
  const maps = stack.maps;
  let pos = 0;
  let depth = 0;
  let remaining = 1; // values still expected at this level (map: keys and values)
  let inMap = false;
  for (;;) {
    if (pos >= end) truncated(pos);
    const start = pos;
    const t = b[pos++];
    // n >= 0: a container with n children (a map counts keys and values).
    let n = -1;
    let map = false;
    let strLength = -1;
    if (t < 0x80 || t >= 0xe0) {
      // positive or negative fixint
    } else if (t < 0x90) {
      n = (t & 0x0f) * 2;
      map = true;
    } else if (t < 0xa0) {
      n = t & 0x0f;
    } else if (t < 0xc0) {
      strLength = t & 0x1f;
    } else {
      switch (t) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc4: // bin 8
          if (pos + 1 > end) truncated(start);
          pos += 1 + b[pos];
          break;
        case 0xc5: // bin 16
          if (pos + 2 > end) truncated(start);
          pos += 2 + ((b[pos] << 8) | b[pos + 1]);
          break;
        case 0xc6: // bin 32
          if (pos + 4 > end) truncated(start);
          pos += 4 + b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]);
          break;
        case 0xc7: // ext 8
          if (pos + 1 > end) truncated(start);
          pos = scanData(b, pos + 1, b[pos], limits, start);
          break;
        case 0xc8: // ext 16
          if (pos + 2 > end) truncated(start);
          pos = scanData(b, pos + 2, (b[pos] << 8) | b[pos + 1], limits, start);
          break;
        case 0xc9: // ext 32
          if (pos + 4 > end) truncated(start);
          pos = scanData(
            b,
            pos + 4,
            b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]),
            limits,
            start,
          );
          break;
        case 0xca: // float 32
        case 0xce: // uint 32
        case 0xd2: // int 32
          pos += 4;
          break;
        case 0xcb: // float 64
        case 0xcf: // uint 64
        case 0xd3: // int 64
          pos += 8;
          break;
        case 0xcc: // uint 8
        case 0xd0: // int 8
          pos += 1;
          break;
        case 0xcd: // uint 16
        case 0xd1: // int 16
          pos += 2;
          break;
        case 0xd4: { // fixext 1: a data byte, or a tag for the value that follows
          if (pos + 2 > end) truncated(start);
          const type = b[pos];
          const kind = extKinds[type];
          if (kind === EXT_WRAPS_ARRAY || kind === EXT_WRAPS_ANY) {
            pos += 2;
            if (pos >= end) truncated(start);
            if (kind === EXT_WRAPS_ARRAY) {
              const x = b[pos];
              if (!((x >= 0x90 && x <= 0x9f) || x === 0xdc || x === 0xdd)) {
                fail(`extension type ${type} must hold an array`, pos);
              }
            }
            n = 1;
          } else if (kind === EXT_UNDEFINED_KIND) {
            pos += 2;
          } else pos = scanData(b, pos, 1, limits, start);
          break;
        }
        case 0xd5: // fixext 2, 4, 8, 16
          pos = scanData(b, pos, 2, limits, start);
          break;
        case 0xd6:
          pos = scanData(b, pos, 4, limits, start);
          break;
        case 0xd7:
          pos = scanData(b, pos, 8, limits, start);
          break;
        case 0xd8:
          pos = scanData(b, pos, 16, limits, start);
          break;
        case 0xd9: // str 8
          if (pos + 1 > end) truncated(start);
          strLength = b[pos];
          pos += 1;
          break;
        case 0xda: // str 16
          if (pos + 2 > end) truncated(start);
          strLength = (b[pos] << 8) | b[pos + 1];
          pos += 2;
          break;
        case 0xdb: // str 32
          if (pos + 4 > end) truncated(start);
          strLength = b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]);
          pos += 4;
          break;
        case 0xdc: // array 16
          if (pos + 2 > end) truncated(start);
          n = (b[pos] << 8) | b[pos + 1];
          pos += 2;
          break;
        case 0xdd: // array 32
          if (pos + 4 > end) truncated(start);
          n = b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]);
          pos += 4;
          break;
        case 0xde: // map 16
          if (pos + 2 > end) truncated(start);
          n = ((b[pos] << 8) | b[pos + 1]) * 2;
          map = true;
          pos += 2;
          break;
        case 0xdf: // map 32
          if (pos + 4 > end) truncated(start);
          n = (b[pos] * 0x1000000 + ((b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3])) * 2;
          map = true;
          pos += 4;
          break;
        default: // 0xc1 (never used)
          fail(`invalid MessagePack byte 0x${t.toString(16)}`, start);
      }
    }
    if (strLength >= 0) {
      if (strLength > maxString) {
        fail(`string of ${strLength} bytes exceeds maxStringLength (${maxString})`, start);
      }
      // Only string map keys become object keys; "__proto__" is refused so
      // that no decoded object has its prototype set, or the key renamed.
      if (strLength === 9 && inMap && remaining % 2 === 0 && pos + 9 <= end && isProtoKey(b, pos)) {
        fail(`"__proto__" key`, start);
      }
      pos += strLength;
    }
    if (pos > end) truncated(start);
    if (n >= 0) {
      if (depth >= maxDepth) fail(`nesting deeper than maxDepth (${maxDepth})`, start);
      if (n > 0) {
        const entries = map ? n / 2 : n;
        if (entries > maxArray) {
          fail(
            `${map ? "map" : "array"} of ${entries} entries exceeds maxArrayLength (${maxArray})`,
            start,
          );
        }
        // Every value takes at least one byte: a count beyond the bytes left is a lie.
        if (n > end - pos) truncated(start);
        counts[depth] = remaining;
        maps[depth] = inMap ? 1 : 0;
        depth++;
        remaining = n;
        inMap = map;
        continue;
      }
    }
    // One value complete; close every container it completes.
    while (--remaining === 0) {
      if (depth === 0) {
        if (pos !== end) fail(`${end - pos} bytes after the message`, pos);
        return;
      }
      depth--;
      remaining = counts[depth];
      inMap = maps[depth] === 1;
    }
  }
}

/**
 * Checks an extension's type and data (`length` bytes after the type byte at
 * `at`); returns the position after it.
 */
function scanData(
  b: Uint8Array,
  at: number,
  length: number,
  limits: ResolvedLimits,
  start: number,
): number {
  const next = at + 1 + length;
  if (next > b.length) truncated(start);
  const type = b[at];
  if (extKinds[type] !== EXT_DATA) fail(`extension type ${type} not accepted here`, start);
  if (type === 0x42) {
    if (length > limits.maxBigIntBytes) {
      fail(`bigint of ${length} bytes exceeds maxBigIntBytes (${limits.maxBigIntBytes})`, start);
    }
  } else if (type === 0x74) {
    const size = length > 0 ? TYPED_ELEMENT_SIZE[b[at + 1]] : 0;
    if (size === 0 || (length - 1) % size !== 0) fail("malformed typed array", start);
  } else if (length !== 1 && length !== 4 && length !== 8 && length !== 12) {
    fail("malformed timestamp", start);
  }
  return next;
}
