/**
 * `AsyncServer`: a listening TCP, TLS or Unix socket that tasks accept
 * connections from.
 *
 * @module
 */
import { currentTask } from "../core/context.ts";
import { type WaitOptions, waitOptionsError } from "../core/options.ts";
import { Scheduler } from "../core/scheduler.ts";
import { pendingError } from "../core/wait.ts";
import { Arrivals } from "./arrivals.ts";
import { AsyncSocket, checkSocketOptions, type SocketOptions } from "./async_socket.ts";
import { ConnectionClosed } from "./errors.ts";

/**
 * A TLS server's key pair, PEM encoded.
 *
 * @example
 * ```ts ignore
 * const tls: TlsServerOptions = {
 *   cert: await Deno.readTextFile("cert.pem"),
 *   key: await Deno.readTextFile("key.pem"),
 * };
 * ```
 */
export interface TlsServerOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
  /** ALPN protocols to announce. */
  alpnProtocols?: string[];
}

/**
 * Options for listening on TCP (optionally TLS).
 *
 * @example
 * ```ts
 * import type { TcpListenOptions } from "@denocos/denocos/io";
 *
 * const opts: TcpListenOptions = { hostname: "127.0.0.1", port: 0 };
 * console.log(opts.port); // 0
 * ```
 */
export interface TcpListenOptions extends SocketOptions {
  /** `"tcp"` (the default). */
  transport?: "tcp";
  /** Address to listen on (default `"0.0.0.0"`, as `Deno.listen`). */
  hostname?: string;
  /** Port to listen on (`0` picks a free one; see `localAddr`). */
  port?: number;
  /** A key pair: accepted connections are TLS (handshake on first use). */
  tls?: TlsServerOptions;
  /** Length of the kernel's queue of connections not yet accepted. */
  backlog?: number;
}

/**
 * Options for listening on a Unix domain socket.
 *
 * @example
 * ```ts
 * import type { UnixListenOptions } from "@denocos/denocos/io";
 *
 * const opts: UnixListenOptions = { transport: "unix", path: "/tmp/app.sock" };
 * console.log(opts.transport); // "unix"
 * ```
 */
export interface UnixListenOptions extends SocketOptions {
  /** `"unix"`. */
  transport: "unix";
  /** Path of the socket file (it must not exist yet). */
  path: string;
}

/**
 * Options for `AsyncServer.listen` / `AsyncSocket.listen`.
 *
 * @example
 * ```ts
 * import type { ListenOptions } from "@denocos/denocos/io";
 *
 * const opts: ListenOptions = { port: 0, maxMessageSize: 1 << 20 };
 * console.log(opts.maxMessageSize); // 1048576
 * ```
 */
export type ListenOptions = TcpListenOptions | UnixListenOptions;

/**
 * A listening socket. `accept` resolves the next connection as an
 * `AsyncSocket` (configured with the server's socket options); `for await`
 * iterates connections until the server is closed. Only one accept runs at
 * a time: a connection accepted for a caller who stopped waiting goes to the
 * next caller. `close()` stops listening (accepted sockets stay open) and is
 * also done by the owning scheduler's `finish()`.
 *
 * @example
 * ```ts
 * import { AsyncSocket, spawn } from "@denocos/denocos";
 *
 * await using server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0 });
 * const handler = spawn(async () => {
 *   for await (const conn of server) {
 *     await conn.sendAll("hi\n");
 *     conn.close();
 *   }
 * });
 * await using client = await AsyncSocket.connect({
 *   hostname: "127.0.0.1",
 *   port: server.localAddr.port,
 * });
 * console.log(await client.readLine()); // "hi"
 * server.close();
 * await handler.finish();
 * ```
 */
export class AsyncServer<A extends Deno.Addr = Deno.Addr>
  implements Disposable, AsyncDisposable, AsyncIterable<AsyncSocket<A>> {
  #listener: Deno.Listener;
  #options: SocketOptions;
  #scheduler: Scheduler;
  #conns: Arrivals<Deno.Conn, AsyncSocket<A>>;
  #acceptOp: Promise<void> | null = null;
  #closed = false;

  /**
   * Wraps a listener you already have. The server owns it from now on.
   *
   * @param listener from `Deno.listen` or `Deno.listenTls`
   * @param options socket options for accepted connections (checked here:
   *   a `RangeError` for a bad `maxMessageSize` or `bufferSize`), owning scheduler
   */
  constructor(listener: Deno.Listener, options?: SocketOptions) {
    checkSocketOptions(options);
    this.#listener = listener;
    this.#options = { ...options };
    this.#scheduler = options?.scheduler ?? currentTask()?.scheduler ?? Scheduler.default();
    this.#options.scheduler = this.#scheduler;
    this.#conns = new Arrivals(this.#startAccept, this.#wrap);
    this.#scheduler.adopt(this);
  }

  /**
   * Listens on TCP (optionally TLS) or a Unix socket. Bad socket options
   * (`maxMessageSize`, `bufferSize`) throw a `RangeError` here, before
   * anything listens.
   *
   * @example
   * ```ts
   * import { AsyncServer } from "@denocos/denocos/io";
   *
   * await using server = AsyncServer.listen({ hostname: "127.0.0.1", port: 0 });
   * console.log(server.localAddr.hostname); // "127.0.0.1"
   * ```
   */
  static listen(options: TcpListenOptions): AsyncServer<Deno.NetAddr>;
  /** Listens on a Unix domain socket. */
  static listen(options: UnixListenOptions): AsyncServer<Deno.UnixAddr>;
  /** Listens on TCP (optionally TLS) or a Unix socket, whichever `options` say. */
  static listen(options: ListenOptions): AsyncServer;
  static listen(options: ListenOptions): AsyncServer {
    if (options === null || typeof options !== "object") {
      throw new TypeError("listen: options must be an object");
    }
    checkSocketOptions(options); // before listening, so a refusal leaks no listener
    let listener: Deno.Listener;
    if (options.transport === "unix") {
      listener = Deno.listen({ transport: "unix", path: options.path });
    } else if (options.transport === undefined || options.transport === "tcp") {
      const base = {
        hostname: options.hostname,
        port: options.port ?? 0,
        tcpBacklog: options.backlog,
      };
      listener = options.tls === undefined
        ? Deno.listen({ ...base, transport: "tcp" })
        : Deno.listenTls({ ...base, ...options.tls, transport: "tcp" });
    } else {
      throw new TypeError(
        `listen: unknown transport '${(options as { transport: string }).transport}'`,
      );
    }
    return new AsyncServer(listener, options);
  }

  /** The address the server listens on. */
  get localAddr(): A {
    return this.#listener.addr as A;
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves the next connection. Rejects with `ConnectionClosed` once the
   * server is closed, `TimeoutError` on timeout.
   *
   * @example
   * ```ts ignore
   * const conn = await server.accept({ timeout: 10_000 });
   * ```
   */
  accept(options?: WaitOptions): Promise<AsyncSocket<A>> {
    // Before the fast path, as every wait: an aborted signal takes no connection.
    const bad = waitOptionsError(options);
    if (bad !== undefined) return Promise.reject(bad);
    const task = currentTask();
    const err = pendingError(task);
    if (err !== undefined) return Promise.reject(err);
    if (this.#closed) return Promise.reject(new ConnectionClosed("server is closed"));
    return this.#conns.take(task, options);
  }

  /** Accepts connections until the server is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<AsyncSocket<A>> {
    for (;;) {
      let conn: AsyncSocket<A>;
      try {
        conn = await this.accept();
      } catch (e) {
        if (this.#closed && e instanceof ConnectionClosed) return;
        throw e;
      }
      yield conn;
    }
  }

  /**
   * Stops listening. Waiting `accept`s reject with `ConnectionClosed` (a
   * `for await` loop ends); connections already accepted stay open.
   *
   * @example
   * ```ts ignore
   * server.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.disown(this);
    for (const c of this.#conns.close(new ConnectionClosed("server is closed"))) closeQuietly(c);
    closeQuietly(this.#listener);
  }

  /** Same as `close` (for `using`); `await using` also waits for the pending accept to end. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the server and waits until its outstanding accept has ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#acceptOp;
  }

  #wrap = (conn: Deno.Conn): AsyncSocket<A> => new AsyncSocket<A>(conn, this.#options);

  #startAccept = (): void => {
    this.#acceptOp = this.#listener.accept().then(this.#onAccept, this.#onError);
  };

  #onAccept = (conn: Deno.Conn): void => {
    if (this.#closed) closeQuietly(conn);
    else this.#conns.arrived(conn);
  };

  #onError = (e: unknown): void => {
    // A failed accept (say, too many open files) fails one caller; the next
    // accept tries again.
    if (!this.#closed) this.#conns.failed(e);
  };
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}
