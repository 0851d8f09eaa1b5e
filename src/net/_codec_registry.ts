/**
 * The codec's extension types and the registry of message classes: denocos's
 * own (`registerInternalClass`, for the API layer's `PeerStatus` and the
 * like) and the user's (`registerMessageClass`).
 *
 * Wire form of every class-like value: `fixext 1` with the extension type and
 * a zero filler byte, then the payload as the next MessagePack value (as
 * msgpackr writes its Set and Error extensions). User classes share one
 * extension type whose payload is `[tag, value]`, so users get a 16-bit tag
 * space that cannot collide with msgpackr's or denocos's types.
 *
 * Registrations are process-wide (every codec in the process reads them);
 * they touch no msgpackr state, so another msgpackr user in the same process
 * is not affected.
 *
 * @module
 */
import {
  ChannelClosed,
  HotSwap,
  LockNotHeld,
  MailboxFull,
  TaskEnded,
  TaskTerminated,
  TimeoutError,
} from "../core/errors.ts";
import { ConnectionClosed, MessageTooLarge } from "../io/errors.ts";
import { PoolClosed, WorkerCrashed, WorkerJobError } from "../io/pool_errors.ts";
import {
  AuthenticationFailed,
  PeerLost,
  PeerUnreachable,
  ProtocolError,
  RemoteError,
} from "./errors.ts";
import { EXT_WRAPS_ANY, EXT_WRAPS_ARRAY, extKinds } from "./_codec_limits.ts";

/** A task reference: `[peer, incarnation, id, name, hostname, port]`. */
export const EXT_TASK = 0x01;
/** A channel reference: `[peer, name, hostname, port]`. */
export const EXT_CHANNEL = 0x02;
/** A `Map`: `[k0, v0, k1, v1, ...]`. */
export const EXT_MAP = 0x03;
/** An error: `[class key, name, message, stack, fields, cause]`. */
export const EXT_ERROR = 0x04;
/** A core `MonitorStatus`: `[task, type, value]`. */
export const EXT_MONITOR_STATUS = 0x05;
/** Reserved for the API layer's `PeerStatus` (registered with {@linkcode registerInternalClass}). */
export const EXT_PEER_STATUS = 0x06;
/** First and last extension types free for {@linkcode registerInternalClass}. */
export const EXT_INTERNAL_FIRST = 0x06;
export const EXT_INTERNAL_LAST = 0x1d;
// 0x1e: reserved, never accepted.
/** A user class: `[tag, payload]`. */
export const EXT_USER = 0x1f;
/** The range of user tags. */
export const USER_TAG_MIN = 1;
export const USER_TAG_MAX = 0xffff;

for (const type of [EXT_TASK, EXT_CHANNEL, EXT_MAP, EXT_ERROR, EXT_MONITOR_STATUS, EXT_USER]) {
  extKinds[type] = EXT_WRAPS_ARRAY;
}

/** How a registered class travels. */
export interface Registration {
  /** The user tag, or the extension type of an internal class. */
  readonly tag: number;
  /** `true`: an internal class with its own extension type. */
  readonly internal: boolean;
  readonly Class: abstract new (...args: never[]) => unknown;
  readonly encode: (value: never) => unknown;
  readonly decode: (payload: unknown) => unknown;
}

/** Registered classes by prototype (the encoder's lookup). */
export const byPrototype: Map<object, Registration> = new Map();
/** User classes by tag (the decoder's lookup). */
export const byUserTag: Map<number, Registration> = new Map();
/** Internal classes by extension type. */
export const byInternalType: Map<number, Registration> = new Map();

/** Prototypes the codec handles itself; a class of these cannot be registered. */
export const builtinPrototypes: Set<object> = new Set();

/** Files `registration`; the caller has checked the tag's range. */
export function register(
  registration: Registration,
  decodeInternal: (r: Registration) => void,
): void {
  const proto = registration.Class?.prototype as object | undefined;
  if (typeof registration.Class !== "function" || typeof proto !== "object" || proto === null) {
    throw new TypeError("registerMessageClass: Class must be a class");
  }
  if (typeof registration.encode !== "function" || typeof registration.decode !== "function") {
    throw new TypeError("registerMessageClass: encode and decode must be functions");
  }
  if (builtinPrototypes.has(proto)) {
    throw new TypeError(
      `registerMessageClass: ${registration.Class.name} is encoded by the codec itself`,
    );
  }
  const existing = byPrototype.get(proto);
  if (existing !== undefined) {
    throw new TypeError(
      `registerMessageClass: ${registration.Class.name} is already registered (tag ${existing.tag})`,
    );
  }
  const table = registration.internal ? byInternalType : byUserTag;
  const taken = table.get(registration.tag);
  if (taken !== undefined) {
    throw new TypeError(
      `registerMessageClass: tag ${registration.tag} is already taken by ${taken.Class.name}`,
    );
  }
  table.set(registration.tag, registration);
  byPrototype.set(proto, registration);
  if (registration.internal) {
    extKinds[registration.tag] = EXT_WRAPS_ANY;
    decodeInternal(registration);
  }
}

/** An error class as the codec holds it. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Error classes that come back as themselves, by their (stable) key: the
 * codec's own, then those of `registerErrorClass` (the compute layer's, the
 * user's), which net cannot import.
 */
export const KNOWN_ERRORS: Map<string, ErrorClass> = new Map<string, ErrorClass>([
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
  // The language's own, as structuredClone carries them.
  ["Error", Error],
  ["TypeError", TypeError],
  ["RangeError", RangeError],
  ["SyntaxError", SyntaxError],
  ["ReferenceError", ReferenceError],
  ["EvalError", EvalError],
  ["URIError", URIError],
  // Deno's I/O and permission errors, so `instanceof Deno.errors.NotCapable` works across peers.
  ...Object.entries(Deno.errors).map(([name, Class]) =>
    [`Deno.errors.${name}`, Class as abstract new (...args: never[]) => Error] as const
  ),
]);
/** The key of each known error class, by prototype. */
export const ERROR_KEYS: Map<object, string> = new Map(
  [...KNOWN_ERRORS].map(([key, Class]) => [Class.prototype, key]),
);

/** Files an error class under `key`; the caller has checked `key`'s shape. */
export function registerError(key: string, Class: ErrorClass): void {
  const proto = (Class as { prototype?: unknown })?.prototype;
  if (typeof Class !== "function" || !(proto instanceof Error)) {
    throw new TypeError("registerErrorClass: Class must be a subclass of Error");
  }
  const taken = KNOWN_ERRORS.get(key);
  if (taken !== undefined) {
    throw new TypeError(`registerErrorClass: key '${key}' is already taken by ${taken.name}`);
  }
  const existing = ERROR_KEYS.get(proto);
  if (existing !== undefined) {
    throw new TypeError(`registerErrorClass: ${Class.name} is already registered as '${existing}'`);
  }
  KNOWN_ERRORS.set(key, Class);
  ERROR_KEYS.set(proto, key);
}

function isLocation(hostname: unknown, port: unknown): boolean {
  return typeof hostname === "string" && Number.isInteger(port) && (port as number) >= 0 &&
    (port as number) <= 65535;
}

/** `[peer, incarnation, id, name, hostname, port]` with the right types. */
export function isTaskRecord(p: unknown[]): boolean {
  // Indexed, not destructured: this runs for every reference received.
  const incarnation = p[1];
  return p.length === 6 && typeof p[0] === "string" && typeof incarnation === "number" &&
    Number.isFinite(incarnation) && Number.isSafeInteger(p[2]) && typeof p[3] === "string" &&
    isLocation(p[4], p[5]);
}

/** `[peer, name, hostname, port]` with the right types. */
export function isChannelRecord(p: unknown[]): boolean {
  return p.length === 4 && typeof p[0] === "string" && typeof p[1] === "string" &&
    isLocation(p[2], p[3]);
}
