/**
 * `PeerHub`: the one door between the API layer and the wire. It listens,
 * authenticates every connection that arrives (each concurrently, each under
 * its own deadline), dials peers on request, and keeps exactly one
 * {@linkcode Link} per remote peer, resolving two dials that crossed into
 * one.
 *
 * A connection that fails the handshake (wrong secret, foreign cluster,
 * garbage, too slow) is closed and logged under `["denocos", "net"]`; the
 * hub goes on serving everyone else.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Location } from "../core/location.ts";
import { Connection } from "./_connection.ts";
import { AuthenticationFailed, PeerUnreachable } from "./errors.ts";
import {
  acceptHandshake,
  dialHandshake,
  HANDSHAKE_TIMEOUT,
  importHandshakeKey,
  type PeerIdentity,
} from "./_handshake.ts";
import { type Link, type LinkContext, PeerLink } from "./_link.ts";
import type { Transport, TransportConn, TransportListener } from "./transport.ts";

export type { PeerIdentity } from "./_handshake.ts";
export type { Link, LinkStatus } from "./_link.ts";

const logger = getLogger(["denocos", "net"]);

/** Where a link redials: the address it dialled and the CA certificates it trusted. */
export interface DialTarget {
  readonly hostname: string;
  readonly port: number;
  readonly caCerts?: string[];
}

/** Handshakes in progress at once (each unauthenticated connection waits up to its deadline). */
export const MAX_HANDSHAKING = 256;

/** The port pycos uses; when taken, the hub falls back to an ephemeral one. */
export const DEFAULT_PORT = 9705;

/** How a hub is set up. */
export interface HubOptions {
  /** Where bytes travel: `tcpTransport` or a `SimulatedNetwork`'s. */
  transport: Transport;
  /** The address to listen on. */
  hostname: string;
  /** The port; `0` is ephemeral, 9705 falls back to ephemeral when taken. */
  port: number;
  /** This scheduler's identity; the location is filled in by `start`. */
  identity: { id: string; name: string; incarnation: number };
  /** The cluster secret. */
  secret: string;
  /** The cluster name, bound into the handshake. */
  cluster: string;
  /** Certificate and key to listen with TLS. */
  tls?: { cert: string; key: string };
  /** A HEARTBEAT goes out after this long without a write, in ms. */
  heartbeatInterval: number;
  /** A peer silent (or unreachable) for this long is offline, in ms. */
  peerTimeout: number;
  /** The largest message accepted, in bytes. */
  maxMessageSize: number;
  /** Unacknowledged bytes per link (queued, in flight, kept to resend) before `MailboxFull`. */
  maxQueuedBytes: number;
  /** Deadline for one handshake in ms (default 5000; an extension for tests). */
  handshakeTimeout?: number;
}

/** What the hub tells the API layer. */
export interface HubHandlers {
  /** A link is authenticated and INFO exchanged (again after it was offline). */
  online(link: Link): void;
  /** A link was declared offline (timeout, goodbye, close). */
  offline(link: Link, reason: string): void;
  /** One whole message; `body` is valid only during the call. */
  message(link: Link, body: Uint8Array): void;
}

/** Options of {@linkcode PeerHub.connect}. */
export interface ConnectOptions {
  /** Give up after this many ms (dial and handshake together). */
  timeout?: number;
  /** Give up when it aborts. */
  signal?: AbortSignal;
  /** CA certificates to trust; given, the connection uses TLS. */
  caCerts?: string[];
}

/**
 * Listens for peers, dials peers, and keeps one link per peer.
 *
 * @example
 * ```ts ignore
 * const hub = await PeerHub.start({
 *   transport: tcpTransport, hostname: "127.0.0.1", port: 0,
 *   identity: { id: crypto.randomUUID(), name: "a", incarnation: 1 },
 *   secret: "s3cret", cluster: "denocos",
 *   heartbeatInterval: 500, peerTimeout: 2500,
 *   maxMessageSize: 64 << 20, maxQueuedBytes: 64 << 20,
 * }, { online() {}, offline() {}, message(link, body) {} });
 * const link = await hub.connect({ hostname: "127.0.0.1", port: 9705 });
 * link.send(new Uint8Array([1]));
 * await hub.close();
 * ```
 */
export class PeerHub {
  /** Where this hub listens (its INFO location). */
  readonly location: Location;
  readonly #options: HubOptions;
  readonly #handlers: HubHandlers;
  readonly #listener: TransportListener;
  readonly #key: CryptoKey;
  readonly #identity: PeerIdentity;
  readonly #links = new Map<string, PeerLink>();
  readonly #dials = new Map<string, Promise<Link>>();
  /** Connections in their handshake, closed if the hub closes first. */
  readonly #handshaking = new Set<TransportConn>();
  readonly #ctx: LinkContext;
  readonly #accepting: Promise<void>;
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Aborted by `close`, so that no dial or redial in progress outlives the hub. */
  readonly #abort = new AbortController();

  private constructor(
    options: HubOptions,
    handlers: HubHandlers,
    listener: TransportListener,
    key: CryptoKey,
  ) {
    this.#options = options;
    this.#handlers = handlers;
    this.#listener = listener;
    this.#key = key;
    this.location = { hostname: listener.addr.hostname, port: listener.addr.port };
    this.#identity = { ...options.identity, location: this.location };
    this.#ctx = {
      selfId: options.identity.id,
      heartbeatInterval: options.heartbeatInterval,
      peerTimeout: options.peerTimeout,
      maxQueuedBytes: options.maxQueuedBytes,
      maxMessageSize: options.maxMessageSize,
      redial: (link, to, timeout) => this.#track(this.#redial(link, to, timeout)),
      online: (link) => this.#handlers.online(link),
      offline: (link, reason) => this.#handlers.offline(link, reason),
      message: (link, body) => this.#handlers.message(link, body),
    };
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Listens and starts accepting peers.
   *
   * @param options transport, address, identity, secret, limits
   * @param handlers where links' events go
   * @returns the running hub
   * @throws PeerUnreachable when it cannot listen (`cause` says why)
   */
  static async start(options: HubOptions, handlers: HubHandlers): Promise<PeerHub> {
    validate(options);
    const key = await importHandshakeKey(options.secret);
    const { transport, hostname, port, tls } = options;
    let listener: TransportListener;
    try {
      try {
        listener = await transport.listen({ hostname, port, tls });
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || port !== DEFAULT_PORT) throw e;
        listener = await transport.listen({ hostname, port: 0, tls });
        logger.info("port {port} is taken; listening on {actual} instead", {
          port,
          actual: listener.addr.port,
        });
      }
    } catch (e) {
      throw new PeerUnreachable(
        `cannot listen on ${hostname}:${port}: ${(e as Error)?.message ?? e}`,
        { cause: e },
      );
    }
    return new PeerHub(options, handlers, listener, key);
  }

  /**
   * Connects to a peer and resolves its link once it is online. An online
   * link to that location is returned as it is; concurrent calls for one
   * location share one dial.
   *
   * @param to the peer's address
   * @param options timeout, signal, TLS CA certificates
   * @returns the link
   * @throws PeerUnreachable when the dial fails; AuthenticationFailed when the handshake does
   */
  connect(
    to: { hostname: string; port: number },
    options: ConnectOptions = {},
  ): Promise<Link> {
    if (this.#closed) return Promise.reject(new PeerUnreachable("the hub is closed"));
    for (const link of this.#links.values()) {
      const at = link.peer.location;
      if (link.online && at.hostname === to.hostname && at.port === to.port) {
        return Promise.resolve(link);
      }
    }
    const key = `${to.hostname}:${to.port}`;
    let dial = this.#dials.get(key);
    if (dial === undefined) {
      dial = this.#track(this.#dial(to, options)).finally(() => this.#dials.delete(key));
      this.#dials.set(key, dial);
    }
    return dial;
  }

  /**
   * The link to a peer, online or not.
   *
   * @param peerId the peer's id
   * @returns its link, if it was ever connected
   */
  link(peerId: string): Link | undefined {
    return this.#links.get(peerId);
  }

  /** The online links. */
  links(): Link[] {
    const out: Link[] = [];
    for (const link of this.#links.values()) if (link.online) out.push(link);
    return out;
  }

  /** Says GOODBYE to every peer, stops listening, closes every link. Idempotent. */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  /** Same as `close`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort(new PeerUnreachable("the hub is closed"));
    this.#listener.close();
    for (const conn of this.#handshaking) conn.close();
    await Promise.all([...this.#links.values()].map((link) => link.shutdown()));
    await this.#accepting;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    const done = () => this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: TransportConn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closed) return;
        logger.error("accept failed, no longer listening: {error}", { error: e });
        return;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      void this.#track(this.#accept(conn));
    }
  }

  async #accept(conn: TransportConn): Promise<void> {
    if (this.#handshaking.size >= MAX_HANDSHAKING) {
      // Unauthenticated connections cost memory and a timer each: past the
      // cap, newcomers are turned away until some handshakes finish.
      conn.close();
      logger.warn("refused a connection from {host}:{port}: {count} handshakes in progress", {
        host: conn.remoteAddr.hostname,
        port: conn.remoteAddr.port,
        count: this.#handshaking.size,
      });
      return;
    }
    this.#handshaking.add(conn);
    const from = conn.remoteAddr;
    try {
      const peer = await acceptHandshake(conn, this.#handshakeOptions());
      this.#handshaking.delete(conn);
      if (peer.id === this.#identity.id) throw new AuthenticationFailed("connected to itself");
      this.#register(conn, peer, null);
    } catch (e) {
      this.#handshaking.delete(conn);
      conn.close();
      if (this.#closed) return;
      logger.warn("refused a connection from {host}:{port}: {reason}", {
        host: from.hostname,
        port: from.port,
        reason: (e as Error)?.message ?? String(e),
      });
    }
  }

  async #dial(to: { hostname: string; port: number }, options: ConnectOptions): Promise<Link> {
    const signal = options.signal === undefined
      ? this.#abort.signal
      : AbortSignal.any([options.signal, this.#abort.signal]);
    try {
      return await this.#dialOnce(to, { ...options, signal });
    } catch (e) {
      // However far it got, an abort or a closing hub means "not reached".
      if (options.signal?.aborted && !(e instanceof PeerUnreachable)) {
        throw new PeerUnreachable(`connect to ${to.hostname}:${to.port} aborted`, {
          cause: options.signal.reason,
        });
      }
      if (this.#closed && !(e instanceof PeerUnreachable)) {
        throw new PeerUnreachable("the hub is closed", { cause: e });
      }
      throw e;
    }
  }

  async #dialOnce(
    to: { hostname: string; port: number },
    options: ConnectOptions,
  ): Promise<Link> {
    const start = performance.now();
    const conn = await this.#open(to, options.timeout, options.signal, options.caCerts);
    const remaining = options.timeout === undefined
      ? undefined
      : Math.max(1, options.timeout - (performance.now() - start));
    const peer = await this.#handshake(conn, remaining, options.signal);
    // Redials go where this one went, with the same trust.
    const dialTo = { hostname: to.hostname, port: to.port, caCerts: options.caCerts };
    const link = this.#register(conn, peer, dialTo);
    if (!link.online) throw new PeerUnreachable(`${to.hostname}:${to.port}: the hub is closed`);
    return link;
  }

  async #open(
    to: { hostname: string; port: number },
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    caCerts: string[] | undefined,
  ): Promise<TransportConn> {
    try {
      return await this.#options.transport.dial({
        hostname: to.hostname,
        port: to.port,
        timeout,
        signal,
        tls: caCerts !== undefined || this.#options.tls !== undefined,
        caCerts,
      });
    } catch (e) {
      throw new PeerUnreachable(
        `cannot reach ${to.hostname}:${to.port}: ${(e as Error)?.message ?? e}`,
        { cause: e },
      );
    }
  }

  async #handshake(
    conn: TransportConn,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<PeerIdentity> {
    if (this.#closed) {
      conn.close();
      throw new PeerUnreachable("the hub is closed");
    }
    this.#handshaking.add(conn);
    try {
      const options = this.#handshakeOptions();
      if (timeout !== undefined) options.timeout = Math.min(options.timeout!, timeout);
      options.signal = signal;
      const peer = await dialHandshake(conn, options);
      if (peer.id === this.#identity.id) {
        conn.close();
        throw new AuthenticationFailed("connected to itself");
      }
      return peer;
    } finally {
      this.#handshaking.delete(conn);
    }
  }

  /** A redial of `link`: the same peer (id and incarnation) or a failure. */
  async #redial(
    link: PeerLink,
    to: DialTarget,
    timeout: number,
  ): Promise<void> {
    if (this.#closed) throw new PeerUnreachable("the hub is closed");
    const start = performance.now();
    const conn = await this.#open(to, timeout, this.#abort.signal, to.caCerts);
    const peer = await this.#handshake(
      conn,
      Math.max(1, timeout - (performance.now() - start)),
      this.#abort.signal,
    );
    if (link.status === "closed" && !link.accepting) {
      // Closed while this redial was under way: it must not start a new link.
      conn.close();
      throw new PeerUnreachable(`the link to ${to.hostname}:${to.port} was closed`);
    }
    if (peer.id !== link.peer.id || peer.incarnation !== link.peer.incarnation) {
      // Someone else answers there now: the old peer is not coming back
      // through this address; the newcomer is a peer of its own.
      this.#register(conn, peer, to);
      throw new PeerUnreachable(`${to.hostname}:${to.port} is now ${peer.id}`);
    }
    this.#register(conn, peer, to);
  }

  #register(
    transportConn: TransportConn,
    peer: PeerIdentity,
    dialTo: DialTarget | null,
  ): PeerLink {
    const conn = new Connection(transportConn, peer, dialTo !== null, this.#options.maxMessageSize);
    let link = this.#links.get(peer.id);
    if (link !== undefined && link.status === "closed" && !link.accepting) {
      // Closed here for good; the peer calling again starts a new link (but
      // one closing takes the connection it waits for, to say GOODBYE on).
      link = undefined;
    } else if (link !== undefined && link.peer.incarnation !== peer.incarnation) {
      // A restarted peer is a new peer: the old one is gone for good.
      const old = link;
      link = undefined;
      this.#links.delete(peer.id);
      void this.#track(old.shutdown());
    }
    if (link === undefined) {
      link = new PeerLink(peer, this.#ctx);
      this.#links.set(peer.id, link);
    } else if (!link.online) {
      link.refresh(peer);
    }
    if (this.#closed) {
      conn.abort();
      return link;
    }
    link.attach(conn, dialTo);
    return link;
  }

  #handshakeOptions() {
    return {
      key: this.#key,
      cluster: this.#options.cluster,
      identity: this.#identity,
      timeout: this.#options.handshakeTimeout ?? HANDSHAKE_TIMEOUT,
      signal: undefined as AbortSignal | undefined,
    };
  }
}

function validate(options: HubOptions): void {
  const positive = [
    "heartbeatInterval",
    "peerTimeout",
    "maxMessageSize",
    "maxQueuedBytes",
  ] as const;
  for (const name of positive) {
    const v = options[name];
    if (typeof v !== "number" || !(v > 0)) {
      throw new RangeError(`hub: ${name} must be a number > 0, got ${v}`);
    }
  }
  if (typeof options.identity?.id !== "string" || options.identity.id === "") {
    throw new TypeError("hub: identity.id must be a non-empty string");
  }
}
