/**
 * Starts a real `denocos node` (`deno run cli/main.ts node --port 0 …`, with
 * the flags of `deno task node`) and reads its "listening" line; `await
 * using` kills and reaps it.
 *
 * @module
 */
import { Child } from "../_child.ts";

const CLI = new URL("../../cli/main.ts", import.meta.url);
const FLAGS = [
  "--unstable-net",
  "--unstable-worker-options",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-sys=loadavg,systemMemoryInfo",
  "--allow-env=DENOCOS_SECRET,HOME,PATH,DENO_DIR,TMPDIR,XDG_CACHE_HOME,NO_COLOR",
];

/** A compute node process. */
export class NodeProcess implements AsyncDisposable {
  readonly #child: Child;
  /** Where it listens on 127.0.0.1. */
  readonly port: number;

  private constructor(child: Child) {
    this.#child = child;
    this.port = Number(child.ready![1]);
  }

  /** Where the node listens. */
  get location(): { hostname: string; port: number } {
    return { hostname: "127.0.0.1", port: this.port };
  }

  /** Starts a node (`cpus` servers, more `denocos node` options) and waits until it listens. */
  static async start(cpus = 1, secret = "s3cret", options: string[] = []): Promise<NodeProcess> {
    const child = await Child.start(
      CLI,
      FLAGS,
      ["node", "--host", "127.0.0.1", "--port", "0", "--cpus", String(cpus), ...options],
      /listening on 127\.0\.0\.1:(\d+) with \d+ servers/,
      { DENOCOS_SECRET: secret },
    );
    return new NodeProcess(child);
  }

  /** Kills the process now (as a machine dying would). */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#child[Symbol.asyncDispose]();
  }
}
