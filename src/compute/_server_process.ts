/**
 * Internal: the node's handle on one compute server process
 * (`_server_main.ts`): starts it with a heap cap and exactly the
 * permissions `declared ∩ allowed`, runs jobs in it, relays messages both
 * ways, and watches it. Everything the process writes is hostile: every
 * frame's length and shape is checked, and any frame that fails makes this
 * server fail (the process is killed, its jobs reject with `ServerFailed`,
 * `onExit` is called); the node itself never throws because of it.
 *
 * References: a value in a job's arguments for which `isRef` is true (by
 * default a core `Task` or anything with `[REMOTE_REF]`, such as a
 * `RemoteTask`) travels as an opaque ref id; inside the Worker it is a
 * proxy whose `send(message)` ends up here as
 * `onJobMessage(target, message, jobId)` with the original object, in the
 * order the job sent them. Refs live as long as the job that got them. A
 * job's own task in a value it sends out or returns arrives as
 * `jobRef(jobId)` (default `{ jobId }`).
 *
 * How the node uses it: one `ServerProcess` per server and computation
 * (never shared between computations: jobs in one Worker share its realm);
 * `start` with the materialized folder, the declared and the operator's
 * permissions, `protect: [cache.dir]` and the heap cap; `run` jobs under ids
 * it picks, up to as many at once as it wants (`busy`); relay `send` /
 * `terminate` from the network, and `onJobMessage` back to it; on `onExit`
 * report the server lost and start another. `nodeSetup` (once per node) can
 * run as a job of a first server with the same permissions, its result
 * passed to every server as `setupArgs` of `serverSetup`.
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import * as nodePath from "node:path";
import { getLogger } from "@logtape/logtape";
import { REMOTE_REF, Task } from "../core/_internal.ts";
import { ServerFailed } from "./server_failed.ts";
import { Codec, type CodecContext, type TaskRefRecord } from "../net/codec.ts";
import {
  FAILED,
  FrameReader,
  FrameWriter,
  INIT,
  JOB_PEER,
  MESSAGE,
  READY,
  REF_PEER,
  RESTARTED,
  RESULT,
  RUN,
  SEND,
  SETUP_FAILED,
  TERMINATE,
  VALUE_HEADROOM,
} from "./_server_protocol.ts";
import {
  intersectPermissions,
  permissionFlags,
  type PermissionSet,
  type ResolvedPermissions,
  withRead,
  writeReaches,
} from "./_permissions.ts";

export { ServerFailed };

const logger = getLogger(["denocos", "server"]);
const SERVER_SCRIPT = new URL("./_server_main.ts", import.meta.url);
/** What the server process must read besides the code: denocos itself (not with `deno compile`). */
const PACKAGE_ROOT = new URL("../../", import.meta.url);
const NOWHERE = Object.freeze({ hostname: "", port: 0 });

/** How a server process ended. */
export interface ServerExit {
  /** The exit code (`null` while unknown). */
  code: number | null;
  /** The signal that killed it, if any (`SIGTRAP`/`SIGABRT` after running out of heap). */
  signal: Deno.Signal | null;
  /** Why: `"closed"` after `close()`, else what went wrong. */
  reason: string;
}

/** Options for {@linkcode ServerProcess.start}. */
export interface ServerProcessOptions {
  /** The computation's materialized folder (`CodeCache.materialize`). */
  codeDir: string;
  /** The entry module: a `file:` URL or a path, inside `codeDir`. */
  entry: string | URL;
  /** What the computation declares (untrusted). */
  permissions?: PermissionSet | "none";
  /** What the node operator allows (default none). */
  allowed?: PermissionSet | "none";
  /** What relative permission paths resolve against (default `Deno.cwd()`). */
  cwd?: string;
  /**
   * Folders no write grant may reach (besides `codeDir`, always): pass the
   * node's `CodeCache` folder, whose objects every computation's code is
   * linked to. A grant that reaches one fails the start with `TypeError`.
   */
  protect?: string[];
  /** V8 heap cap of the process in MiB (default 512). */
  memoryMB?: number;
  /** An export run once in the Worker before any job; its result is `task.setup` in jobs. */
  serverSetup?: string;
  /** Arguments for `serverSetup` (after its task). */
  setupArgs?: unknown[];
  /** How long a terminated job may take to end before its Worker is killed (default 1,000 ms). */
  graceMs?: number;
  /** How long the server may take to be ready (default 30,000 ms). */
  timeout?: number;
  /** Aborts the start. */
  signal?: AbortSignal;
  /** A job sent `message` to `target`, an object from its arguments. */
  onJobMessage?: (target: object, message: unknown, jobId: number) => void;
  /** The Worker was stuck (or crashed) and was replaced; its jobs have failed. */
  onRestart?: (reason: string) => void;
  /** The process ended (after every pending job has been rejected). */
  onExit?: (exit: ServerExit) => void;
  /** Which argument values travel as references (default: core `Task` or `[REMOTE_REF]`). */
  isRef?: (value: unknown) => boolean;
  /**
   * What a job's own task stands for on this side (default `{ jobId }`).
   * `jobId` comes from the server: it may name no job of this server.
   */
  jobRef?: (jobId: number) => unknown;
  /** Tests only: the server script to run instead of `_server_main.ts`. */
  script?: URL;
  /**
   * How to launch the server: gets the `deno run` arguments (flags, then the
   * script URL) and returns the program and arguments to spawn. Default:
   * `Deno.execPath()` with them as they are. A compiled `denocos` binary
   * needs its own (its `Deno.execPath()` is not `deno`).
   */
  command?: (args: string[]) => { path: string; args: string[] };
}

/** Variables a server always gets (Deno needs them for its cache); the rest only as allowed. */
const BASE_ENV = ["HOME", "PATH", "DENO_DIR", "TMPDIR", "XDG_CACHE_HOME", "NO_COLOR"];

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  refs: number[] | null;
}

/**
 * One running server process, seen from the node.
 *
 * @example
 * ```ts ignore
 * const server = await ServerProcess.start({ codeDir: dir, entry: "job.ts", memoryMB: 256 });
 * console.log(await server.run(1, "double", [21])); // 42
 * await server.close();
 * ```
 */
export class ServerProcess {
  /** The process id. */
  readonly pid: number;
  /** The permissions its Worker has (`declared ∩ allowed`, plus read on the code). */
  readonly permissions: ResolvedPermissions;
  readonly #child: Deno.ChildProcess;
  readonly #writer: FrameWriter;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #wire: Codec;
  readonly #values: Codec;
  readonly #pending = new Map<number, Pending>();
  readonly #refs = new Map<number, { target: object; jobId: number }>();
  readonly #options: ServerProcessOptions;
  #nextRef = 1;
  #encodingFor: Pending | null = null;
  #ended = false;
  #failure: string | null = null;
  #ready: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  #done: Promise<void>;
  /** Messages from jobs to refs that had already been released (dropped). */
  dropped = 0;
  /** How many times the server replaced its Worker (stuck, crashed or closed by a job). */
  restarts = 0;

  private constructor(
    child: Deno.ChildProcess,
    permissions: ResolvedPermissions,
    options: ServerProcessOptions,
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.permissions = permissions;
    this.#options = options;
    const noRefs = { isTask: () => false, isChannel: () => false } as unknown as CodecContext;
    this.#wire = new Codec(noRefs);
    const isRef = options.isRef ?? defaultIsRef;
    const jobRef = options.jobRef ?? ((jobId: number) => ({ jobId }));
    const context: CodecContext = {
      isTask: isRef,
      isChannel: () => false,
      encodeTask: (target): TaskRefRecord => {
        const p = this.#encodingFor;
        if (p === null) throw new TypeError("a reference outside a job's arguments");
        const id = this.#nextRef++;
        this.#refs.set(id, { target, jobId: -1 });
        (p.refs ??= []).push(id);
        const name = (target as { name?: unknown }).name;
        return {
          peer: REF_PEER,
          incarnation: 0,
          id,
          name: typeof name === "string" ? name.slice(0, 256) : "ref",
          location: NOWHERE,
        };
      },
      decodeTask: (r) => {
        if (r.peer === JOB_PEER) return jobRef(r.id);
        if (r.peer === REF_PEER) {
          // A ref whose job has ended (a job kept it and sent it back later)
          // is gone: it arrives as `null`, which fails no one.
          return this.#refs.get(r.id)?.target ?? null;
        }
        throw new TypeError("a reference of a kind this node never gives out");
      },
      encodeChannel: () => {
        throw new TypeError("channels cannot be sent to a compute server");
      },
      decodeChannel: () => {
        throw new TypeError("a channel reference from a server");
      },
    };
    this.#values = new Codec(context, {
      maxMessageSize: this.#wire.limits.maxMessageSize - VALUE_HEADROOM,
    });
    this.#stdin = child.stdin.getWriter();
    this.#writer = new FrameWriter(
      (b) => this.#stdin.write(b),
      (e) => this.#fail(`writing to the server failed: ${(e as Error)?.message ?? e}`),
    );
    this.#done = Promise.all([this.#readOut(), this.#readErr()]).then(() => this.#watch());
  }

  /**
   * Starts a server process and resolves once its Worker has loaded the
   * module and run `serverSetup`. Rejects with `ServerFailed` (setup
   * failed, process exited, timeout) or `TypeError` (bad permissions).
   */
  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    const codeDir = nodePath.resolve(options.codeDir);
    const entry = typeof options.entry === "string" && !options.entry.startsWith("file:")
      ? pathToFileURL(nodePath.resolve(codeDir, options.entry))
      : new URL(options.entry);
    const entryPath = fileURLToPath(entry);
    if (!entryPath.startsWith(codeDir + nodePath.sep)) {
      throw new TypeError("ServerProcess.start: 'entry' must lie inside 'codeDir'");
    }
    const effective = intersectPermissions(options.permissions, options.allowed, {
      cwd: options.cwd,
    });
    for (const p of [codeDir, ...(options.protect ?? [])]) {
      if (writeReaches(effective, p)) {
        throw new TypeError(
          `ServerProcess.start: the write permission reaches ${p}, which holds the node's code`,
        );
      }
    }
    const workerPerms = withRead(effective, [codeDir]);
    const memoryMB = options.memoryMB ?? 512;
    if (!Number.isInteger(memoryMB) || memoryMB < 16) {
      throw new RangeError("ServerProcess.start: 'memoryMB' must be an integer of at least 16");
    }
    const args = [
      "run",
      "--quiet",
      "--no-prompt",
      "--unstable-worker-options",
      `--v8-flags=--max-old-space-size=${memoryMB}`,
    ];
    const extraRead = [codeDir];
    if (PACKAGE_ROOT.protocol === "file:") {
      const root = fileURLToPath(PACKAGE_ROOT);
      extraRead.push(root);
      try {
        Deno.statSync(nodePath.join(root, "deno.json"));
        args.push(`--config=${nodePath.join(root, "deno.json")}`);
      } catch {
        // Installed as a package: no config of ours to point at.
      }
    }
    args.push(...permissionFlags(effective, extraRead), (options.script ?? SERVER_SCRIPT).href);
    const launch = options.command?.(args) ?? { path: Deno.execPath(), args };
    const child = new Deno.Command(launch.path, {
      args: launch.args,
      // The node's environment may hold its secrets: a server gets only what
      // Deno needs and what its Worker may read.
      clearEnv: effective.env !== true,
      env: serverEnv(effective.env),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new ServerProcess(child, workerPerms, options);
    const ready = new Promise<void>((resolve, reject) => server.#ready = { resolve, reject });
    const setupArgs = options.setupArgs === undefined
      ? null
      : server.#values.encode(options.setupArgs).slice();
    server.#frame([INIT, {
      entry: entry.href,
      setup: options.serverSetup ?? null,
      setupArgs,
      permissions: workerPerms,
      graceMs: options.graceMs ?? 1000,
    }]);
    const timeout = options.timeout ?? 30_000;
    const timer = setTimeout(
      () => server.#fail(`the server was not ready within ${timeout} ms`),
      timeout,
    );
    const onAbort = () => server.#fail("the start was aborted");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await ready;
    } catch (e) {
      await server.#done;
      throw e;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    return server;
  }

  /** Jobs running (sent and not yet ended). */
  get busy(): number {
    return this.#pending.size;
  }

  /** Whether the process has ended or failed. */
  get closed(): boolean {
    return this.#ended || this.#failure !== null;
  }

  /**
   * Runs export `exportName` as `fn(task, ...args)` under `jobId` (unique
   * among this server's running jobs). Resolves with the job's result,
   * rejects with its error as the codec carries it, `TaskTerminated` after
   * `terminate` (or once `signal` aborts), `ServerFailed` if the server
   * goes, or at once with `TypeError` / `RangeError` for arguments the codec
   * cannot carry or that are too large.
   */
  run(
    jobId: number,
    exportName: string,
    args: unknown[],
    options?: { signal?: AbortSignal },
  ): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new ServerFailed(this.#failure ?? "the server has exited"));
    }
    if (!Number.isSafeInteger(jobId) || this.#pending.has(jobId)) {
      return Promise.reject(new TypeError(`run: job id ${jobId} is not a new safe integer`));
    }
    let resolve!: (v: unknown) => void, reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((a, b) => {
      resolve = a;
      reject = b;
    });
    const p: Pending = { resolve, reject, refs: null };
    let bytes: Uint8Array;
    this.#encodingFor = p;
    try {
      bytes = this.#values.encode(args).slice();
    } catch (e) {
      this.#release(p);
      return Promise.reject(e);
    } finally {
      this.#encodingFor = null;
    }
    if (p.refs !== null) { for (const r of p.refs) this.#refs.get(r)!.jobId = jobId; }
    if (typeof exportName !== "string" || exportName.length > 256) {
      this.#release(p);
      return Promise.reject(new TypeError("run: 'exportName' must be a string of at most 256"));
    }
    this.#pending.set(jobId, p);
    this.#frame([RUN, jobId, exportName, bytes]);
    const signal = options?.signal;
    if (signal !== undefined) {
      if (signal.aborted) this.terminate(jobId);
      else {
        const onAbort = () => this.terminate(jobId);
        signal.addEventListener("abort", onAbort, { once: true });
        const off = () => signal.removeEventListener("abort", onAbort);
        promise.then(off, off);
      }
    }
    return promise;
  }

  /**
   * Sends `message` to running job `jobId` (it arrives through `task.receive()`).
   * `false` if no such job is running. Throws `TypeError` / `RangeError` for
   * a value the codec cannot carry or that is too large.
   */
  send(jobId: number, message: unknown): boolean {
    const p = this.#pending.get(jobId);
    if (p === undefined || this.closed) return false;
    this.#encodingFor = p;
    let bytes: Uint8Array;
    try {
      bytes = this.#values.encode(message).slice();
    } finally {
      this.#encodingFor = null;
    }
    if (p.refs !== null) { for (const r of p.refs) this.#refs.get(r)!.jobId = jobId; }
    this.#frame([SEND, jobId, bytes]);
    return true;
  }

  /**
   * Terminates job `jobId`: its waits reject with `TaskTerminated`; if it
   * does not end within `graceMs` (a synchronous loop), its Worker is killed
   * and replaced. `false` if no such job is running.
   */
  terminate(jobId: number): boolean {
    if (!this.#pending.has(jobId) || this.closed) return false;
    this.#frame([TERMINATE, jobId]);
    return true;
  }

  /**
   * Stops the server: its stdin is closed (it exits), and after `timeout`
   * ms (default 2,000) it is killed. Pending jobs reject with `ServerFailed`.
   */
  async close(options?: { timeout?: number }): Promise<void> {
    if (!this.closed) {
      this.#failure = "closed";
      this.#writer.close();
      this.#stdin.close().catch(() => {});
      const t = setTimeout(() => this.#kill(), options?.timeout ?? 2000);
      try {
        await this.#done;
      } finally {
        clearTimeout(t);
      }
    }
    await this.#done;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #frame(f: unknown[]): void {
    this.#writer.frame(this.#wire.encode(f));
  }

  #release(p: Pending): void {
    if (p.refs !== null) { for (const r of p.refs) this.#refs.delete(r); }
  }

  #kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  /** Fails this server: the process is killed, its jobs reject. */
  #fail(reason: string): void {
    if (this.closed) return;
    this.#failure = reason;
    logger.warn("server {pid} failed: {reason}", { pid: this.pid, reason });
    this.#writer.close();
    this.#stdin.close().catch(() => {});
    this.#kill();
    this.#rejectAll(reason);
  }

  #rejectAll(reason: string): void {
    const err = new ServerFailed(`server ${this.pid}: ${reason}`);
    const r = this.#ready;
    this.#ready = null;
    r?.reject(err);
    const jobs = [...this.#pending.values()];
    this.#pending.clear();
    this.#refs.clear();
    for (const p of jobs) p.reject(err);
  }

  async #readOut(): Promise<void> {
    const reader = new FrameReader(this.#wire.limits.maxMessageSize);
    const onFrame = (b: Uint8Array) => this.#onFrame(b);
    try {
      for await (const chunk of this.#child.stdout) {
        if (this.#failure !== null) continue;
        try {
          reader.push(chunk, onFrame);
        } catch (e) {
          this.#fail(`a malformed frame: ${(e as Error)?.message ?? e}`);
        }
      }
      if (reader.pending > 0) this.#fail("its output ended inside a frame");
    } catch (e) {
      this.#fail(`reading its output failed: ${(e as Error)?.message ?? e}`);
    }
  }

  async #readErr(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.#child.stderr) {
      const text = dec.decode(chunk.subarray(0, 4096), { stream: false }).trimEnd();
      if (text.length > 0) logger.info("server {pid}: {text}", { pid: this.pid, text });
    }
  }

  async #watch(): Promise<void> {
    const status = await this.#child.status;
    this.#writer.close();
    try {
      await this.#stdin.close();
    } catch {
      // Closed already, or the pipe is broken.
    }
    const reason = this.#failure ??
      (status.signal !== null
        ? `killed by ${status.signal}${
          status.signal === "SIGTRAP" || status.signal === "SIGABRT" ? " (out of memory?)" : ""
        }`
        : `exited with code ${status.code}`);
    if (this.#failure === null) {
      this.#failure = reason;
      logger.warn("server {pid} ended: {reason}", { pid: this.pid, reason });
    }
    this.#ended = true;
    this.#rejectAll(reason);
    this.#options.onExit?.({ code: status.code, signal: status.signal, reason });
  }

  #onFrame(body: Uint8Array): void {
    let f: unknown;
    try {
      f = this.#wire.decode(body);
    } catch (e) {
      return this.#fail(`an undecodable frame: ${(e as Error).message}`);
    }
    if (!Array.isArray(f) || f.length < 2 || f.length > 3) {
      return this.#fail("a frame that is not a message");
    }
    const kind = f[0], a = f[1], b = f[2];
    if (kind === RESULT || kind === FAILED) {
      if (f.length !== 3 || !(b instanceof Uint8Array)) return this.#fail("a bad result frame");
      const p = this.#pending.get(a as number);
      if (p === undefined) return this.#fail(`a result for job ${a}, which is not running`);
      let v: unknown;
      try {
        v = this.#values.decode(b);
      } catch (e) {
        return this.#fail(`an undecodable result: ${(e as Error).message}`);
      }
      this.#pending.delete(a as number);
      this.#release(p);
      if (kind === RESULT) p.resolve(v);
      else p.reject(v);
    } else if (kind === MESSAGE) {
      if (f.length !== 3 || !Number.isSafeInteger(a) || !(b instanceof Uint8Array)) {
        return this.#fail("a bad message frame");
      }
      const ref = this.#refs.get(a as number);
      if (ref === undefined) {
        this.dropped++;
        return;
      }
      let m: unknown;
      try {
        m = this.#values.decode(b);
      } catch (e) {
        return this.#fail(`an undecodable message: ${(e as Error).message}`);
      }
      this.#options.onJobMessage?.(ref.target, m, ref.jobId);
    } else if (kind === READY) {
      if (f.length !== 2 || this.#ready === null) return this.#fail("an unexpected READY");
      const r = this.#ready;
      this.#ready = null;
      r.resolve();
    } else if (kind === SETUP_FAILED) {
      // Also after a Worker replacement: the new Worker's setup failed.
      if (!(a instanceof Uint8Array)) return this.#fail("a bad SETUP_FAILED frame");
      let why = "the setup failed";
      try {
        const e = this.#values.decode(a) as Error;
        why = `the setup failed: ${String(e?.message ?? e).slice(0, 4096)}`;
      } catch {
        // The reason itself is malformed: the generic one will do.
      }
      this.#fail(why);
    } else if (kind === RESTARTED) {
      if (f.length !== 2 || typeof a !== "string") return this.#fail("a bad RESTARTED frame");
      this.restarts++;
      logger.warn("server {pid} replaced its Worker: {reason}", { pid: this.pid, reason: a });
      this.#options.onRestart?.(a);
    } else this.#fail("a frame of an unknown kind");
  }
}

function serverEnv(env: boolean | string[]): Record<string, string> | undefined {
  if (env === true) return undefined;
  const out: Record<string, string> = {};
  const names = env === false ? BASE_ENV : [...BASE_ENV, ...env];
  let all: Record<string, string> | null = null;
  for (const n of names) {
    try {
      if (n.endsWith("*")) {
        all ??= Deno.env.toObject();
        const p = n.slice(0, -1);
        for (const k in all) if (k.startsWith(p)) out[k] = all[k];
      } else {
        const v = Deno.env.get(n);
        if (v !== undefined) out[n] = v;
      }
    } catch (e) {
      // A node run with narrow --allow-env passes on only what it may read.
      if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
        throw e;
      }
    }
  }
  return out;
}

function defaultIsRef(v: unknown): boolean {
  return v instanceof Task || (typeof v === "object" && v !== null && REMOTE_REF in v);
}
