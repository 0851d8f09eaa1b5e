/**
 * Runs the pipe and thread pool examples as their own programs, each with
 * exactly the permission flags its header's `Run:` line gives, and checks
 * what they print.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
/** Only fails a hung example; never a timing assertion. */
const LIMIT = 60_000;

/** The flags in the example's `Run: \`npx deno run <flags> examples/<name>…\`` header line. */
async function headerFlags(name: string): Promise<string[]> {
  const source = await Deno.readTextFile(new URL(`examples/${name}`, root));
  const m = source.match(
    new RegExp(`Run: \`npx deno run ([^\`]*?) examples/${name.replace(".", "\\.")}[\` ]`),
  );
  assert.ok(m, `examples/${name} has no "Run: \`npx deno run … examples/${name}\`" header line`);
  return m[1].split(" ").filter((f) => f !== "");
}

/** Runs the example to its end; fails unless it exits 0 with nothing on stderr. */
async function run(name: string, args: string[] = []): Promise<string[]> {
  const flags = await headerFlags(name);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `examples/${name}`, ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(LIMIT),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${name} exited with ${out.code}:\n${stdout}\n${stderr}`);
  assert.equal(stderr, "", `${name} wrote to stderr:\n${stderr}`);
  return stdout.split("\n").filter((l) => l !== "");
}

/** The SHA-1 of a file, in hex. */
async function sha1(path: URL): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("examples/pipe_csum.ts: both ways through sha1sum give the file's SHA-1", async () => {
  const expected = await sha1(new URL("examples/pipe_csum.ts", root));
  const lines = await run("pipe_csum.ts");
  assert.deepEqual(lines, [
    `communicate sha1sum: ${expected}`,
    `     feeder sha1sum: ${expected}`,
    `  WebCrypto  sha-1 : ${expected}`,
    "checksums agree",
  ]);
});

Deno.test("examples/pipe_grep.ts: grep | wc counts the lines that mention an error", async () => {
  const text = await Deno.readTextFile(new URL("examples/pipe_grep.ts", root));
  const matching = text.split("\n").filter((l) => /error/i.test(l));
  const bytes = new TextEncoder().encode(matching.map((l) => l + "\n").join("")).length;
  const words = matching.join(" ").split(/\s+/).filter((w) => w !== "").length;
  const lines = await run("pipe_grep.ts");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.deepEqual(lines[0].trim().split(/\s+/).map(Number), [matching.length, words, bytes]);
  assert.equal(lines[1], "wc printed 1 line(s); exit code 0");
});

Deno.test("examples/thread_pool.ts: results, runModule, a denied job and a cancelled one", async () => {
  const lines = await run("thread_pool.ts");
  assert.deepEqual(lines, [
    "primes below 100000: 9592",
    "primes below 200000: 17984",
    "primes below 300000: 25997",
    "primes below 400000: 33860",
    "fib(25) = 75025 (runModule)",
    "reading a file in a Worker: denied (NotCapable)",
    "a job that never answers: TimeoutError; its Worker was replaced",
    "after that: 42",
  ]);
});
