/**
 * Starts `fixtures/node_process.ts` as a real compute node process and
 * reads its "listening" line; `await using` kills and reaps it.
 *
 * @module
 */
import { Child } from "../_child.ts";

const FIXTURE = new URL("./fixtures/node_process.ts", import.meta.url);
const FLAGS = [
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
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

  /** Starts a node process (`cpus` servers) and waits until it listens. */
  static async start(cpus = 1, secret = "s3cret"): Promise<NodeProcess> {
    const child = await Child.start(
      FIXTURE,
      FLAGS,
      [String(cpus), secret],
      /listening on 127\.0\.0\.1:(\d+) with \d+ servers/,
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
