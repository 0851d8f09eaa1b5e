/**
 * `AsyncFile` in a temporary directory: read, readLine, write, seek, close.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AsyncFile, AsyncPipe, MessageTooLarge, Scheduler } from "../../mod.ts";
import { dec, enc, LIMIT } from "./_net_util.ts";
import { terminateWhileWaiting } from "../core/_util.ts";

/** Runs `fn` in a fresh temporary directory and scheduler; removes and closes everything after. */
async function withTempDir(fn: (dir: string, s: Scheduler) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "denocos_file_test_" });
  const s = new Scheduler();
  try {
    await fn(dir, s);
  } finally {
    await s.terminate();
    await s.finish();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("file: write then read back, in chunks and by line", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "a.txt");
    const w = await AsyncFile.open(path, { write: true, create: true, scheduler });
    assert.equal(await w.write("alpha\nbeta\r\n"), 12);
    assert.equal(await w.write(enc.encode("gamma")), 5);
    await w.close();
    assert.equal(await Deno.readTextFile(path), "alpha\nbeta\r\ngamma");

    await using r = await AsyncFile.open(path, { scheduler });
    assert.equal(await r.readLine(), "alpha");
    assert.equal(await r.readLine(), "beta");
    assert.equal(await r.readLine(), "gamma"); // the last line has no newline
    assert.equal(await r.readLine(), null);
    assert.equal((await r.read()).length, 0);

    await r.seek(0);
    const parts: string[] = [];
    for (let chunk; (chunk = await r.read(4)).length > 0;) {
      assert.ok(chunk.length <= 4);
      parts.push(dec.decode(chunk));
    }
    assert.equal(parts.join(""), "alpha\nbeta\r\ngamma");
  });
});

Deno.test("file: seek and tell account for the read-ahead; writes land where the reader is", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "b.txt");
    await Deno.writeTextFile(path, "0123456789");
    await using f = await AsyncFile.open(path, { read: true, write: true, scheduler });
    assert.equal(dec.decode(await f.read(3)), "012");
    assert.ok(f.buffered > 0); // the rest was read ahead
    assert.equal(await f.tell(), 3);
    assert.equal(await f.seek(2, Deno.SeekMode.Current), 5);
    assert.equal(dec.decode(await f.read(2)), "56");
    await f.write("xy"); // at position 7, not at the end of the read-ahead
    assert.equal(await f.tell(), 9);
    assert.equal(dec.decode(await f.read()), "9");
    assert.equal(await f.seek(-4, Deno.SeekMode.End), 6);
    assert.equal(dec.decode(await f.read()), "6xy9");
    assert.equal(await f.seek(0n), 0);
    assert.equal(dec.decode(await f.read()), "0123456xy9");
    // Appending after reaching the end: reads see the new bytes.
    await f.seek(0, Deno.SeekMode.End);
    await f.write("\nend\n");
    await f.seek(10);
    assert.equal(await f.readLine(), "");
    assert.equal(await f.readLine(), "end");
    assert.equal(await f.readLine(), null);
  });
});

Deno.test("file: lines() and for await iterate to the end", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "c.txt");
    const text = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join("\n") + "\n";
    await Deno.writeTextFile(path, text);
    await using f = await AsyncFile.open(path, { scheduler, bufferSize: 256 });
    const lines: string[] = [];
    for await (const line of f.lines()) lines.push(line);
    assert.equal(lines.length, 1000);
    assert.equal(lines[999], "line 999");
    await f.seek(0);
    let total = 0;
    for await (const chunk of f) total += chunk.length;
    assert.equal(total, enc.encode(text).length);
  });
});

Deno.test("file: a long line rejects with MessageTooLarge and stays buffered", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "d.txt");
    await Deno.writeTextFile(path, "a very long line\nshort\n");
    await using f = await AsyncFile.open(path, { scheduler });
    await assert.rejects(f.readLine({ maxLength: 4 }), MessageTooLarge);
    assert.equal(await f.readLine({ keepEnd: true }), "a very long line\n");
    assert.equal(await f.readLine(), "short");
  });
});

Deno.test("file: a task terminated while it waits gets TaskTerminated; the data is not lost", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "e.txt");
    await Deno.writeTextFile(path, "one\ntwo\n");
    await using f = await AsyncFile.open(path, { scheduler });
    await terminateWhileWaiting(scheduler, () => f.readLine()); // nothing is buffered yet
    assert.equal(await f.readLine(), "one");
    assert.equal(await f.readLine(), "two");
  });
});

Deno.test("file: close ends pending reads; later operations reject with BadResource", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "f.txt");
    await Deno.writeTextFile(path, "data");
    const f = await AsyncFile.open(path, { scheduler });
    const pending = assert.rejects(f.read(), Deno.errors.BadResource);
    await f.close();
    await pending;
    assert.ok(f.closed);
    await assert.rejects(f.read(), Deno.errors.BadResource);
    await assert.rejects(f.write("x"), Deno.errors.BadResource);
    await assert.rejects(f.seek(0), Deno.errors.BadResource);
    await f.close(); // idempotent
    await assert.rejects(AsyncFile.open(join(dir, "missing"), { scheduler }), Deno.errors.NotFound);
    await assert.rejects(AsyncFile.open(path, { scheduler, timeout: -1 }), RangeError);
  });
});

Deno.test("file: the owning scheduler's finish() closes the file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "g.txt");
    await Deno.writeTextFile(path, "x");
    const s = new Scheduler();
    const f = await AsyncFile.open(path, { scheduler: s });
    await s.finish();
    assert.ok(f.closed);
  });
});

Deno.test("file: an AsyncFile feeds AsyncPipe.communicate", async () => {
  await withTempDir(async (dir, scheduler) => {
    const path = join(dir, "h.txt");
    await Deno.writeTextFile(path, "x\n".repeat(50_000));
    await using f = await AsyncFile.open(path, { scheduler });
    await using wc = AsyncPipe.spawn("wc", ["-l"], { scheduler });
    const out = await wc.communicate(f, { timeout: LIMIT });
    assert.equal(dec.decode(out.stdout).trim(), "50000");
  });
});
