/**
 * Runs an example as its own program, from the repository root, with exactly
 * the permission flags its header's `Run:` line gives, and follows what it
 * prints.
 *
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const enc = new TextEncoder();
/** Only kills a hung example (which then fails its test); never a timing assertion. */
const LIMIT = 60_000;

/** The flags in the example's ``Run: `npx deno run <flags> examples/<name> …` `` header line. */
export async function headerFlags(name: string): Promise<string[]> {
  const source = await Deno.readTextFile(new URL(`examples/${name}`, root));
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = source.match(new RegExp(`Run: \`npx deno run ((?:[^\`]*? )?)examples/${escaped}[\` ]`));
  assert.ok(m, `examples/${name} has no "Run: \`npx deno run … examples/${name}\`" header line`);
  return m[1].split(" ").filter((f) => f !== "");
}

/**
 * A running example: its output lines as they come, and a way to wait for
 * one. `await using` kills it if the test ends before it did, so a failing
 * test leaves no process, pipe or timer behind.
 */
export class Program implements AsyncDisposable {
  readonly name: string;
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #stdout: Promise<void>;
  readonly #stderr: Promise<string>;
  readonly #timer: ReturnType<typeof setTimeout>;
  #wake: (() => void) | null = null;
  #ended = false;

  constructor(name: string, flags: string[], args: string[], stdin: boolean) {
    this.name = name;
    const controller = new AbortController();
    this.#timer = setTimeout(() => controller.abort(), LIMIT);
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, `examples/${name}`, ...args],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).spawn();
    this.#stdin = stdin ? this.#child.stdin.getWriter() : undefined;
    this.#stdout = this.#pump();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** Waits for an output line matching `re` (seen already or to come). */
  async waitFor(re: RegExp): Promise<RegExpMatchArray> {
    for (let seen = 0;;) {
      for (; seen < this.lines.length; seen++) {
        const m = this.lines[seen].match(re);
        if (m !== null) return m;
      }
      if (this.#ended) {
        throw new Error(`${this.name} ended without printing ${re}:\n${this.lines.join("\n")}`);
      }
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  /** Types `line` on the program's input. */
  async type(line: string): Promise<void> {
    await this.#stdin!.write(enc.encode(line + "\n"));
  }

  /** Ends the program's input. */
  async endInput(): Promise<void> {
    await this.#stdin!.close();
  }

  /** Waits for the program to exit; fails unless it exits 0 with nothing on stderr. */
  async done(): Promise<string[]> {
    const status = await this.#child.status;
    clearTimeout(this.#timer);
    await this.#stdout;
    const stderr = await this.#stderr;
    assert.equal(
      status.code,
      0,
      `${this.name} exited with ${status.code}:\n${this.lines.join("\n")}\n${stderr}`,
    );
    assert.equal(stderr, "", `${this.name} wrote to stderr:\n${stderr}`);
    return this.lines;
  }

  /** Kills the program if it still runs and waits until it and its pipes are gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    clearTimeout(this.#timer);
    await this.#child[Symbol.asyncDispose]();
    await this.#stdin?.close().catch(() => {}); // closed already, or the program is gone
    await this.#stdout.catch(() => {});
    await this.#stderr.catch(() => "");
  }

  async #pump(): Promise<void> {
    let pending = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
      this.#wake?.();
    }
    if (pending !== "") this.lines.push(pending);
    this.#ended = true;
    this.#wake?.();
  }
}

/** Starts `examples/<name>` with its header's flags and `args`; `stdin` pipes its input. */
export async function start(name: string, args: string[] = [], stdin = false): Promise<Program> {
  return new Program(name, await headerFlags(name), args, stdin);
}

/**
 * Runs `examples/<name>` with its header's flags to its end and returns its
 * non-empty output lines; fails unless it exits 0 with nothing on stderr.
 */
export async function runExample(name: string, args: string[] = []): Promise<string[]> {
  await using program = await start(name, args);
  return (await program.done()).filter((l) => l !== "");
}
