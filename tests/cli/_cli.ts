/**
 * Runs `cli/main.ts` as a real process (`deno run <task flags> cli/main.ts …`):
 * `cli()` for a command that ends, `CliProcess.start()` for one that serves
 * (node, scheduler) and prints a "listening" line; `await using` kills and
 * reaps it.
 *
 * @module
 */
const MAIN = new URL("../../cli/main.ts", import.meta.url);

/** The flags `deno task node` runs with. */
export const FLAGS = [
  "--unstable-net",
  "--unstable-worker-options",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-sys=loadavg,systemMemoryInfo",
  "--allow-env=DENOCOS_SECRET,HOME,PATH,DENO_DIR,TMPDIR,XDG_CACHE_HOME,NO_COLOR",
];

function command(args: string[], env: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...FLAGS, MAIN.pathname, ...args],
    env: { NO_COLOR: "1", DENOCOS_SECRET: "", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** What a finished command did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `denocos …args` to its end. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = await command(args, env).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** A serving `denocos` process (node or scheduler). */
export class CliProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** The port of its "listening on H:P" line. */
  port = 0;
  /** Its first line. */
  line = "";
  /** What it printed after its first line, as it comes. */
  rest = "";
  #wake: () => void = () => {};
  readonly #stderr: Promise<string>;
  #drain: Promise<void> = Promise.resolve();

  private constructor(args: string[], env: Record<string, string>) {
    this.child = command(args, env).spawn();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Starts `denocos …args` and waits for its "listening on" line. */
  static async start(args: string[], env: Record<string, string> = {}): Promise<CliProcess> {
    const p = new CliProcess(args, env);
    const reader = p.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    // A process that never prints its line is killed after 60 s: the test
    // fails with what it printed instead of hanging.
    const deadline = setTimeout(() => {
      try {
        p.child.kill("SIGKILL");
      } catch { /* gone already */ }
    }, 60_000);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        clearTimeout(deadline);
        await p[Symbol.asyncDispose]();
        throw new Error(`denocos ${args[0]} ended before listening: ${seen}${await p.#stderr}`);
      }
      seen += value;
      const nl = seen.indexOf("\n");
      if (nl < 0) continue;
      p.line = seen.slice(0, nl);
      const m = p.line.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (m === null) {
        clearTimeout(deadline);
        await p[Symbol.asyncDispose]();
        throw new Error(`unexpected first line: ${p.line}`);
      }
      p.port = Number(m[1]);
      break;
    }
    clearTimeout(deadline);
    p.rest = seen.slice(seen.indexOf("\n") + 1);
    p.#drain = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        p.rest += value;
        p.#wake();
      }
      p.#wake();
    })().catch(() => {});
    return p;
  }

  /** Waits for a later output line matching `re` (fails if the process ends first). */
  async waitFor(re: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      const m = this.rest.match(re);
      if (m !== null) return m;
      const ended = await Promise.race([
        new Promise<false>((r) => this.#wake = () => r(false)),
        this.child.status.then(() => true),
      ]);
      if (ended && this.rest.match(re) === null) {
        throw new Error(`ended without printing ${re}: ${this.rest}`);
      }
    }
  }

  /** `127.0.0.1:port`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Sends SIGTERM and resolves the exit status and stderr. */
  async stop(): Promise<{ status: Deno.CommandStatus; stderr: string }> {
    this.child.kill("SIGTERM");
    const status = await this.child.status;
    await this.#drain;
    return { status, stderr: await this.#stderr };
  }

  /** Kills the process if it still runs and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone already */ }
    await this.child.status;
    await this.#stderr.catch(() => "");
    await this.#drain;
  }
}
