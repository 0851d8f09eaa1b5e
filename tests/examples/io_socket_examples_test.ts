/**
 * Runs the socket examples as their own programs, each with exactly the
 * permission flags its header's `Run:` line gives, and checks what they
 * print. Servers get port 0 and tell the test the port they got.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const enc = new TextEncoder();
/** Only fails a hung example; never a timing assertion. */
const LIMIT = 60_000;

/** The flags in the example's `Run: \`npx deno run <flags> examples/<name> …\`` header line. */
async function headerFlags(name: string): Promise<string[]> {
  const source = await Deno.readTextFile(new URL(`examples/${name}`, root));
  const m = source.match(
    new RegExp(`Run: \`npx deno run ([^\`]*?)examples/${name.replace(".", "\\.")}`),
  );
  assert.ok(m, `examples/${name} has no "Run: \`npx deno run … examples/${name}\`" header line`);
  return m[1].split(" ").filter((f) => f !== "");
}

/** A running example: its output lines as they come, and a way to wait for one. */
class Program {
  readonly name: string;
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #stdout: Promise<void>;
  readonly #stderr: Promise<string>;
  #wake: (() => void) | null = null;
  #ended = false;
  readonly #timer: ReturnType<typeof setTimeout>;

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
    try {
      const status = await this.#child.status;
      await this.#stdout;
      const stderr = await this.#stderr;
      assert.equal(
        status.code,
        0,
        `${this.name} exited with ${status.code}:\n${this.lines.join("\n")}\n${stderr}`,
      );
      assert.equal(stderr, "", `${this.name} wrote to stderr:\n${stderr}`);
      return this.lines;
    } finally {
      clearTimeout(this.#timer);
    }
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

async function start(name: string, args: string[], stdin = false): Promise<Program> {
  return new Program(name, await headerFlags(name), args, stdin);
}

Deno.test("examples/sock_server.ts + sock_client.ts: nine '/'-terminated messages arrive whole", async () => {
  const server = await start("sock_server.ts", ["0", "9"]);
  const [, port] = await server.waitFor(/^listening on 127\.0\.0\.1:(\d+)$/);
  const client = await start("sock_client.ts", [port]);
  const sent = new Map<string, number>();
  for (const line of await client.done()) {
    const m = line.match(/^sent (\d+) bytes from client (\d)$/);
    assert.ok(m, line);
    sent.set(m[2], Number(m[1]));
  }
  const received = new Map<string, number>();
  for (const line of (await server.done()).slice(1)) {
    const m = line.match(/^received: (\d): (-+)\/$/);
    assert.ok(m, line);
    received.set(m[1], `${m[1]}: ${m[2]}/`.length);
  }
  assert.deepEqual([...received.keys()].sort(), ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.deepEqual(received, new Map([...received.keys()].map((k) => [k, sent.get(k)])));
});

Deno.test("examples/udp.ts: the server gets one datagram from each of 50 clients", async () => {
  const udp = await start("udp.ts", ["50"]);
  const lines = await udp.done();
  assert.equal(lines.length, 50, lines.join("\n"));
  const ports = new Set<string>();
  for (const line of lines) {
    const m = line.match(/^Received "client socket: (\d+)" from 127\.0\.0\.1:(\d+)$/);
    assert.ok(m, line);
    assert.equal(m[1], m[2]);
    ports.add(m[1]);
  }
  assert.equal(ports.size, 50);
});

Deno.test("examples/chat_server.ts + chat_client.ts: two clients chat, leave, and the server stops", async () => {
  const server = await start("chat_server.ts", ["0", "2"]);
  const [, port] = await server.waitFor(/^chat server on 127\.0\.0\.1:(\d+)$/);
  const a = await start("chat_client.ts", [port], true);
  await a.waitFor(/^connected/);
  const b = await start("chat_client.ts", [port], true);
  const [, bName] = await b.waitFor(/^connected to \S+ as (\S+)$/);
  await a.waitFor(new RegExp(`^\\*\\*\\* ${bName} joined$`)); // both are members now
  await a.type("hello from A");
  await b.waitFor(/^\S+: hello from A$/);
  await b.type("hi from B");
  await a.waitFor(new RegExp(`^${bName}: hi from B$`));
  await a.type("quit");
  await b.waitFor(/ left$/);
  await b.endInput();
  const aLines = await a.done();
  const bLines = await b.done();
  const sLines = await server.done();
  assert.equal(aLines.at(-1), "*** connection closed");
  assert.equal(bLines.at(-1), "*** connection closed");
  assert.equal(sLines.filter((l) => l.startsWith("joined: ")).length, 2);
  assert.equal(sLines.filter((l) => l.startsWith("left: ")).length, 2);
  assert.ok(sLines.some((l) => l.endsWith(": hello from A")));
  assert.ok(sLines.some((l) => l === `${bName}: hi from B`));
});
