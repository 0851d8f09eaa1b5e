/**
 * Checksum through a pipe: the TypeScript twin of pycos's `pipe_csum.py`.
 *
 * Computes the SHA-1 of a file with the `sha1sum` program, twice: once
 * with `AsyncPipe.communicate`, which feeds the file (an `AsyncFile`) to
 * the program and collects its output, and once with a writer task that
 * feeds the file in chunks and a reader task that reads the program's
 * output. Then it checks the result against WebCrypto.
 *
 * Arguments: `[file]` (default: this example).
 *
 * Run: `npx deno run --allow-run=sha1sum --allow-read=examples examples/pipe_csum.ts`
 *
 * @module
 */
import { AsyncFile, AsyncPipe, Scheduler, spawn, type Task } from "../mod.ts";

const decoder = new TextDecoder();
const input: string | URL = Deno.args[0] ?? new URL(import.meta.url);

/** The simple way: `communicate` feeds the file and collects the output. */
async function communicate(_task: Task, path: string | URL): Promise<string> {
  await using file = await AsyncFile.open(path);
  await using pipe = AsyncPipe.spawn("sha1sum");
  const { code, stdout } = await pipe.communicate(file);
  if (code !== 0) throw new Error(`sha1sum exited with ${code}`);
  return decoder.decode(stdout).split(" ")[0];
}

/** Feeds the file to the pipe in 8 KiB chunks, then closes its stdin. */
async function writeProc(_task: Task, path: string | URL, pipe: AsyncPipe): Promise<void> {
  await using file = await AsyncFile.open(path);
  for (let data; (data = await file.read(8 * 1024)).length > 0;) {
    const n = await pipe.write(data);
    if (n !== data.length) throw new Error(`wrote ${n} of ${data.length} bytes`);
  }
  await pipe.closeStdin();
}

/** Reads the pipe's output until it ends (sha1sum's output is small). */
async function readProc(_task: Task, pipe: AsyncPipe): Promise<string> {
  let out = "";
  for (let data; (data = await pipe.read()).length > 0;) {
    out += decoder.decode(data, { stream: true });
  }
  return out;
}

/** The other way: custom writer and reader tasks on one pipe. */
async function customFeeder(_task: Task, path: string | URL): Promise<string> {
  await using pipe = AsyncPipe.spawn("sha1sum");
  const reader = spawn(readProc, pipe);
  const writer = spawn(writeProc, path, pipe);
  await writer.finish();
  const out = await reader.finish();
  return out.split(" ")[0];
}

const viaCommunicate = await spawn(communicate, input).finish();
console.log(`communicate sha1sum: ${viaCommunicate}`);
const viaTasks = await spawn(customFeeder, input).finish();
console.log(`     feeder sha1sum: ${viaTasks}`);
const digest = await crypto.subtle.digest("SHA-1", await Deno.readFile(input));
const expected = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(
  "",
);
console.log(`  WebCrypto  sha-1 : ${expected}`);
console.log(viaCommunicate === expected && viaTasks === expected ? "checksums agree" : "MISMATCH");
await Scheduler.default().finish();
