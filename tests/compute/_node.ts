/**
 * Starts `fixtures/node_process.ts` as a real compute node process and reads
 * its "listening" line; `await using` kills and reaps it.
 *
 * @module
 */
const FIXTURE = new URL("./fixtures/node_process.ts", import.meta.url);

/** A compute node process. */
export class NodeProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  port = 0;
  #drain: Promise<void> = Promise.resolve();
  #stderr: Promise<string>;

  private constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "--allow-env",
        "--allow-sys",
        FIXTURE.pathname,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Where the node listens. */
  get location(): { hostname: string; port: number } {
    return { hostname: "127.0.0.1", port: this.port };
  }

  /** Starts a node process (`cpus` servers) and waits until it listens. */
  static async start(cpus = 1, secret = "s3cret"): Promise<NodeProcess> {
    const p = new NodeProcess([String(cpus), secret]);
    const reader = p.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        await p[Symbol.asyncDispose]();
        throw new Error(`node process ended before listening: ${seen}`);
      }
      seen += value;
      const m = seen.match(/listening on 127\.0\.0\.1:(\d+) with \d+ servers/);
      if (m !== null) {
        p.port = Number(m[1]);
        break;
      }
    }
    p.#drain = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
    return p;
  }

  /** Kills the process now (as a machine dying would). */
  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone already */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill();
    await this.child.status;
    await this.child.stdin.close().catch(() => {});
    await this.#stderr.catch(() => "");
    await this.#drain;
  }
}
