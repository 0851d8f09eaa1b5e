/**
 * Starts `fixtures/peer_process.ts` as a real process and reads its
 * "listening" line; `await using` kills and reaps it.
 *
 * @module
 */
const FIXTURE = new URL("./fixtures/peer_process.ts", import.meta.url);

/** A peer process. */
export class PeerProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  port = 0;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #stderr: Promise<string>;
  #drain: Promise<void> = Promise.resolve();

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", FIXTURE.pathname, ...args],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Starts a peer process and waits until it listens. */
  static async start(...args: string[]): Promise<PeerProcess> {
    const p = new PeerProcess(args);
    const reader = p.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        await p[Symbol.asyncDispose]();
        throw new Error(`peer process ended before listening: ${seen}`);
      }
      seen += value;
      const m = seen.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (m !== null) {
        p.port = Number(m[1]);
        break;
      }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    p.#drain = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
    return p;
  }

  /** Sends `signal` to the process. */
  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Kills the process if it still runs and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone already */ }
    await this.child.status;
    await this.#stdin.close().catch(() => {});
    await this.#stderr.catch(() => "");
    await this.#drain;
  }
}
