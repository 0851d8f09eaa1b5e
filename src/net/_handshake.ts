/**
 * The handshake that opens every link: an HMAC-SHA256 challenge–response in
 * both directions, bound to the cluster name, followed by an exchange of
 * `INFO` (who each side is). Nothing the remote sends is MessagePack-decoded
 * until it has proved that it knows the secret; until then only fixed binary
 * frames of at most 4 KiB are read, and the whole exchange has a deadline.
 *
 * ```
 * dialer                                         listener
 *   HELLO     0x10 "DNCS" u8 version nonceA[32]  ->
 *          <- CHALLENGE 0x11 nonceB[32] macL[32]       macL = HMAC(secret, "denocos/1 listener" | cluster | nonceA | nonceB)
 *   PROOF     0x12 macD[32]                      ->    macD = HMAC(secret, "denocos/1 dialer"   | cluster | nonceB | nonceA)
 *   INFO      0x01 msgpack {id,name,incarnation,location} -> (decoded only once macD checked)
 *          <- INFO (or REJECT 0x1f u8 reason)
 * ```
 *
 * Each frame is `u32 BE length` then the body, whose first byte is the kind
 * (the same framing as after authentication). The cluster name enters the
 * MACs with a 16-bit length in front of it, so no two (cluster, nonce) pairs
 * share a MAC input. The two directions use different labels and nonce
 * orders, so neither MAC can be reflected back as the other. The bytes are
 * read exactly (never past the last handshake frame), so the connection is
 * handed on with nothing buffered.
 *
 * The handshake authenticates the peers, it does not protect the traffic
 * that follows: use TLS for that.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import type { Location } from "../core/location.ts";
import { AuthenticationFailed } from "./errors.ts";
import { FRAME_MSG as KIND_MSG, MAX_HANDSHAKE_FRAME } from "./_frames.ts";
import type { TransportConn } from "./transport.ts";

/** Who a peer is, as its `INFO` frame says. */
export interface PeerIdentity {
  /** The peer's unique id (stable for the life of its scheduler). */
  readonly id: string;
  /** The peer's human-readable name. */
  readonly name: string;
  /** Which start of that scheduler this is; a restarted peer has a new one. */
  readonly incarnation: number;
  /** Where the peer listens. */
  readonly location: Location;
}

/** Handshake frame kinds (0x10..0x1f). Dialer → listener: magic, version, nonce. */
export const KIND_HELLO = 0x10;
/** Listener → dialer: nonce and the listener's MAC. */
export const KIND_CHALLENGE = 0x11;
/** Dialer → listener: the dialer's MAC. */
export const KIND_PROOF = 0x12;
/** Listener → dialer: the listener refuses, with a reason code. */
export const KIND_REJECT = 0x1f;

/** The default deadline for the whole handshake, in milliseconds. */
export const HANDSHAKE_TIMEOUT = 5000;
/**
 * The protocol version this module speaks. 2: every connection then opens
 * with `RESUME`, and messages are acknowledged (`ACK`), for resends.
 */
export const PROTOCOL_VERSION = 2;

const NONCE = 32;
const MAC = 32;
const MAGIC = [0x44, 0x4e, 0x43, 0x53]; // "DNCS"
const HELLO_LEN = 1 + 4 + 1 + NONCE;
const CHALLENGE_LEN = 1 + NONCE + MAC;
const PROOF_LEN = 1 + MAC;
const REJECT_VERSION = 1;
const REJECT_PROOF = 2;
const MAX_ID = 256;
const MAX_NAME = 256;
const MAX_HOST = 255;
const MAX_CLUSTER = 1024;

const encoder = new TextEncoder();
const LABEL_LISTENER = encoder.encode("denocos/1 listener");
const LABEL_DIALER = encoder.encode("denocos/1 dialer");
// INFO is tiny and rare: plain maps, no records, no extensions of ours.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Imports the cluster secret as an HMAC-SHA256 key. A hub does this once and
 * uses the key for every handshake.
 *
 * @example
 * ```ts ignore
 * const key = await importHandshakeKey("s3cret"); // once per hub
 * ```
 *
 * @param secret the cluster secret (any string, `""` included)
 * @returns the key, usable for signing only
 */
export function importHandshakeKey(secret: string): Promise<CryptoKey> {
  // An empty secret is legal (the default) but WebCrypto refuses a zero-length
  // HMAC key; HMAC pads keys with zeros, so one zero byte is the same key.
  const raw = secret === "" ? new Uint8Array(1) : encoder.encode(secret);
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

/** What both sides of a handshake need. */
export interface HandshakeOptions {
  /** The key from {@linkcode importHandshakeKey}. */
  key: CryptoKey;
  /** The cluster name both sides must share. */
  cluster: string;
  /** This side's identity, sent in its `INFO`. */
  identity: PeerIdentity;
  /** Deadline for the whole handshake in milliseconds (default 5000). */
  timeout?: number;
  /** Aborting it fails the handshake and closes the connection. */
  signal?: AbortSignal;
}

/**
 * Runs the dialer's side of the handshake on a fresh connection.
 *
 * @example
 * ```ts ignore
 * const key = await importHandshakeKey("s3cret");
 * const me = { id: "a1", name: "a", incarnation: 1, location: { hostname: "127.0.0.1", port: 9705 } };
 * const conn = await tcpTransport.dial({ hostname: "127.0.0.1", port: 9706 });
 * const them = await dialHandshake(conn, { key, cluster: "denocos", identity: me });
 * console.log(them.id); // the listener's id; conn is now ready for frames
 * ```
 *
 * @param conn the connection just dialled
 * @param options key, cluster, own identity, deadline
 * @returns the listener's identity
 * @throws AuthenticationFailed when the listener does not prove the secret,
 *   refuses ours, speaks another protocol, or the deadline passes; the
 *   connection is closed then
 */
export function dialHandshake(
  conn: TransportConn,
  options: HandshakeOptions,
): Promise<PeerIdentity> {
  return guarded(conn, options, "dialer", async (io) => {
    const nonceA = crypto.getRandomValues(new Uint8Array(NONCE));
    const hello = frame(KIND_HELLO, HELLO_LEN);
    hello.set(MAGIC, 5);
    hello[9] = PROTOCOL_VERSION;
    hello.set(nonceA, 10);
    await io.write(hello);

    const challenge = await io.readFrame();
    if (challenge[0] === KIND_REJECT) throw rejected(challenge);
    if (challenge[0] !== KIND_CHALLENGE || challenge.length !== CHALLENGE_LEN) {
      throw new AuthenticationFailed("handshake: expected CHALLENGE from the listener");
    }
    const nonceB = challenge.subarray(1, 1 + NONCE);
    const macL = challenge.subarray(1 + NONCE);
    const expected = await mac(options, LABEL_LISTENER, nonceA, nonceB);
    if (!timingSafeEqual(expected, macL)) {
      throw new AuthenticationFailed(
        "handshake: the listener does not know the secret of cluster " +
          JSON.stringify(options.cluster) + " (wrong secret or foreign cluster)",
      );
    }
    const proof = frame(KIND_PROOF, PROOF_LEN);
    proof.set(await mac(options, LABEL_DIALER, nonceB, nonceA), 5);
    // PROOF and INFO leave together: the listener authenticated itself
    // already, and it decodes INFO only after checking PROOF.
    await io.write(concat(proof, infoFrame(options.identity)));

    const info = await io.readFrame();
    if (info[0] === KIND_REJECT) throw rejected(info);
    return parseInfo(info, conn);
  });
}

/**
 * Runs the listener's side of the handshake on an accepted connection.
 *
 * @example
 * ```ts ignore
 * const conn = await listener.accept();
 * try {
 *   const them = await acceptHandshake(conn, { key, cluster: "denocos", identity: me });
 * } catch (e) {
 *   // AuthenticationFailed: conn is closed already; log and go on serving
 * }
 * ```
 *
 * @param conn the connection just accepted
 * @param options key, cluster, own identity, deadline
 * @returns the dialer's identity
 * @throws AuthenticationFailed when the dialer speaks another protocol, does
 *   not prove the secret, or the deadline passes; the connection is closed
 *   then
 */
export function acceptHandshake(
  conn: TransportConn,
  options: HandshakeOptions,
): Promise<PeerIdentity> {
  return guarded(conn, options, "listener", async (io) => {
    const hello = await io.readFrame();
    if (hello[0] !== KIND_HELLO || hello.length !== HELLO_LEN) {
      throw new AuthenticationFailed("handshake: expected HELLO from the dialer");
    }
    for (let i = 0; i < 4; i++) {
      if (hello[1 + i] !== MAGIC[i]) throw new AuthenticationFailed("handshake: bad magic");
    }
    if (hello[5] !== PROTOCOL_VERSION) {
      await io.write(reject(REJECT_VERSION));
      throw new AuthenticationFailed(`handshake: unsupported protocol version ${hello[5]}`);
    }
    const nonceA = hello.slice(6);
    const nonceB = crypto.getRandomValues(new Uint8Array(NONCE));
    const challenge = frame(KIND_CHALLENGE, CHALLENGE_LEN);
    challenge.set(nonceB, 5);
    challenge.set(await mac(options, LABEL_LISTENER, nonceA, nonceB), 5 + NONCE);
    await io.write(challenge);

    const proof = await io.readFrame();
    if (proof[0] !== KIND_PROOF || proof.length !== PROOF_LEN) {
      throw new AuthenticationFailed("handshake: expected PROOF from the dialer");
    }
    const expected = await mac(options, LABEL_DIALER, nonceB, nonceA);
    if (!timingSafeEqual(expected, proof.subarray(1))) {
      await io.write(reject(REJECT_PROOF));
      throw new AuthenticationFailed(
        "handshake: the dialer does not know the secret of cluster " +
          JSON.stringify(options.cluster) + " (wrong secret or foreign cluster)",
      );
    }
    const info = parseInfo(await io.readFrame(), conn);
    await io.write(infoFrame(options.identity));
    return info;
  });
}

/**
 * Compares two byte arrays in time that depends only on their lengths, so a
 * forger learns nothing from how long a refusal took.
 *
 * @example
 * ```ts ignore
 * timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 *
 * @param a one array
 * @param b the other
 * @returns whether they hold the same bytes
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Checks that a decoded `INFO` body has exactly the expected shape.
 *
 * @example
 * ```ts ignore
 * validateInfo({ id: "a1", name: "a", incarnation: 1, location: { hostname: "h", port: 1 } }); // ok
 * validateInfo({ id: "a1" }); // throws AuthenticationFailed
 * ```
 *
 * @param value the decoded body
 * @returns it, typed
 * @throws AuthenticationFailed naming what is wrong
 */
export function validateInfo(value: unknown): PeerIdentity {
  const bad = (why: string) => new AuthenticationFailed(`handshake: bad INFO: ${why}`);
  if (!isPlainObject(value)) throw bad("not a map");
  const keys = Object.keys(value);
  if (keys.length !== 4) throw bad("expected exactly id, name, incarnation, location");
  const { id, name, incarnation, location } = value as Record<string, unknown>;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID) throw bad("id");
  if (typeof name !== "string" || name.length > MAX_NAME) throw bad("name");
  if (typeof incarnation !== "number" || !Number.isSafeInteger(incarnation) || incarnation < 0) {
    throw bad("incarnation");
  }
  if (!isPlainObject(location) || Object.keys(location).length !== 2) throw bad("location");
  const { hostname, port } = location as Record<string, unknown>;
  if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > MAX_HOST) {
    throw bad("location.hostname");
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad("location.port");
  }
  return { id, name, incarnation, location: { hostname, port } };
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function parseInfo(body: Uint8Array, conn: TransportConn): PeerIdentity {
  if (body[0] !== KIND_MSG) throw new AuthenticationFailed("handshake: expected INFO");
  let value: unknown;
  try {
    value = unpackr.unpack(body.subarray(1));
  } catch (e) {
    throw new AuthenticationFailed("handshake: INFO is not valid MessagePack", { cause: e });
  }
  const info = validateInfo(value);
  const host = info.location.hostname;
  // A peer listening on every interface cannot say which address we reach
  // it by; the one we are talking to is the best answer.
  if (host === "0.0.0.0" || host === "::" || host === "[::]") {
    return { ...info, location: { hostname: conn.remoteAddr.hostname, port: info.location.port } };
  }
  return info;
}

function infoFrame(identity: PeerIdentity): Uint8Array {
  const body = packr.pack({
    id: identity.id,
    name: identity.name,
    incarnation: identity.incarnation,
    location: { hostname: identity.location.hostname, port: identity.location.port },
  });
  if (body.length + 1 > MAX_HANDSHAKE_FRAME) {
    throw new RangeError(`INFO is ${body.length} bytes, over ${MAX_HANDSHAKE_FRAME}`);
  }
  const out = frame(KIND_MSG, body.length + 1);
  out.set(body, 5);
  return out;
}

async function mac(
  options: HandshakeOptions,
  label: Uint8Array,
  first: Uint8Array,
  second: Uint8Array,
): Promise<Uint8Array> {
  const cluster = encoder.encode(options.cluster);
  if (cluster.length > MAX_CLUSTER) throw new RangeError("cluster name over 1024 bytes");
  const data = new Uint8Array(label.length + 2 + cluster.length + first.length + second.length);
  let at = 0;
  data.set(label, at);
  at += label.length;
  data[at++] = cluster.length >> 8;
  data[at++] = cluster.length & 0xff;
  data.set(cluster, at);
  at += cluster.length;
  data.set(first, at);
  data.set(second, at + first.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", options.key, data));
}

/** A frame of `length` body bytes whose header and kind are filled in. */
function frame(kind: number, length: number): Uint8Array {
  const out = new Uint8Array(4 + length);
  new DataView(out.buffer).setUint32(0, length);
  out[4] = kind;
  return out;
}

function reject(code: number): Uint8Array {
  const out = frame(KIND_REJECT, 2);
  out[5] = code;
  return out;
}

function rejected(body: Uint8Array): AuthenticationFailed {
  const why = body[1] === REJECT_VERSION
    ? "the listener does not speak protocol version " + PROTOCOL_VERSION
    : body[1] === REJECT_PROOF
    ? "the listener refused our proof (wrong secret or foreign cluster)"
    : "the listener refused the handshake";
  return new AuthenticationFailed(`handshake: ${why}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Exact reads and whole writes on the connection, under the deadline. */
interface HandshakeIo {
  readFrame(): Promise<Uint8Array>;
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * Runs one side's steps with the deadline and the signal armed; any failure
 * closes the connection and comes out as `AuthenticationFailed`.
 */
async function guarded(
  conn: TransportConn,
  options: HandshakeOptions,
  side: string,
  steps: (io: HandshakeIo) => Promise<PeerIdentity>,
): Promise<PeerIdentity> {
  const timeout = options.timeout ?? HANDSHAKE_TIMEOUT;
  const signal = options.signal;
  let why: string | undefined;
  const stop = (reason: string) => {
    why ??= reason;
    closeQuietly(conn);
  };
  const timer = setTimeout(() => stop(`handshake timed out after ${timeout} ms`), timeout);
  const onAbort = () => stop("handshake aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  const header = new Uint8Array(4);
  const io: HandshakeIo = {
    async readFrame() {
      await readExactly(conn, header);
      const length = (header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3]) >>> 0;
      if (length === 0 || length > MAX_HANDSHAKE_FRAME) {
        throw new AuthenticationFailed(
          `handshake: frame of ${length} bytes before authentication (limit ${MAX_HANDSHAKE_FRAME})`,
        );
      }
      const body = new Uint8Array(length);
      await readExactly(conn, body);
      return body;
    },
    async write(bytes) {
      let at = 0;
      while (at < bytes.length) at += await conn.write(bytes.subarray(at));
    },
  };
  try {
    if (signal?.aborted) throw new AuthenticationFailed("handshake aborted");
    return await steps(io);
  } catch (e) {
    closeQuietly(conn);
    if (why !== undefined) throw new AuthenticationFailed(`handshake (${side}): ${why}`);
    if (e instanceof AuthenticationFailed) throw e;
    throw new AuthenticationFailed(`handshake (${side}) failed: ${(e as Error)?.message ?? e}`, {
      cause: e,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Closes without caring whether it was closed already (a raw `Deno.Conn` throws then). */
function closeQuietly(conn: TransportConn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

async function readExactly(conn: TransportConn, into: Uint8Array): Promise<void> {
  let at = 0;
  while (at < into.length) {
    const n = await conn.read(into.subarray(at));
    if (n === null) throw new AuthenticationFailed("handshake: connection closed by the peer");
    at += n;
  }
}
