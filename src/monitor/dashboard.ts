/**
 * `Dashboard`: a web page that shows a computation's cluster live (pycos's
 * `httpd`). It taps the computation's status stream (the computation's own
 * status task still gets every message), keeps a `ClusterModel`, and serves
 * on `Deno.serve`:
 *
 * - `GET /`: the page (static assets shipped in the package, nothing from
 *   outside);
 * - `GET /api/snapshot`: the whole picture as JSON (`Snapshot`);
 * - `GET /api/events`: server-sent events, a `snapshot` event first, then
 *   `changes` events (`ChangeBatch`), at most one every `interval` ms
 *   (100 by default: at most 10 a second however busy the cluster);
 * - `POST /api/terminate` `{"job": key}`: terminates the running job with
 *   that key (`JobView.key`, `host:port/incarnation/id`: one job in the
 *   cluster, never another node's job with the same id);
 * - `POST /api/suspend` / `POST /api/resume` `{"node": "host:port"}` or
 *   `{"server": "host:port/index"}`: no new jobs there / again (sources
 *   with `suspend` / `resume`, as `Computation`; others answer 501). The
 *   model marks those servers (`ServerView.suspended`), and the page shows
 *   Suspend / Resume buttons when the source can (`Snapshot.suspendable`).
 *
 * Actions need the `token` (`Authorization: Bearer <token>`) unless the
 * dashboard is bound to a loopback address; bound elsewhere without one, it
 * makes one up and prints it. Every error is a 4xx (or 5xx) JSON body
 * `{ "error": "…" }`; nothing a client sends can crash it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { NodeAvailability } from "../compute/status_message.ts";
import { type ChangeBatch, ClusterModel, type ClusterModelOptions } from "./cluster_model.ts";

const logger = getLogger(["denocos", "monitor"]);

/**
 * What a dashboard watches: anything whose status stream it can tap, as a
 * `Computation` (`addStatusListener`).
 *
 * @example
 * ```ts
 * import type { StatusSource } from "@denocos/denocos/monitor";
 *
 * const listeners: ((m: unknown) => void)[] = [];
 * const source: StatusSource = {
 *   addStatusListener(fn) {
 *     listeners.push(fn);
 *     return () => listeners.splice(listeners.indexOf(fn), 1);
 *   },
 * };
 * console.log(typeof source.addStatusListener); // "function"
 * ```
 */
export interface StatusSource {
  /** Calls `listener` with every status message; returns a function that stops it. */
  addStatusListener(listener: (message: unknown) => void): () => void;
}

/**
 * Options for `new Dashboard`.
 *
 * @example
 * ```ts
 * import type { DashboardOptions } from "@denocos/denocos/monitor";
 *
 * const options: DashboardOptions = { hostname: "127.0.0.1", port: 0 };
 * console.log(options.port);
 * ```
 */
export interface DashboardOptions extends ClusterModelOptions {
  /** Address to listen on (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to listen on (default 8181; 0 picks a free one). */
  port?: number;
  /**
   * The secret that actions need. Required in effect off loopback: when
   * bound elsewhere without one, a random token is made and printed.
   */
  token?: string;
  /** Least time between two pushes of changes, in ms (default 100). */
  interval?: number;
  /** Viewers connected at once (default 64); more get 503. */
  maxViewers?: number;
  /** Called instead of printing to stdout the line saying where it serves. */
  onListen?: (info: { url: string; token: string | undefined }) => void;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};
/** Longest action body read. */
const MAX_BODY = 4096;
/** Bytes queued for one slow viewer before it is dropped (it reconnects to a fresh snapshot). */
const MAX_QUEUED = 4 * 1024 * 1024;
/** A comment this often keeps idle proxies from closing the stream. */
const HEARTBEAT = 15_000;
const enc = new TextEncoder();
const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/** Reads an asset next to this module: from the file system, or over HTTP(S) when loaded so. */
async function asset(file: string): Promise<Uint8Array<ArrayBuffer>> {
  let bytes = cache.get(file);
  if (bytes !== undefined) return bytes;
  const url = new URL(`./assets/${file}`, import.meta.url);
  bytes = url.protocol === "file:"
    ? await Deno.readFile(url)
    : new Uint8Array(await (await fetch(url)).arrayBuffer());
  cache.set(file, bytes);
  return bytes;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Compares two strings in time that depends on their length only. */
function sameSecret(a: string, b: string): boolean {
  const x = enc.encode(a), y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % (y.length || 1)] ?? 0);
  return diff === 0;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function fail(status: number, error: string): Response {
  return json(status, { error });
}

/** One connected viewer of the event stream. */
interface Viewer {
  controller: ReadableStreamDefaultController<Uint8Array>;
}

/**
 * A live web view of a computation's cluster, with a Terminate button on
 * each running job and, when the source can (a `Computation`), Suspend /
 * Resume buttons on each node and server.
 *
 * @example
 * ```ts ignore
 * import { Computation } from "@denocos/denocos/compute";
 * import { Dashboard } from "@denocos/denocos/monitor";
 *
 * const comp = new Computation({
 *   module: new URL("./job.ts", import.meta.url),
 *   nodes: [{ hostname: "127.0.0.1", port: 9706 }],
 * });
 * await using dashboard = new Dashboard(comp); // http://127.0.0.1:8181/
 * await comp.schedule();
 * // … run jobs and watch them …
 * await comp.close();
 * ```
 */
export class Dashboard implements AsyncDisposable {
  /** The model the page shows (read it for a snapshot in code). */
  readonly model: ClusterModel;
  /** The token actions need, or `undefined` when actions need none (loopback, none given). */
  readonly token: string | undefined;
  /** Where the page is: `http://host:port/`. */
  readonly url: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #loopback: boolean;
  readonly #interval: number;
  readonly #maxViewers: number;
  readonly #viewers = new Set<Viewer>();
  readonly #stop: () => void;
  /** What the actions act on (a `Computation` can suspend and resume servers). */
  readonly #source: StatusSource;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lastPush = -Infinity;
  #closed: Promise<void> | null = null;

  /**
   * Starts serving the page for `source` at once (the port is bound when
   * the constructor returns).
   *
   * @param source the computation (anything with `addStatusListener`)
   * @param options where to listen, the token, the model's bounds
   */
  constructor(source: StatusSource, options: DashboardOptions = {}) {
    if (typeof source?.addStatusListener !== "function") {
      throw new TypeError("Dashboard: the source has no addStatusListener (a Computation has)");
    }
    this.#source = source;
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 8181;
    const interval = options.interval ?? 100;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new RangeError(`Dashboard: 'interval' must be a non-negative number, got ${interval}`);
    }
    if (
      options.token !== undefined && (typeof options.token !== "string" || options.token === "")
    ) {
      throw new TypeError("Dashboard: 'token' must be a non-empty string");
    }
    this.#interval = interval;
    this.#maxViewers = options.maxViewers ?? 64;
    this.#loopback = isLoopback(hostname);
    const s = source as Partial<Record<"suspend" | "resume", unknown>>;
    this.model = new ClusterModel({
      ...options,
      suspendable: typeof s.suspend === "function" && typeof s.resume === "function",
    });
    let token = options.token;
    if (token === undefined && !this.#loopback) {
      token = Array.from(
        crypto.getRandomValues(new Uint8Array(16)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
    }
    this.token = token;
    this.#server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      onError: (e) => {
        logger.warn("dashboard request failed: {error}", { error: e });
        return fail(500, "internal error");
      },
    }, (req) => this.#handle(req));
    const addr = this.#server.addr;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    this.url = `http://${host}:${addr.port}/`;
    const model = this.model;
    // A suspend made on the source itself, not through the page, has no
    // status message: the servers' flags are read from the source (when it
    // lists them, as a Computation does) at most once a second, on a pulse.
    const servers = (source as { servers?: unknown }).servers;
    let synced = -Infinity;
    this.#stop = source.addStatusListener((m) => {
      let changed = model.apply(m);
      if (
        typeof servers === "function" && m instanceof NodeAvailability &&
        performance.now() - synced >= 1000
      ) {
        synced = performance.now();
        changed = this.#syncSuspended(servers.call(source)) || changed;
      }
      if (changed) this.#schedulePush();
    });
    const onListen = options.onListen ?? ((i) => {
      console.log(`dashboard on ${i.url}${i.token === undefined ? "" : ` token ${i.token}`}`);
    });
    onListen({ url: this.url, token: options.token === undefined ? token : undefined });
  }

  /** Marks the servers `list` says are suspended; whether any was known. */
  #syncSuspended(list: unknown): boolean {
    if (!Array.isArray(list)) return false;
    let changed = false;
    for (const s of list as { id?: unknown; suspended?: unknown }[]) {
      if (typeof s?.id !== "string" || typeof s.suspended !== "boolean") continue;
      changed = this.model.setSuspended(s.id, s.suspended) > 0 || changed;
    }
    return changed;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** How many viewers are connected to the event stream. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Stops listening to the computation, ends every event stream and stops serving. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#stop();
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    for (const v of this.#viewers) {
      try {
        v.controller.close();
      } catch { /* already cancelled by the viewer */ }
    }
    this.#viewers.clear();
    this.#closed = this.#server.shutdown();
    return this.#closed;
  }

  /** `await using dashboard = new Dashboard(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Pushes now if the last push is `interval` old, else once it is: at most one a period. */
  #schedulePush(): void {
    if (this.#timer !== undefined || this.#closed !== null) return;
    const wait = Math.max(0, this.#lastPush + this.#interval - performance.now());
    this.#timer = setTimeout(() => this.#push(), wait);
  }

  #push(): void {
    this.#timer = undefined;
    this.#lastPush = performance.now();
    const batch: ChangeBatch | null = this.model.takeChanges();
    if (batch === null || this.#viewers.size === 0) return;
    const bytes = enc.encode(`event: changes\ndata: ${JSON.stringify(batch)}\n\n`);
    for (const v of this.#viewers) this.#send(v, bytes);
  }

  #send(v: Viewer, bytes: Uint8Array): void {
    if ((v.controller.desiredSize ?? 0) < -MAX_QUEUED) {
      // Too slow to keep up: drop it; its EventSource reconnects to a fresh snapshot.
      this.#viewers.delete(v);
      try {
        v.controller.close();
      } catch { /* gone */ }
      return;
    }
    try {
      v.controller.enqueue(bytes);
    } catch {
      this.#viewers.delete(v);
    }
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (this.#loopback && !isLoopback(url.hostname)) {
      // Bound to loopback, yet asked for by another name: a DNS rebinding page.
      return fail(403, "this dashboard answers to loopback names only");
    }
    const path = url.pathname;
    if (path.startsWith("/api/")) {
      if (path === "/api/snapshot" || path === "/api/events") {
        if (req.method !== "GET") return fail(405, `${path} takes GET`);
        return path === "/api/snapshot" ? json(200, this.model.snapshot()) : this.#events();
      }
      const action = path.slice(5);
      if (action !== "terminate" && action !== "suspend" && action !== "resume") {
        return fail(404, `no such endpoint: ${path.slice(0, 100)}`);
      }
      if (req.method !== "POST") return fail(405, `${path} takes POST`);
      return await this.#action(req, action);
    }
    const a = ASSETS[path];
    if (a === undefined) return fail(404, `no such page: ${path.slice(0, 100)}`);
    if (req.method !== "GET" && req.method !== "HEAD") return fail(405, "pages take GET");
    return new Response(req.method === "HEAD" ? null : await asset(a.file), {
      headers: {
        "content-type": a.type,
        "cache-control": "no-cache",
        "content-security-policy":
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
        "x-content-type-options": "nosniff",
      },
    });
  }

  async #action(req: Request, action: "terminate" | "suspend" | "resume"): Promise<Response> {
    const origin = req.headers.get("origin");
    if (origin !== null && origin !== new URL(req.url).origin) {
      return fail(403, "actions come from the dashboard's own page");
    }
    if (this.token !== undefined) {
      const auth = req.headers.get("authorization") ?? "";
      const given = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (!sameSecret(given, this.token)) return fail(401, "this action needs the token");
    }
    if (!(req.headers.get("content-type") ?? "").startsWith("application/json")) {
      return fail(415, "actions take a JSON body (content-type: application/json)");
    }
    const length = Number(req.headers.get("content-length") ?? "0");
    if (length > MAX_BODY) return fail(413, `the body is over ${MAX_BODY} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(await readBounded(req, MAX_BODY));
    } catch (e) {
      return fail(e instanceof RangeError ? 413 : 400, "the body is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return fail(400, "the body must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    if (action !== "terminate") {
      const target = b.node ?? b.server;
      if (typeof target !== "string" || target === "" || target.length > 300) {
        return fail(400, `${action} takes {"node"} or {"server"}`);
      }
      const act = (this.#source as Partial<Record<typeof action, (t: string) => number>>)[action];
      if (typeof act !== "function") return fail(501, `${action}: this source cannot ${action}`);
      let count: number;
      try {
        count = act.call(this.#source, target);
      } catch (e) {
        logger.warn("{action} {target} failed: {error}", { action, target, error: e });
        return fail(500, `${action} failed`);
      }
      // The model marks what the source did (its status stream does not say).
      const known = this.model.setSuspended(target, action === "suspend");
      if (known > 0) this.#schedulePush();
      if (count === 0) {
        return known > 0
          ? fail(409, `'${target}' is already ${action === "suspend" ? "suspended" : "resumed"}`)
          : fail(404, `no server to ${action} matches '${target}'`);
      }
      return json(200, { [action === "suspend" ? "suspended" : "resumed"]: count, target });
    }
    const key = b.job;
    if (typeof key !== "string" || key === "" || key.length > 512) {
      return fail(400, 'terminate takes {"job": "<job key>"}');
    }
    const task = this.model.task(key) as { terminate?: () => boolean } | undefined;
    if (task === undefined || typeof task.terminate !== "function") {
      return this.model.hasJob(key)
        ? fail(409, "that job has ended")
        : fail(404, "no such job (or it ended long ago)");
    }
    let sent: boolean;
    try {
      sent = task.terminate();
    } catch (e) {
      logger.warn("terminating {key} failed: {error}", { key, error: e });
      return fail(502, "the job's node could not be told");
    }
    return json(202, { job: key, terminating: sent });
  }

  #events(): Response {
    if (this.#closed !== null) return fail(503, "the dashboard is closing");
    if (this.#viewers.size >= this.#maxViewers) return fail(503, "too many viewers");
    let viewer: Viewer;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        viewer = { controller };
        this.#viewers.add(viewer);
        const snap = JSON.stringify(this.model.snapshot());
        controller.enqueue(enc.encode(`retry: 1000\nevent: snapshot\ndata: ${snap}\n\n`));
        if (this.#heartbeat === undefined) {
          this.#heartbeat = setInterval(() => {
            const ping = enc.encode(": ping\n\n");
            for (const v of this.#viewers) this.#send(v, ping);
          }, HEARTBEAT);
        }
      },
      cancel: () => {
        this.#viewers.delete(viewer);
        if (this.#viewers.size === 0) {
          clearInterval(this.#heartbeat);
          this.#heartbeat = undefined;
        }
      },
    }, { highWaterMark: 0, size: (chunk) => chunk.byteLength });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  }
}

/** Reads at most `max` bytes of a request body as text; throws `RangeError` past it. */
async function readBounded(req: Request, max: number): Promise<string> {
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new RangeError("body too large");
    }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}
