/**
 * A pipeline of programs: the TypeScript twin of pycos's `pipe_grep.py`.
 *
 * Runs `grep --line-buffered -i error | wc` as one `AsyncPipe` (the
 * processes chained with `pipeTo`): a writer task feeds a file to `grep`
 * line by line, a reader task prints what `wc` says (lines, words and bytes
 * of the lines that mention an error).
 *
 * Arguments: `[file]` (default: this example) and `[pattern]` (default
 * `error`).
 *
 * Run: `npx deno run --allow-run=grep,wc --allow-read=examples examples/pipe_grep.ts`
 *
 * @module
 */
import { AsyncFile, AsyncPipe, Scheduler, spawn, type Task } from "../mod.ts";

const input: string | URL = Deno.args[0] ?? new URL(import.meta.url);
const pattern = Deno.args[1] ?? "error";

/**
 * Writes the file to the pipe one line at a time, then closes its stdin,
 * also when reading fails, so `grep` sees the end and the pipeline ends.
 */
async function writer(_task: Task, pipe: AsyncPipe, path: string | URL): Promise<void> {
  try {
    await using file = await AsyncFile.open(path);
    for await (const line of file.lines()) await pipe.write(line + "\n");
  } finally {
    await pipe.closeStdin();
  }
}

/** Prints every line the pipe's last program writes; returns how many. */
async function lineReader(_task: Task, pipe: AsyncPipe): Promise<number> {
  let lines = 0;
  for await (const line of pipe.lines()) {
    console.log(line);
    lines++;
  }
  return lines;
}

// An error line: this comment, and the ones in the docs above, are what grep finds.
const grep = AsyncPipe.spawn("grep", ["--line-buffered", "-i", pattern], { stderr: "inherit" });
const wc = AsyncPipe.spawn("wc", [], { stderr: "inherit" });
const pipe = grep.pipeTo(wc);
const feeder = spawn(writer, pipe, input);
const reader = spawn(lineReader, pipe);
// Waiting on both makes a failed read (a missing file, no --allow-read) end the program with its error.
const [lines] = await Promise.all([reader.finish(), feeder.finish()]);
console.log(`wc printed ${lines} line(s); exit code ${(await pipe.wait()).code}`);
await pipe.close();
await Scheduler.default().finish();
