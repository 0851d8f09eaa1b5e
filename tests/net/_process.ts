/**
 * Starts `fixtures/peer_process.ts` as a real process and reads its
 * "listening" line; `await using` kills and reaps it.
 *
 * @module
 */
import { Child } from "../_child.ts";

const FIXTURE = new URL("./fixtures/peer_process.ts", import.meta.url);

/** A peer process. */
export class PeerProcess implements AsyncDisposable {
  readonly #child: Child;
  /** Where it listens on 127.0.0.1. */
  readonly port: number;

  private constructor(child: Child) {
    this.#child = child;
    this.port = Number(child.ready![1]);
  }

  /** Starts a peer process (`[port] [secret] [cluster]`) and waits until it listens. */
  static async start(...args: string[]): Promise<PeerProcess> {
    const child = await Child.start(
      FIXTURE,
      ["--allow-net=127.0.0.1"],
      args,
      /listening on 127\.0\.0\.1:(\d+)/,
    );
    return new PeerProcess(child);
  }

  /** Sends `signal` to the process. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#child[Symbol.asyncDispose]();
  }
}
