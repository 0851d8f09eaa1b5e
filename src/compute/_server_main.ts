/**
 * Internal: a compute server process; the node starts it (see
 * `ServerProcess` in `_server_process.ts`) as
 *
 * ```
 * deno run --v8-flags=--max-old-space-size=MB --unstable-worker-options --no-prompt \
 *   --allow-read=<code dir>,<denocos> <declared ∩ allowed> _server_main.ts
 * ```
 *
 * and talks to it over stdin/stdout (`_server_protocol.ts`). It runs no job
 * code itself: it hosts one Worker (`_server_worker.ts`) with the
 * computation's permissions and relays between it and the node. The heap
 * cap is the process's: a job that allocates without bound takes this
 * process down (V8 aborts it), and only it; the node sees it exit.
 *
 * A job that does not end within `graceMs` of being terminated (a
 * synchronous loop never yields to its scheduler) gets its Worker killed:
 * every job in that Worker is reported failed (the terminated ones with
 * `TaskTerminated`), the node is told `RESTARTED`, and a fresh Worker
 * (module loaded and `serverSetup` run again) takes the next jobs.
 *
 * Job output: the Worker's `console` writes to stderr; stdout is frames
 * only. A job can still write to `Deno.stdout` directly (it needs no
 * permission): whatever it writes is at worst a malformed frame, which makes
 * the node fail this server, or a frame it could have had sent through its
 * own channel anyway (same computation, same server).
 *
 * Exits when stdin ends (the node is gone) or the setup fails.
 *
 * @module
 */
import { TaskTerminated } from "../core/_internal.ts";
import { WorkerChannel } from "../io/_worker_channel.ts";
import { Codec, type CodecContext } from "../net/codec.ts";
import {
  FAILED,
  FrameReader,
  FrameWriter,
  INIT,
  MESSAGE,
  READY,
  RESTARTED,
  RESULT,
  RUN,
  SEND,
  SETUP_FAILED,
  TERMINATE,
  VALUE_HEADROOM,
  W_BATCH,
  W_CLOSING,
  W_FAILED,
  W_MESSAGE,
  W_READY,
  W_RESULT,
  W_RUN,
  W_SEND,
  W_SETUP_FAILED,
  W_TERMINATE,
  writeAll,
} from "./_server_protocol.ts";

const WORKER_SCRIPT = new URL("./_server_worker.ts", import.meta.url);
const noRefs = {
  isTask: () => false,
  isChannel: () => false,
} as unknown as CodecContext;
const codec = new Codec(noRefs);
const MAX_FRAME = codec.limits.maxMessageSize;

interface Init {
  entry: string;
  setup: string | null;
  setupArgs: Uint8Array | null;
  permissions: Deno.PermissionOptionsObject;
  graceMs: number;
}

const writer = new FrameWriter((b) => writeAll(Deno.stdout, b), () => Deno.exit(1));
function send(frame: unknown[]): void {
  writer.frame(codec.encode(frame));
}

let init: Init | null = null;
let channel: WorkerChannel | null = null;
let announced = false;
/** Jobs sent to the current Worker and not yet ended. */
const running = new Set<number>();
/** Jobs terminated and not yet ended: their grace timers. */
const grace = new Map<number, number>();
let toWorker: unknown[] = [];

function startWorker(): void {
  const i = init!;
  channel = new WorkerChannel(WORKER_SCRIPT, {
    message: onWorker,
    error: (e) => replace(`the Worker crashed: ${e.message}`),
    violation: (why) => replace(`the Worker broke its protocol: ${why}`),
  }, {
    name: "denocos-server",
    permissions: i.permissions,
    init: { entry: i.entry, setup: i.setup, setupArgs: i.setupArgs },
    maxLength: W_BATCH * 3,
    check: checkWorker,
  });
}

function checkWorker(d: unknown[]): string | undefined {
  if (d.length % 3 !== 0) return "a batch that is not whole records";
  for (let i = 0; i < d.length; i += 3) {
    const kind = d[i], id = d[i + 1], p = d[i + 2];
    if (!Number.isSafeInteger(id)) return "a record with a bad id";
    if (kind === W_READY) continue;
    if (
      kind !== W_RESULT && kind !== W_FAILED && kind !== W_MESSAGE && kind !== W_SETUP_FAILED &&
      kind !== W_CLOSING
    ) {
      return "a record of an unknown kind";
    }
    if (!(p instanceof Uint8Array) || p.length > MAX_FRAME - VALUE_HEADROOM) {
      return "a record with a bad payload";
    }
  }
  return undefined;
}

function onWorker(d: unknown[]): void {
  for (let i = 0; i < d.length; i += 3) {
    const kind = d[i] as number, id = d[i + 1] as number, p = d[i + 2];
    if (kind === W_RESULT || kind === W_FAILED) {
      if (!running.delete(id)) {
        return channel!.fail(`an answer for job ${id}, which is not running`);
      }
      const t = grace.get(id);
      if (t !== undefined) {
        clearTimeout(t);
        grace.delete(id);
      }
      send([kind === W_RESULT ? RESULT : FAILED, id, p]);
    } else if (kind === W_MESSAGE) send([MESSAGE, id, p]);
    else if (kind === W_READY) {
      if (!announced) {
        announced = true;
        send([READY, Deno.pid]);
      }
    } else if (kind === W_CLOSING) {
      return replace("a job closed its Worker");
    } else if (kind === W_SETUP_FAILED) {
      send([SETUP_FAILED, p]);
      shutdown(1);
    }
  }
}

/** Kills the current Worker, fails its jobs, and starts a fresh one. */
function replace(reason: string): void {
  channel?.close();
  for (const id of running) {
    const err = grace.has(id)
      ? new TaskTerminated(`job ${id}`)
      : new Error(`the job's Worker was replaced: ${reason}`);
    send([FAILED, id, codec.encode(err).slice()]);
  }
  for (const t of grace.values()) clearTimeout(t);
  grace.clear();
  running.clear();
  toWorker = [];
  send([RESTARTED, reason.slice(0, 4096)]);
  startWorker();
}

function onFrame(body: Uint8Array): void {
  const f = codec.decode(body);
  if (!Array.isArray(f) || f.length < 1) throw new TypeError("a frame that is not a message");
  const kind = f[0];
  if (kind === INIT) {
    if (init !== null) throw new TypeError("a second INIT");
    const i = f[1] as Init;
    if (i === null || typeof i !== "object" || typeof i.entry !== "string") {
      throw new TypeError("a bad INIT");
    }
    init = i;
    startWorker();
    return;
  }
  if (init === null) throw new TypeError("a frame before INIT");
  const id = f[1];
  if (!Number.isSafeInteger(id)) throw new TypeError("a frame with a bad job id");
  if (kind === RUN) {
    if (typeof f[2] !== "string" || !(f[3] instanceof Uint8Array)) throw new TypeError("a bad RUN");
    running.add(id as number);
    toWorker.push(W_RUN, id, f[2], f[3]);
  } else if (kind === SEND) {
    if (!(f[2] instanceof Uint8Array)) throw new TypeError("a bad SEND");
    if (running.has(id as number)) toWorker.push(W_SEND, id, f[2], null);
  } else if (kind === TERMINATE) {
    if (!running.has(id as number) || grace.has(id as number)) return;
    toWorker.push(W_TERMINATE, id, null, null);
    grace.set(
      id as number,
      setTimeout(() => {
        grace.delete(id as number);
        if (!running.has(id as number)) return;
        grace.set(id as number, 0);
        replace(`job ${id} did not end within ${init!.graceMs} ms of being terminated`);
      }, init.graceMs) as unknown as number,
    );
  } else throw new TypeError(`a frame of unknown kind ${String(kind).slice(0, 32)}`);
}

function shutdown(code: number): void {
  channel?.close();
  for (const t of grace.values()) clearTimeout(t);
  writer.flushed().then(() => Deno.exit(code));
}

async function main(): Promise<void> {
  const reader = new FrameReader(MAX_FRAME);
  for await (const chunk of Deno.stdin.readable) {
    try {
      reader.push(chunk, onFrame);
    } catch (e) {
      console.error(`denocos server: bad frame from the node: ${(e as Error).message}`);
      return shutdown(2);
    }
    if (toWorker.length > 0 && channel !== null) {
      const batch = toWorker;
      toWorker = [];
      channel.post(batch);
    }
  }
  shutdown(0);
}

main();
