/**
 * The codec's limits, which the encoder and the decoder both enforce, and
 * the table of extension types a message may carry.
 *
 * @module
 */

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

/** How the decoder treats an extension type (index: the type byte). */
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

/**
 * msgpackr's typed-array codes (the first data byte of extension 0x74): the
 * class at each index; 1 (`Uint8Array`) is never written, since a
 * `Uint8Array` travels as MessagePack binary.
 */
export const TYPED_ARRAY_CLASSES: readonly (new (buffer: ArrayBuffer) => ArrayBufferView)[] = [
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
];
/** The typed-array code of an `ArrayBuffer`. */
export const TYPED_CODE_ARRAY_BUFFER = 16;
/** The typed-array code of a `DataView`. */
export const TYPED_CODE_DATA_VIEW = 17;
