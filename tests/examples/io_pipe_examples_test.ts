/**
 * Runs the pipe and thread pool examples as their own programs, each with
 * exactly the permission flags its header's `Run:` line gives, and checks
 * what they print.
 */
import assert from "node:assert/strict";

import { runExample } from "./_run.ts";

const root = new URL("../../", import.meta.url);

/** The SHA-1 of a file, in hex. */
async function sha1(path: URL): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("examples/pipe_csum.ts: both ways through sha1sum give the file's SHA-1", async () => {
  const expected = await sha1(new URL("examples/pipe_csum.ts", root));
  const lines = await runExample("pipe_csum.ts");
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
  const lines = await runExample("pipe_grep.ts");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.deepEqual(lines[0].trim().split(/\s+/).map(Number), [matching.length, words, bytes]);
  assert.equal(lines[1], "wc printed 1 line(s); exit code 0");
});

Deno.test("examples/thread_pool.ts: results, runModule, a denied job and a cancelled one", async () => {
  const lines = await runExample("thread_pool.ts");
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
