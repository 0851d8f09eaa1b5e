/**
 * A Deno program the tests start as a real process: its "listening" line
 * is read, its output is drained so it never blocks on a full pipe, and
 * `await using` kills and reaps it (no process, pipe or timer left behind).
 *
 * @module
 */

/** A running child Deno program. */
export class Child implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** The match of the ready line. */
  ready: RegExpMatchArray | null = null;
  #drain: Promise<void> = Promise.resolve();
  readonly #stderr: Promise<string>;

  private constructor(script: URL, flags: string[], args: string[], env: Record<string, string>) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script.pathname, ...args],
      env: { NO_COLOR: "1", ...env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Starts `script` with `flags` and `args` and waits for a stdout line matching `ready`. */
  static async start(
    script: URL,
    flags: string[],
    args: string[],
    ready: RegExp,
    env: Record<string, string> = {},
  ): Promise<Child> {
    const c = new Child(script, flags, args, env);
    const reader = c.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (c.ready === null) {
      const { value, done } = await reader.read();
      if (done) {
        await c[Symbol.asyncDispose]();
        throw new Error(`${script.pathname} ended before ${ready}: ${seen}\n${await c.#stderr}`);
      }
      seen += value;
      c.ready = seen.match(ready);
    }
    c.#drain = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
    return c;
  }

  /** Sends `signal` (default SIGKILL) if the process still runs. */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.child.kill(signal);
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
